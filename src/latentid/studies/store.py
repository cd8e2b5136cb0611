"""The results store: one SQLite file holding one row per run of any study, keyed by ``RunConfig.key``.

The file is in WAL mode with a 30 s busy timeout, so several processes (one per worker) can record at
once: a writer waits for the other's transaction instead of failing. ``PRAGMA user_version`` holds the
schema version (4; an older store is migrated when opened). Table ``runs``:

    key TEXT PRIMARY KEY   RunConfig.key (data, model, options and seed; not the study's name or metrics)
    study, label TEXT      the study that ran it and RunConfig.label()
    config TEXT            RunConfig as JSON
    status TEXT            'finished' | 'failed' | 'skipped'
    metrics TEXT           JSON object, metric name -> number or null
    level TEXT             what the theory guarantees for the fitted model, as ``latentid explain --run`` says
                           ("3", "2", "1", "vanilla"), "none" (outside the theory) for the linear floors pca,
                           fastica, gmm and for a Bernoulli likelihood; for a run that failed before its fit
                           ended, the data setting's level (NULL for real data); NULL for a skipped run
    error TEXT             a failed run's one-line error, a skipped run's reason, or a finished run's note on
                           requested metrics it could not measure, and why (cluster_acc on facet data, or of a
                           model without clusters; scores against z on real data; the likelihood gaps)
    seconds REAL           wall time of the run
    started, finished TEXT ISO times
    versions, artifacts    JSON objects (package -> version; name -> path)
    host TEXT              the machine that ran it
    warnings TEXT          JSON list of what the run's fit and scoring warned of
    threads INTEGER        torch's CPU threads during a deep model's fit (NULL for the linear floors, a skipped
                           run, and runs recorded before version 4): a fit's last digits depend on it

Table ``run_studies`` (key, study): every study that asked for a run, the one that ran it and those that
found it already done (``add_study``), so that a run shared by several studies is found by each study's
name (``rows(study=...)``, ``study=`` filters). A parsed row's ``studies`` lists them, sorted.

A rerun skips finished and skipped runs (``finished_keys``) and retries failed ones; a failed row never
replaces a finished or skipped one. ``rows(where=...)`` filters with a small language evaluated in
Python over the parsed rows (never pasted into SQL): clauses ``FIELD OP VALUE`` joined by commas (AND),
OP one of = != > >= < <=. FIELD is a column (status, study, level, key, label, host, seconds, ...),
``model`` or ``seed``, ``data.<option>`` or ``options.<option>`` of the config, or a metric
(``metrics.<name>`` or the bare name). ``null`` matches a missing value.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import difflib
import json
import math
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from latentid._atomic import DISK_FULL
from latentid._warnings import caller_stacklevel
from latentid.errors import DataFileError, InvalidParameterError, LatentIDWarning
from latentid.metric_versions import METRICS_VERSION, REDEFINED_WHY, scored_version, stale_metrics

SCHEMA_VERSION = 4  # 2: the run_studies table; 3: the warnings column; 4: the threads column
# The oldest schema a reader who may not write the store reads as it is (a column added since reads as NULL).
OLDEST_READABLE_AS_IS = 3
BUSY_TIMEOUT_S = 30.0
# How long a write waits in all for a store another process holds locked (a DB browser's transaction, a copy):
# a finished run must not be lost to a lock held a little longer than SQLite's own busy timeout.
LOCK_WAIT_S = 600.0
COLUMNS = (
    "key",
    "study",
    "label",
    "config",
    "status",
    "metrics",
    "level",
    "error",
    "seconds",
    "started",
    "finished",
    "versions",
    "artifacts",
    "host",
    "warnings",
    "threads",
)
JSON_COLUMNS = ("config", "metrics", "versions", "artifacts", "warnings")
# latentid.runs.LINEAR_MODELS (not imported: that loads torch): the linear floors outside the theory, whose
# level is "none" whatever the setting (explaining.LINEAR_NOTES), as `latentid explain --run` says.
OUTSIDE_THEORY_MODELS = ("pca", "fastica", "gmm")
OUTSIDE_THEORY = "none"


def theory_level(config: Any, level: Any) -> Any:
    """The level to record for a run of ``config`` (a RunConfig or its dict) on a setting of ``level``:
    "none" for the linear floors and a Bernoulli likelihood (outside the theory), else ``level``."""
    if hasattr(config, "model_dump"):
        config = config.model_dump()
    if not isinstance(config, Mapping) or level is None:
        return level
    options = config.get("options") or {}
    if config.get("model") in OUTSIDE_THEORY_MODELS or options.get("likelihood") == "bernoulli":
        return OUTSIDE_THEORY
    return level


STATUSES = ("finished", "failed", "skipped")
DONE = ("finished", "skipped")  # what a rerun skips
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    study TEXT,
    label TEXT,
    config TEXT,
    status TEXT NOT NULL CHECK (status IN ('finished', 'failed', 'skipped')),
    metrics TEXT,
    level TEXT,
    error TEXT,
    seconds REAL,
    started TEXT,
    finished TEXT,
    versions TEXT,
    artifacts TEXT,
    host TEXT,
    warnings TEXT,
    threads INTEGER
)
"""
_STUDIES_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_studies (
    key TEXT NOT NULL,
    study TEXT NOT NULL,
    PRIMARY KEY (key, study)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per IN (...) query, below SQLite's limit on bound parameters


class StoreNotWritableError(DataFileError):
    """The store, its folder or its log may not be written by this user: ``ResultStore(path, read_only=True)``
    may still read it."""


def _refused_writing(exc: BaseException) -> bool:
    """Whether opening a store failed for want of permission to write it (or to create its -wal and -shm files
    beside it), rather than for a damaged file or a full disk."""
    if isinstance(exc, PermissionError):
        return True
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"))
    return any(words in str(exc) for words in ("readonly", "read-only", "unable to open"))  # raised without a code


class ResultStore:
    """A results store at ``path``, created with its schema when missing. A context manager.

    ``read_only``: open an existing store for reading alone (``results``, ``report`` on a store the user may not
    write, e.g. a colleague's shared one); its schema must be this latentid's, as it cannot be upgraded.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        try:
            if read_only:
                self._open_read_only()
                return
            if self.path.is_dir():
                raise DataFileError(f"{self.path}: is a folder, not a results store; give a file, e.g. results.db.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._open_retrying()
        except DataFileError:
            self.close()
            raise
        except (sqlite3.DatabaseError, OSError) as exc:
            self.close()
            reason = "not an SQLite file" if "not a database" in str(exc) else " ".join(str(exc).split())
            if "disk is full" in str(exc) or getattr(exc, "errno", None) in DISK_FULL:
                reason = "no space left on the device"
            error = StoreNotWritableError if _refused_writing(exc) else DataFileError
            raise error(f"{self.path}: cannot open the results store ({reason})") from None

    def _open_read_only(self) -> None:
        # mode=ro still needs the write-ahead log's index (<store>-shm), which a reader who may not write the
        # folder cannot create; then the file alone (immutable), where no run waits in the log: each recorded run
        # is checkpointed into the file, unless a reader held it then.
        uri = self.path.resolve().as_uri()
        log = self.path.with_name(self.path.name + "-wal")
        for query in ("?mode=ro", "?immutable=1"):
            if query == "?immutable=1" and log.is_file() and log.stat().st_size > 0:
                raise DataFileError(
                    f"{self.path}: some of its runs are still in {log.name}, which cannot be read without writing "
                    f"{self.path.name}-shm beside it, and this folder is read-only to you. Ask the store's owner to "
                    "run 'latentid results' on it once (that moves them into the file), or copy the store with its "
                    "-wal file into a folder you can write."
                )
            db = None
            try:
                db = sqlite3.connect(uri + query, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                version = db.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                if isinstance(exc, sqlite3.OperationalError):
                    continue
                raise
            self._db = db
            break
        else:
            raise DataFileError(f"{self.path}: cannot open the results store for reading")
        if not OLDEST_READABLE_AS_IS <= version <= SCHEMA_VERSION:
            raise DataFileError(
                f"{self.path}: a results store of schema version {version}, which this latentid reads as "
                f"{SCHEMA_VERSION}; it is read-only to you, so it cannot be upgraded. Copy it somewhere you can "
                "write, and read the copy."
                if version < OLDEST_READABLE_AS_IS
                else f"{self.path}: results store of schema version {version}, newer than this latentid's "
                f"({SCHEMA_VERSION}); upgrade latentid"
            )

    def _open_retrying(self) -> None:
        # Switching a new file to WAL, or reading its WAL index while another process creates it, can
        # fail with "database is locked" at once, without SQLite's busy handler: retry for the timeout.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _open(self) -> None:
        db = self._db
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")  # another process may be creating it: decide under the write lock
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DataFileError(
                    f"{self.path}: results store of schema version {version}, newer than this latentid's "
                    f"({SCHEMA_VERSION}); upgrade latentid"
                )
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if version == 0 and tables - {"runs", "run_studies"}:
                raise DataFileError(f"{self.path}: an SQLite file but not a latentid results store (no 'runs' table)")
            db.execute(_SCHEMA)
            db.execute(_STUDIES_SCHEMA)  # version 1 -> 2: every run belongs to the study that ran it
            db.execute(
                "INSERT OR IGNORE INTO run_studies (key, study) SELECT key, study FROM runs WHERE study IS NOT NULL"
            )
            present = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
            if "warnings" not in present:  # version 2 -> 3
                db.execute("ALTER TABLE runs ADD COLUMN warnings TEXT")
            if "threads" not in present:  # version 3 -> 4
                db.execute("ALTER TABLE runs ADD COLUMN threads INTEGER")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise DataFileError(f"{self.path}: the results store is closed")
        return self._db

    # ------------------------------------------------------------------ writing
    def record(self, row: dict) -> bool:
        """Insert or replace one run in one transaction; False (nothing written) when a failed row would
        replace a finished or skipped one. ``row`` holds COLUMNS; ``config`` may be a RunConfig, which
        also fills key, study and label. JSON columns take Python objects (NaN and inf become null).
        The row's study is added to the run's studies either way."""
        values = _row_values(row)
        db = self.db
        self._begin()
        try:
            if values["study"] is not None:
                db.execute(
                    "INSERT OR IGNORE INTO run_studies (key, study) VALUES (?, ?)", (values["key"], values["study"])
                )
            query = "SELECT status, metrics, config, study, versions FROM runs WHERE key = ?"
            old = db.execute(query, (values["key"],)).fetchone()
            if values["status"] == "failed" and old is not None and old[0] in DONE:
                db.execute("COMMIT")  # the study membership only
                return False
            if values["status"] == "finished" and old is not None and old[0] == "finished":
                values = _merged_with(values, old)
            marks = ", ".join("?" for _ in COLUMNS)
            db.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({marks})", [values[c] for c in COLUMNS]
            )
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise self._unwritable(exc) from None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        # Move the run from the write-ahead log into the .db file itself: a copy of the .db alone (scp to a
        # laptop mid-study, or after a crash) held none of the runs still in <store>-wal. PASSIVE: never waits.
        # The run is recorded either way (in the log), so a checkpoint the disk refuses is left for later.
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return True

    def _unwritable(self, exc: sqlite3.OperationalError) -> DataFileError:
        """A one-line error for a run that could not be recorded (a full disk, a store made read-only)."""
        reason = "no space left on the device" if "full" in str(exc) else " ".join(str(exc).split())
        return DataFileError(
            f"{self.path}: cannot record the run ({reason}). Free some space (or make the store writable) and run "
            "the study again: the runs recorded so far are kept."
        )

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting up to ``LOCK_WAIT_S`` (with a warning once SQLite's busy timeout has passed)
        while another process holds the store locked; then a one-line DataFileError naming the lock."""
        deadline = time.monotonic() + LOCK_WAIT_S
        warned = False
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise self._damaged(exc) from None
                if time.monotonic() > deadline:
                    raise DataFileError(
                        f"{self.path}: another process has held the results store locked for over "
                        f"{LOCK_WAIT_S / 60:.0f} min, so this run could not be recorded. Close what holds it (a "
                        "database browser, a copy in progress) and run the study again: recorded runs are kept."
                    ) from None
                if not warned:
                    warnings.warn(
                        f"{self.path}: another process holds the results store locked; waiting (up to "
                        f"{LOCK_WAIT_S / 60:.0f} min) to record the run.",
                        LatentIDWarning,
                        stacklevel=caller_stacklevel(),
                    )
                    warned = True

    def add_study(self, keys: Iterable[str], study: str) -> None:
        """Record that ``study`` asked for the runs ``keys`` (found already done: another study ran them)."""
        keys = list(keys)
        db = self.db
        self._begin()
        try:
            db.executemany("INSERT OR IGNORE INTO run_studies (key, study) VALUES (?, ?)", [(k, study) for k in keys])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ reading
    def finished_keys(self, keys: Iterable[str] | None = None) -> set[str]:
        """Keys whose run is finished or skipped (what a rerun skips), among ``keys`` (None: all)."""
        query = "SELECT key FROM runs WHERE status IN ('finished', 'skipped')"
        if keys is None:
            return {r[0] for r in self.db.execute(query)}
        keys, found = list(keys), set()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            found.update(r[0] for r in self.db.execute(f"{query} AND key IN ({marks})", chunk))
        return found

    def stored(self, keys: Iterable[str]) -> dict[str, dict]:
        """The runs among ``keys`` that the store holds: key -> {"status", "metrics" (the names recorded),
        "asked" (the metrics its config asked for), "stale" (the recorded metrics scored under an earlier
        definition, :mod:`latentid.metric_versions`)}, to tell which runs a study still needs."""
        keys, found = list(keys), {}
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ", ".join("?" for _ in chunk)
                query = f"SELECT key, status, metrics, config, versions FROM runs WHERE key IN ({marks})"
                for key, status, metrics, config, ran_with in self.db.execute(query, chunk):
                    metrics, config = self._json(key, "metrics", metrics), self._json(key, "config", config)
                    asked = config.get("metrics") if isinstance(config, dict) else None
                    metrics = metrics if isinstance(metrics, dict) else {}
                    found[key] = {
                        "status": status,
                        "metrics": set(metrics),
                        "asked": [m for m in asked if isinstance(m, str)] if isinstance(asked, list) else [],
                        "stale": set(stale_metrics(metrics, scored_version(self._json(key, "versions", ran_with)))),
                    }
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise self._damaged(exc) from None
        return found

    def rows(self, where: str | None = None, study: str | None = None) -> list[dict]:
        """Every run (in recording order) as a dict of COLUMNS, JSON columns parsed; ``study`` keeps one
        study's, ``where`` filters (the module's docstring). InvalidParameterError for a bad filter."""
        clauses = parse_where(where)
        params: tuple = ()
        try:
            present = {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}  # an older store read as it is
            sql = f"SELECT {', '.join(c if c in present else 'NULL' for c in COLUMNS)} FROM runs"
            if study is not None:  # the study that ran it, or another that asked for it
                sql = sql + " WHERE study = ? OR key IN (SELECT key FROM run_studies WHERE study = ?)"
                params = (study, study)
            found = [self._parse(record) for record in self.db.execute(sql + " ORDER BY rowid", params)]
            members: dict[str, list[str]] = {}
            for key, name in self.db.execute("SELECT key, study FROM run_studies ORDER BY key, study"):
                members.setdefault(key, []).append(name)
            if study is not None and not found and self.count():
                studies = sorted(
                    {r[0] for r in self.db.execute("SELECT study FROM runs UNION SELECT study FROM run_studies")}
                    - {None}
                )
                raise InvalidParameterError(_no_such_value("study", study, studies, "studies in the store"))
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # a truncated or altered file
            raise self._damaged(exc) from None
        for row in found:
            row["studies"] = sorted({*members.get(row["key"], []), row["study"]} - {None})
        _check_fields(clauses, found, where)
        _check_values(clauses, found, "" if study is None else f" of study {study!r}")
        return [row for row in found if all(clause(row) for clause in clauses)]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def _damaged(self, exc: Exception) -> DataFileError:
        return DataFileError(
            f"{self.path}: damaged results store ({' '.join(str(exc).split())}). "
            "Restore it from a copy, or rerun the study into a new --store."
        )

    def _json(self, key: str, column: str, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise DataFileError(f"{self.path}: run {key}: '{column}' is not valid JSON") from None

    def _parse(self, record: tuple) -> dict:
        row = dict(zip(COLUMNS, record, strict=True))
        for column in JSON_COLUMNS:
            row[column] = self._json(row["key"], column, row[column])
        self._check_shapes(row)
        # run_one records "none" for the linear floors; a store written before it did gets it on reading
        row["level"] = theory_level(row["config"], row["level"])
        return row

    def _check_shapes(self, row: dict) -> None:
        """DataFileError naming the first JSON column of ``row`` whose value is valid JSON of another shape than
        the store writes (an edit by hand): every reader would otherwise end in a Python traceback."""
        config, metrics, warned = row["config"], row["metrics"], row["warnings"]
        problems = [
            (column, "an object")
            for column in ("config", "metrics", "versions", "artifacts")
            if row[column] is not None and not isinstance(row[column], dict)
        ]
        if isinstance(config, dict):
            problems += [
                (f"config.{part}", "an object")
                for part in ("data", "options")
                if not isinstance(config.get(part, {}), dict)
            ]
            if not isinstance(config.get("model", ""), str):
                problems.append(("config.model", "text"))
        if isinstance(metrics, dict) and not all(
            value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            for value in metrics.values()
        ):
            problems.append(("metrics", "an object of numbers"))
        if warned is not None and not (isinstance(warned, list) and all(isinstance(w, str) for w in warned)):
            problems.append(("warnings", "a list of text"))
        if problems:
            column, shape = problems[0]
            raise DataFileError(
                f"{self.path}: run {row['key']}: '{column}' is not {shape}: the store was edited or damaged. "
                "Restore it from a copy, or rerun the study into a new --store."
            )


def stale_scores(rows: Iterable[Mapping]) -> dict[str, list[str]]:
    """The parsed ``rows`` that hold scores computed under an earlier definition (:mod:`latentid.metric_versions`):
    run key -> the names of those metrics. Runs holding none are left out."""
    stale = {}
    for row in rows:
        metrics = row.get("metrics")
        names = stale_metrics(metrics, scored_version(row.get("versions"))) if isinstance(metrics, dict) else []
        if names:
            stale[str(row.get("key"))] = names
    return stale


def stale_note(rows: Iterable[Mapping]) -> str:
    """One sentence on the ``rows`` holding scores of an earlier definition (how many runs, which metrics, what
    changed, how to score them anew); '' when none does."""
    stale = stale_scores(rows)
    if not stale:
        return ""
    counts: dict[str, int] = {}
    for names in stale.values():
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    each = ", ".join(f"{name} ({n} run{'s' if n > 1 else ''})" for name, n in counts.items())
    return (
        f"{len(stale)} run{'s' if len(stale) > 1 else ''} hold{'s' if len(stale) == 1 else ''} scores computed under "
        f"an earlier definition, not comparable with the others: {each}. Since metrics version {METRICS_VERSION}, "
        f"{REDEFINED_WHY}. Run a study that asks for these metrics again to fit and score those runs anew."
    )


# ---------------------------------------------------------------------- rows in
def _plain(value: Any, where: str) -> Any:
    """JSON-ready: numpy scalars to Python, tuples to lists, paths to str, NaN / inf to None."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    raise InvalidParameterError(f"record: '{where}' holds a {type(value).__name__}, which JSON cannot store")


def _merged_with(values: dict, old: tuple) -> dict:
    """A finished run written over a finished one (another study fitted it too, or fitted it again for metrics it
    lacked): the metrics either asked for are kept, the new values winning, and the run stays under the study that
    ran it first. Two studies writing one store at once each ran the run for their own metrics, and the second
    row written replaced the first, losing the metrics only the other had asked for. An old value scored under
    an earlier definition is not kept: the new row's versions say the current one."""
    _, old_metrics, old_config, old_study, old_versions = old
    try:
        earlier, config = json.loads(old_metrics or "{}"), json.loads(values["config"] or "{}")
        asked_before = json.loads(old_config or "{}").get("metrics") or []
        stale = stale_metrics(earlier, scored_version(json.loads(old_versions or "{}")))
        earlier = {name: value for name, value in earlier.items() if name not in stale}
    except (ValueError, AttributeError, TypeError):
        return values  # an unreadable old row is replaced, as before
    metrics = {**earlier, **json.loads(values["metrics"] or "{}")}
    if isinstance(config, dict) and isinstance(config.get("metrics"), list) and isinstance(asked_before, list):
        config["metrics"] = list(dict.fromkeys([*config["metrics"], *asked_before]))
    return {
        **values,
        "metrics": json.dumps(metrics, sort_keys=True, allow_nan=False),
        "config": json.dumps(config, sort_keys=True, allow_nan=False),
        "study": old_study or values["study"],
    }


def _row_values(row: dict) -> dict:
    """A row as the table's column values; InvalidParameterError for unknown columns or a bad status."""
    row = dict(row)
    config = row.get("config")
    if hasattr(config, "to_json") and hasattr(config, "key"):  # a RunConfig
        row.setdefault("key", config.key)
        row.setdefault("study", config.study)
        row.setdefault("label", config.label())
        row["config"] = json.loads(config.to_json())
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise InvalidParameterError(f"record: unknown column '{unknown[0]}'; the columns are {', '.join(COLUMNS)}")
    if not isinstance(row.get("key"), str) or not row["key"]:
        raise InvalidParameterError(f"record: 'key' must be a non-empty string, got {row.get('key')!r}")
    if row.get("status") not in STATUSES:
        raise InvalidParameterError(f"record: 'status' must be one of {', '.join(STATUSES)}, got {row.get('status')!r}")
    values = {column: row.get(column) for column in COLUMNS}
    for column in JSON_COLUMNS:
        if values[column] is not None:
            values[column] = json.dumps(_plain(values[column], column), sort_keys=True, allow_nan=False)
    for column in ("started", "finished"):
        if isinstance(values[column], _dt.datetime):
            values[column] = values[column].isoformat()
    if values["seconds"] is not None:
        values["seconds"] = _plain(float(values["seconds"]), "seconds")
    return values


# ---------------------------------------------------------------------- where
_CLAUSE = re.compile(r"\s*([A-Za-z_][\w.\-]*)\s*(!=|>=|<=|==|=|>|<)\s*(.*?)\s*")
_SPLIT = re.compile(r",(?=\s*[A-Za-z_][\w.\-]*\s*(?:!=|>=|<=|==|=|>|<))")  # commas that start a new clause
ROW_FIELDS = ("key", "study", "label", "status", "level", "error", "seconds", "started", "finished", "host", "threads")
_MISSING = object()


def _field(row: dict, name: str) -> Any:
    """A filter field's value in a parsed row; _MISSING when the row has none."""
    config = row.get("config") or {}
    metrics = row.get("metrics") or {}
    if name in ROW_FIELDS:
        return row.get(name)
    if name in ("model", "seed"):
        return config.get(name, _MISSING)
    section, _, rest = name.partition(".")
    if section in ("data", "options") and rest:
        return (config.get(section) or {}).get(rest, _MISSING)
    if section == "metrics" and rest:
        return metrics.get(rest, _MISSING)
    return metrics.get(name, _MISSING)


def _studies(row: dict) -> list:
    """Every study that asked for the run (``rows`` fills ``studies``; a bare row has its ``study``)."""
    return row.get("studies") or [row.get("study")]


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def value_text(value: Any) -> str:
    """A value as a filter or a table shows it: facets '2:3,2:4', int lists '64x64', floats by %g."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        if value and all(isinstance(v, list) and len(v) == 2 for v in value):
            return ",".join(f"{m}:{k}" for m, k in value)
        return "x".join(map(str, value))
    return "null" if value is None else str(value)


def _equal(value: Any, text: str) -> bool:
    if value is _MISSING or value is None:
        return text.lower() in ("null", "none")
    if isinstance(value, bool):  # as TOML and JSON write it, as Python does, or as a number
        return text.lower() in (("true", "1") if value else ("false", "0"))
    if isinstance(value, (int, float)):
        number = _number(text)
        return number is not None and float(value) == number
    return value_text(value) == text


_ORDER: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class _Clause:
    """One ``FIELD OP VALUE`` test; calling it on a parsed row says whether the row passes."""

    def __init__(self, field: str, op: str, text: str, source: str):
        self.field, self.op, self.text = field, op, text.strip("'\"")
        if op in _ORDER and _number(self.text) is None:
            raise InvalidParameterError(f"bad filter {source!r}: '{field}{op}' needs a number, got {text!r}")

    def __call__(self, row: dict) -> bool:
        if self.field == "study" and self.op in ("=", "==", "!="):  # any study that asked for the run
            found = any(_equal(value, self.text) for value in _studies(row))
            return found if self.op != "!=" else not found
        value = _field(row, self.field)
        if self.field == "level" and value is None and self.op in ("=", "==", "!="):
            # "none" is a level (outside the theory); a run not assessed (skipped, real data) matches only null
            found = self.text.lower() == "null"
            return found if self.op != "!=" else not found
        if self.field == "key" and self.op in ("=", "==", "!=") and self.text:  # `results` shows 10 characters
            found = isinstance(value, str) and value.startswith(self.text)
            return found if self.op != "!=" else not found
        if self.op in ("=", "=="):
            return _equal(value, self.text)
        if self.op == "!=":
            return not _equal(value, self.text)
        if self.field == "level" and isinstance(value, str) and value.isdigit():  # levels are text: "2", "vanilla"
            value = int(value)
        if value is _MISSING or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return _ORDER[self.op](float(value), _number(self.text))


def parse_where(where: str | None) -> list[_Clause]:
    """'model=vade, data.depth>=3' -> clauses; InvalidParameterError (one line, naming it) if unreadable."""
    if where is None or not where.strip():
        return []
    clauses = []
    for part in _SPLIT.split(where):
        match = _CLAUSE.fullmatch(part)
        if match is None or not match[3] or match[3][0] in "=<>!":  # e.g. 'depth' or 'depth=>3'
            raise InvalidParameterError(
                f"bad filter {where!r}: cannot read {part.strip()!r}; write FIELD=VALUE or FIELD>=NUMBER "
                "(also != > < <=), clauses joined by commas, e.g. 'model=vade,data.depth>=3'"
            )
        clauses.append(_Clause(match[1], match[2], match[3], where))
    return clauses


def _known_fields(rows: list[dict]) -> list[str]:
    names = [*ROW_FIELDS, "model", "seed"]
    for row in rows:
        config = row.get("config") or {}
        for section in ("data", "options"):
            names.extend(f"{section}.{k}" for k in config.get(section) or {})
        for name in row.get("metrics") or {}:
            names.extend((name, f"metrics.{name}"))
        for name in config.get("metrics") or []:
            names.extend((name, f"metrics.{name}"))
    return list(dict.fromkeys(names))


def _check_fields(clauses: list[_Clause], rows: list[dict], where: str | None) -> None:
    """An unknown field is an error when the store has rows to know the fields by."""
    if not clauses or not rows:
        return
    known = _known_fields(rows)
    for clause in clauses:
        if clause.field not in known:
            close = difflib.get_close_matches(clause.field, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InvalidParameterError(f"bad filter {where!r}: unknown field '{clause.field}'{hint}")


CATEGORICAL_FIELDS = ("model", "study")  # a value of these that no run has is a typo, not an empty result


def _no_such_value(field: str, value: str, present: list, where: str) -> str:
    names = [str(v) for v in dict.fromkeys(present) if v is not None and v is not _MISSING]
    close = difflib.get_close_matches(value, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no run has {field} = {value!r} ({where}: {', '.join(names) or 'none'}){hint}"


def _check_values(clauses: list[_Clause], rows: list[dict], scope: str) -> None:
    """``model=foo`` or ``study=foo`` that no run has: InvalidParameterError naming the values there are.
    A numeric filter that matches nothing stays an empty result."""
    if not rows:
        return
    for clause in clauses:
        if clause.field in CATEGORICAL_FIELDS and clause.op in ("=", "=="):
            if clause.field == "study":
                present = [name for row in rows for name in _studies(row)]
            else:
                present = [_field(row, clause.field) for row in rows]
            if not any(_equal(value, clause.text) for value in present):
                where = f"{'models' if clause.field == 'model' else 'studies'} in the store{scope}"
                raise InvalidParameterError(_no_such_value(clause.field, clause.text, present, where))


# ---------------------------------------------------------------------- table out
def rows_to_table(
    rows: list[dict], metrics: list[str] | None = None, *, every_field: bool = False
) -> tuple[list[str], list[list]]:
    """(columns, cells) for a table or CSV: key, study, model, status, the config fields that vary among the
    rows (data.*, options.*, seed), each metric (``metrics``, or every one the rows name), seconds, ``threads``
    when the deep models' fits ran with different thread counts, ``error`` (why
    a run failed or was skipped) when any row has one, and ``warnings`` (a run's warnings joined by " | ") when any
    row has one.

    A config field varies when the rows that have it hold more than one value; an option, when the rows of one
    model do (models' own defaults differ: vade's tol 0 beside fastica's 1e-4 is no setting of the study); lists
    show as text.

    ``every_field`` (CSV, for scripts): every config field the rows have and the threads, error and warnings
    columns always, so that a filter that makes a setting constant does not take its column away; booleans as
    true/false, as filters and lists write them (8x8, 2:3,1:2).
    """
    configs = [row.get("config") or {} for row in rows]
    fields: dict[str, dict] = {}  # field -> model (None for data and seed) -> the values seen
    for config in configs:
        for section in ("data", "options"):
            owner = config.get("model") if section == "options" else None
            for name, value in (config.get(section) or {}).items():
                seen = fields.setdefault(f"{section}.{name}", {}).setdefault(owner, set())
                seen.add(json.dumps(value, sort_keys=True))
        fields.setdefault("seed", {}).setdefault(None, set()).add(json.dumps(config.get("seed")))
    varying = [name for name, by in fields.items() if every_field or any(len(values) > 1 for values in by.values())]
    varying = [n for n in varying if n != "seed"] + (["seed"] if "seed" in varying else [])
    if metrics is None:
        names = [name for config in configs for name in config.get("metrics") or []]
        names += [name for row in rows for name in row.get("metrics") or {}]
        metrics = list(dict.fromkeys(names))
    erred = every_field or any(row.get("error") for row in rows)
    warned = every_field or any(row.get("warnings") for row in rows)
    # shown where the deep fits ran with different thread counts, which their last digits depend on
    threaded = every_field or len({row.get("threads") for row in rows if row.get("threads") is not None}) > 1
    columns = [
        *("key", "study", "model", "status", *varying, *metrics, "seconds"),
        *(["threads"] if threaded else []),
        *(["error"] if erred else []),
        *(["warnings"] if warned else []),
    ]
    cells = []
    for row, config in zip(rows, configs, strict=True):
        settings = []
        for name in varying:
            value = _field(row, name)
            if value is _MISSING:
                value = None
            elif isinstance(value, list) or (every_field and isinstance(value, bool)):
                value = value_text(value)
            settings.append(value)
        scores = [(row.get("metrics") or {}).get(name) for name in metrics]
        cells.append(
            [row["key"], row.get("study"), config.get("model"), row["status"], *settings, *scores, row["seconds"]]
            + ([row.get("threads")] if threaded else [])
            + ([row.get("error")] if erred else [])
            + ([" | ".join(row.get("warnings") or [])] if warned else [])
        )
    return columns, cells
