"""The results store: round trip, what a rerun skips, failed vs finished, filters, bad files, two writers."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import sqlite3

import numpy as np
import pytest

from latentid.errors import DataFileError, InvalidParameterError
from latentid.studies.store import ResultStore, rows_to_table


def config(model: str = "vade", depth: int = 1, seed: int = 0, **data) -> dict:
    return {
        "study": "s",
        "model": model,
        "seed": seed,
        "data": {"dataset": "synthetic", "depth": depth, "noise": 0.01, "facets": None, **data},
        "options": {"epochs": 30, "latent_dim": 2},
        "metrics": ["affine_r2", "mcc_strong"],
    }


def row(key: str, status: str = "finished", **kw) -> dict:
    base = {"key": key, "study": "s", "label": key, "config": config(), "status": status, "seconds": 1.0}
    return {**base, **kw}


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.db") as opened:
        yield opened


def test_round_trip_parses_json_columns_and_stores_nan_as_null(store):
    started = dt.datetime(2026, 1, 2, 3, 4, 5)
    store.record(
        row(
            "a",
            metrics={"affine_r2": np.float32(0.75), "mcc_strong": float("nan"), "n": np.int64(3)},
            level="3",
            versions={"latentid": "0.1.0"},
            artifacts={"latents": "runs/a/latents.npy"},
            started=started,
            finished="2026-01-02T03:05:00",
            host="box",
        )
    )
    (got,) = store.rows()
    assert got["config"] == config()
    assert got["metrics"] == {"affine_r2": 0.75, "mcc_strong": None, "n": 3}
    assert got["versions"] == {"latentid": "0.1.0"} and got["artifacts"] == {"latents": "runs/a/latents.npy"}
    assert (got["level"], got["started"], got["host"], got["seconds"]) == ("3", started.isoformat(), "box", 1.0)
    assert store.count() == 1


def test_a_run_config_fills_key_study_and_label(store, tmp_path):
    from latentid.studies.spec import load_study

    path = tmp_path / "s.toml"
    path.write_text('name = "tiny"\nseeds = 1\n[data]\nsamples = 100\n[[models]]\nname = "pca"\n')
    (run,) = load_study(path).expand()
    store.record({"config": run, "status": "finished"})
    (got,) = store.rows()
    assert (got["key"], got["study"], got["label"]) == (run.key, "tiny", run.label())
    assert got["config"] == json.loads(run.to_json())


def test_a_folder_given_as_the_store_is_named_as_a_folder(tmp_path):
    """It said 'cannot open the results store (unable to open database file)'."""
    with pytest.raises(DataFileError, match=r"is a folder, not a results store; give a file, e.g. results.db"):
        ResultStore(tmp_path)


def test_schema_wal_and_version(tmp_path):
    with ResultStore(tmp_path / "r.db"):
        pass
    db = sqlite3.connect(tmp_path / "r.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    columns = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
    assert columns[:5] == ["key", "study", "label", "config", "status"] and {"host", "warnings"} <= set(columns)
    assert [r[1] for r in db.execute("PRAGMA table_info(run_studies)")] == ["key", "study"]
    db.close()


def test_finished_keys_are_finished_and_skipped_not_failed(store):
    store.record(row("done"))
    store.record(row("skip", "skipped", error="mfcvae needs facets"))
    store.record(row("bad", "failed", error="boom"))
    assert store.finished_keys() == {"done", "skip"}
    assert store.finished_keys(["bad", "skip", "never"]) == {"skip"}
    assert store.finished_keys([f"k{i}" for i in range(1200)] + ["done"]) == {"done"}  # past one IN (...) chunk


def test_failed_then_finished_replaces_but_failed_never_replaces_finished(store):
    assert store.record(row("a", "failed", error="boom"))
    assert store.record(row("a", "finished", metrics={"affine_r2": 0.9}))
    assert store.record(row("c", "failed", error="first")) and store.record(row("c", "failed", error="second"))
    assert store.rows("key=c")[0]["error"] == "second"  # a retry that fails again replaces the old failure
    assert not store.record(row("a", "failed", error="later failure"))
    assert store.record(row("b", "skipped")) and not store.record(row("b", "failed"))
    (a,) = store.rows("key=a")
    assert (a["status"], a["metrics"], a["error"]) == ("finished", {"affine_r2": 0.9}, None)
    assert store.rows("key=b")[0]["status"] == "skipped"
    assert store.count() == 3


def test_a_finished_run_written_again_keeps_the_metrics_either_study_asked_for(store):
    """Two studies sharing runs, writing one store at once: each fitted the run for its own metrics, and the row
    written second replaced the first, losing 'nmi' (asked only by the first) and renaming the run's study."""
    asked_nmi = {**config(), "study": "s8", "metrics": ["affine_r2", "nmi"]}
    assert store.record(row("a", study="s8", config=asked_nmi, metrics={"affine_r2": 0.5, "nmi": 0.7}))
    assert store.record(row("a", study="s7", metrics={"affine_r2": 0.6, "mcc_strong": 0.4}))
    (a,) = store.rows("key=a")
    assert a["metrics"] == {"affine_r2": 0.6, "nmi": 0.7, "mcc_strong": 0.4}  # the newer value where both have one
    assert a["study"] == "s8" and set(a["config"]["metrics"]) == {"affine_r2", "mcc_strong", "nmi"}
    assert store.stored(["a"])["a"]["asked"] and "nmi" in store.stored(["a"])["a"]["asked"]


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"key": "a", "status": "done"}, "'status' must be one of finished, failed, skipped"),
        ({"key": "", "status": "finished"}, "'key' must be a non-empty string"),
        ({"key": "a", "status": "finished", "colour": 1}, "unknown column 'colour'"),
        ({"key": "a", "status": "finished", "metrics": {"x": object()}}, "'metrics' holds a object"),
    ],
)
def test_bad_rows_are_refused(store, bad, match):
    with pytest.raises(InvalidParameterError, match=match):
        store.record(bad)
    assert store.count() == 0


@pytest.fixture
def filled(store):
    store.record(row("v1", config=config("vade", 1)))
    store.record(row("v3", config=config("vade", 3), metrics={"affine_r2": 0.9}))
    store.record(row("p3", config=config("pca", 3, seed=1), metrics={"affine_r2": 0.5}))
    store.record(row("f6", "failed", study="t", config=config("vade", 6, facets=[[2, 3], [2, 4]])))
    return store


@pytest.mark.parametrize(
    "where, keys",
    [
        ("model=vade", ["v1", "v3", "f6"]),
        ("data.depth>=3", ["v3", "p3", "f6"]),
        ("status=failed", ["f6"]),
        ("model=vade, data.depth>=3", ["v3", "f6"]),
        ("model!=vade", ["p3"]),
        ("affine_r2>0.6", ["v3"]),
        ("data.depth<10", ["v1", "v3", "p3", "f6"]),  # numbers compare as numbers, not as text
        ("metrics.affine_r2<=0.5", ["p3"]),
        ("affine_r2=null", ["v1", "f6"]),
        ("data.facets=2:3,2:4", ["f6"]),
        ("data.noise=0.01,seed=1", ["p3"]),
        ("options.epochs=30", ["v1", "v3", "p3", "f6"]),
        ("study='t'", ["f6"]),
        ("key=v", ["v1", "v3"]),  # a prefix, as `results` shows keys (their first 10 characters)
        ("key!=v", ["p3", "f6"]),
        ("key=v3", ["v3"]),
        (None, ["v1", "v3", "p3", "f6"]),
    ],
)
def test_where_filters(filled, where, keys):
    assert [r["key"] for r in filled.rows(where)] == keys


def test_level_none_is_outside_the_theory_and_null_is_not_assessed(store):
    # Before: level=none also matched the skipped and real-data runs, which have no level (NULL).
    store.record(row("floor", config=config("pca"), level="none"))
    store.record(row("skip", "skipped", level=None))
    store.record(row("deep", level="2"))
    assert [r["key"] for r in store.rows("level=none")] == ["floor"]
    assert [r["key"] for r in store.rows("level=null")] == ["skip"]
    assert [r["key"] for r in store.rows("level!=none")] == ["skip", "deep"]
    store.record(row("three", level="3"))
    store.record(row("vae", level="vanilla"))
    # levels are text in the store: level>=2 matched nothing at all
    assert [r["key"] for r in store.rows("level>=2")] == ["deep", "three"]


def test_study_filter(filled):
    assert [r["key"] for r in filled.rows(study="t")] == ["f6"]
    assert [r["key"] for r in filled.rows("model=vade", study="s")] == ["v1", "v3"]


@pytest.mark.parametrize(
    "where, match",
    [
        ("data.depht>=3", "unknown field 'data.depht' .did you mean 'data.depth'"),
        ("model", "cannot read 'model'"),
        ("data.depth=>3", "cannot read 'data.depth=>3'"),
        ("=3", "cannot read '=3'"),
        ("data.depth>=deep", "needs a number"),
        ("depth>=3; DROP TABLE runs", "needs a number"),
    ],
)
def test_bad_filters_are_one_line_errors_naming_them(filled, where, match):
    with pytest.raises(InvalidParameterError, match=match) as info:
        filled.rows(where)
    assert "\n" not in str(info.value) and repr(where) in str(info.value)
    assert filled.count() == 4


def test_rows_to_table_shows_what_varies(filled):
    columns, cells = rows_to_table(filled.rows())
    assert columns == ["key", "study", "model", "status", "data.depth", "data.facets", "seed"] + [
        "affine_r2",
        "mcc_strong",
        "seconds",
    ]
    assert cells[2] == ["p3", "s", "pca", "finished", 3, None, 1, 0.5, None, 1.0]
    assert cells[3][5] == "2:3,2:4"
    assert rows_to_table(filled.rows(), metrics=["affine_r2"])[0][-2:] == ["affine_r2", "seconds"]


def test_options_that_only_differ_between_models_are_no_column(store):
    # Before: vade's tol 0 beside fastica's 1e-4 made a "varying" options.tol column of defaults.
    vade, ica = config("vade"), config("fastica")
    vade["options"] = {"tol": 0.0, "lr": 0.001}
    ica["options"] = {"tol": 1e-4}
    faster = {**vade, "options": {"tol": 0.0, "lr": 0.01}}
    for key, made in (("v", vade), ("f", ica), ("v2", faster)):
        store.record(row(key, config=made))
    columns, _ = rows_to_table(store.rows())
    assert "options.lr" in columns and "options.tol" not in columns


def test_a_file_that_is_not_sqlite_is_a_one_line_error(tmp_path):
    path = tmp_path / "results.db"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(DataFileError, match="results.db: cannot open the results store .not an SQLite file.") as info:
        ResultStore(path)
    assert "\n" not in str(info.value)


def test_another_sqlite_file_or_a_newer_schema_is_refused(tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE people (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(DataFileError, match="other.db: an SQLite file but not a latentid results store"):
        ResultStore(other)
    newer = tmp_path / "newer.db"
    ResultStore(newer).close()
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(DataFileError, match="newer.db: results store of schema version 99"):
        ResultStore(newer)


def test_a_corrupt_json_cell_names_the_file_and_run(tmp_path):
    path = tmp_path / "r.db"
    with ResultStore(path) as store:
        store.record(row("a"))
    db = sqlite3.connect(path)
    db.execute("UPDATE runs SET metrics = '{oops' WHERE key = 'a'")
    db.commit()
    db.close()
    with ResultStore(path) as store, pytest.raises(DataFileError, match="r.db: run a: 'metrics' is not valid JSON"):
        store.rows()


def test_closed_store_refuses_use(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        pass
    with pytest.raises(DataFileError, match="closed"):
        store.count()


# A second process's work, run by exec in a spawned interpreter: n runs, one transaction each.
WRITER = """
from latentid.studies.store import ResultStore
with ResultStore(path) as store:
    ready.wait(60)  # both stores open: the writes overlap
    for i in range(n):
        store.record({"key": f"{prefix}{i}", "status": "finished", "metrics": {"affine_r2": i / n}, "seconds": 0.1})
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.db")
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(2)
    # Daemons, killed in the finally: a worker left waiting must never hold pytest's exit.
    workers = [
        context.Process(
            target=exec, args=(WRITER, {"path": path, "prefix": prefix, "n": 50, "ready": ready}), daemon=True
        )
        for prefix in ("a", "b")
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert [worker.exitcode for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    with ResultStore(path) as store:
        assert store.count() == 100
        assert store.finished_keys() == {f"{p}{i}" for p in "ab" for i in range(50)}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


class _LockedAtFirst:
    """A connection whose first ``PRAGMA journal_mode = WAL`` fails as a racing opener's does: SQLite
    answers "database is locked" at once, without its busy handler, when two connections switch a new
    file to WAL together."""

    def __init__(self, db, failures):
        self._db, self._failures = db, failures

    def execute(self, sql, *args):
        if sql.startswith("PRAGMA journal_mode =") and self._failures:
            self._failures.pop()
            raise sqlite3.OperationalError("database is locked")
        return self._db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)


def test_opening_retries_a_store_another_process_is_switching_to_wal(tmp_path, monkeypatch):
    connect = sqlite3.connect
    failures = [1, 1, 1]
    monkeypatch.setattr(
        "latentid.studies.store.sqlite3.connect", lambda *a, **k: _LockedAtFirst(connect(*a, **k), failures)
    )
    with ResultStore(tmp_path / "r.db") as store:
        store.record(row("a"))
        assert store.count() == 1
    assert failures == []


def test_the_results_table_shows_settings_apart_that_differ_below_a_thousandth(tmp_path):
    # Before: every float cell had 3 decimals: noise 0.0001 and 0.0004 both read 0.000.
    from typer.testing import CliRunner

    from latentid.cli import app

    path = tmp_path / "results.db"
    with ResultStore(path) as opened:
        for key, noise in (("a1", 0.0001), ("a4", 0.0004)):
            opened.record(row(key, config=config(noise=noise), metrics={"affine_r2": 0.123456}))
    result = CliRunner().invoke(app, ["results", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "0.0001" in result.output and "0.0004" in result.output and "0.123" in result.output
    listed = CliRunner().invoke(app, ["results", str(path), "--where", "key=a4", "--format", "json"])
    assert [r["key"] for r in json.loads(listed.stdout)["runs"]] == ["a4"]


def test_a_store_locked_longer_than_the_busy_timeout_waits_then_names_the_lock(tmp_path, monkeypatch):
    # Before: a lock held past SQLite's 30 s busy timeout ended the study with an OperationalError traceback,
    # and the finished run was lost.
    import threading

    from latentid.studies import store as store_module

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(store_module, "LOCK_WAIT_S", 20.0)  # a regression fails in 20 s, not hangs
    path = tmp_path / "results.db"
    with ResultStore(path) as opened:
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        threading.Timer(1.5, lambda: holder.execute("COMMIT")).start()
        with pytest.warns(UserWarning, match="locked; waiting"):
            assert opened.record(row("late"))  # written once the lock is gone
        assert [r["key"] for r in opened.rows()] == ["late"]
        holder.execute("BEGIN EXCLUSIVE")  # and now held for good
        monkeypatch.setattr(store_module, "LOCK_WAIT_S", 0.5)
        with pytest.warns(UserWarning), pytest.raises(DataFileError, match="held the results store locked for over"):
            opened.record(row("never"))
        holder.execute("ROLLBACK")
        holder.close()


def test_a_copy_of_the_db_file_alone_mid_study_holds_the_runs_recorded(store, tmp_path):
    """The store is in WAL mode: a copy of results.db taken while the study ran (its -wal beside it not copied)
    read '0 run(s)'."""
    import shutil

    store.record(row("a"))
    store.record(row("b"))
    copy = tmp_path / "copy" / "results.db"
    copy.parent.mkdir()
    shutil.copyfile(store.path, copy)  # the store stays open, as in a running study
    with ResultStore(copy) as copied:
        assert sorted(r["key"] for r in copied.rows()) == ["a", "b"]


def test_a_boolean_option_matches_however_it_is_spelled(store):
    """options.whiten=True (Python's spelling) and =1 matched nothing, without a word; only 'true' did."""
    pca = {**config("pca"), "options": {"whiten": True, "latent_dim": 2}}
    store.record(row("w", config=pca))
    store.record(row("n", config={**pca, "options": {"whiten": False, "latent_dim": 2}}))
    for text in ("true", "True", "TRUE", "1"):
        assert [r["key"] for r in store.rows(f"options.whiten={text}")] == ["w"], text
    assert [r["key"] for r in store.rows("options.whiten=False")] == ["n"]


def test_csv_columns_stay_when_a_filter_makes_a_setting_constant_and_values_read_back(store):
    """`--where data.noise=0.05` took the data.noise, warnings and error columns away from the CSV, so a script
    reading df["data.noise"] broke by the filter. Values read as filters write them: 8x8, true."""
    import io

    import pandas as pd
    from typer.testing import CliRunner

    from latentid.cli import app

    for key, depth in (("a", 2), ("b", 3)):
        options = {"hidden_dims": [8, 8], "standardize": True}
        store.record(row(key, config={**config("vade", depth), "options": options}, metrics={"affine_r2": 0.5}))
    every = CliRunner().invoke(app, ["results", str(store.path), "--format", "csv"]).stdout
    one = CliRunner().invoke(app, ["results", str(store.path), "--format", "csv", "--where", "data.depth=2"]).stdout
    header = every.splitlines()[0]
    assert one.splitlines()[0] == header and {"data.depth", "threads", "error", "warnings"} <= set(header.split(","))
    frame = pd.read_csv(io.StringIO(one))
    assert frame["options.hidden_dims"].tolist() == ["8x8"] and frame["options.standardize"].tolist() == [True]
    assert "true" in one.splitlines()[1].split(",")


def test_the_table_and_csv_say_why_a_run_failed_or_was_skipped(store, tmp_path):
    """Only --format json and the report held the reason: `results --where status=failed --format csv` listed
    failed rows with empty metrics and no word of why."""
    from typer.testing import CliRunner

    from latentid.cli import app

    store.record(row("ok", metrics={"affine_r2": 0.5}))
    store.record(row("bad", "failed", error="pretrain diverged at epoch 1", config=config("vade", 2)))
    store.record(row("skip", "skipped", error="mfcvae needs facets", config=config("mfcvae", 3)))
    columns, cells = rows_to_table(store.rows())
    assert columns[-1] == "error"
    assert [cell[-1] for cell in cells] == [None, "pretrain diverged at epoch 1", "mfcvae needs facets"]
    path = str(store.path)
    csv_text = CliRunner().invoke(app, ["results", path, "--format", "csv", "--where", "status=failed"]).stdout
    assert "error" in csv_text.splitlines()[0].split(",") and "pretrain diverged at epoch 1" in csv_text
    table = CliRunner().invoke(app, ["results", path]).stdout
    assert "failed: bad (bad): pretrain diverged at epoch 1" in table and "skipped: skip (skip): mfcvae needs" in table
