"""`fit --resume` without repeating flags: the options a fit was started with, stored in run.json and read back.

A command's options are kept as plain JSON values (enums by value, paths absolute), only those the user
typed; ``--resume`` merges them with the flags typed now. A flag typed again with another value is
refused by name, except the ones a resumed run may change (``ADJUSTABLE_ON_RESUME``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from latentid._shell import shell_quoted
from latentid.data.provenance import file_sha256
from latentid.data.real import is_real_dataset_name
from latentid.errors import DataFileError, InvalidParameterError
from latentid.runs import (
    CHECKPOINT_PATTERNS,
    FAILED,
    RUNNING,
    failed_message,
    fit_in_progress,
    is_study_seed,
    read_run_info,
    running_message,
    study_seed_message,
)

# Flags a resumed run may change: how long it goes on and where it runs. Its result still depends on them (the
# schedule spans the epochs; the thread count and device set the order floats are added in), so fit notes it.
ADJUSTABLE_ON_RESUME = ("epochs", "threads", "device")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def plain(name: str, value: Any) -> Any:
    """An option value as stored in run.json: enums by value, existing paths absolute."""
    if isinstance(value, Enum):
        return value.value
    if name == "data" and is_real_dataset_name(value):  # the published set, even beside a folder named mnist
        return value
    a_data_file = name == "data" and isinstance(value, str) and value.strip() and Path(value).exists()
    if isinstance(value, Path) or a_data_file:
        return os.path.abspath(value)  # not resolve(): a link (DVC, git-annex) keeps the name whose suffix is read
    return value


def typed_options(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The options of ``names`` that were given (not None), as plain values."""
    return {name: plain(name, values[name]) for name in names if values.get(name) is not None}


def options_for_resume(
    out: Path,
    given: dict[str, Any],
    same_fit: Callable[[dict, dict], bool] | None = None,
    begun_with: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The options to resume the fit in ``out`` with: run.json's, updated by ``given``.

    Returns None when ``out`` holds a finished run (resuming it changes nothing), and ``given`` unchanged
    when ``out`` has no run.json with options but has checkpoints (a folder from an older latentid or the
    Python API). A folder with neither, or no folder, has nothing to resume, and a fit that failed (diverged)
    would only fail again: DataFileError. ``begun_with``: options the fit began with by default whose default has
    changed since (``fit._defaults_changed_since``), taken as run.json's own.
    """
    if fit_in_progress(out):
        raise DataFileError(running_message(out))
    info = read_run_info(out) if out.is_dir() else None
    if info is None:
        checkpoints = out.is_dir() and any(any(out.glob(pattern)) for pattern in CHECKPOINT_PATTERNS)
        if not checkpoints:
            why = "no run.json or checkpoint in it" if out.is_dir() else "no such folder"
            raise DataFileError(f"{out}: nothing to resume ({why}). Drop --resume to start afresh.")
        if is_study_seed(out):
            raise DataFileError(study_seed_message(out))
        return given
    if info["status"] == FAILED:
        raise DataFileError(failed_message(out, info))
    given = dict(given)
    stored = info.get("options")
    if isinstance(stored, dict) and begun_with:  # defaults changed since the fit began: its values, as if typed
        stored = {**begun_with, **stored}
    if isinstance(stored, dict):
        state = "interrupted fit" if info["status"] == RUNNING else "finished run"
        for name, value in dict(given).items():
            if name in ADJUSTABLE_ON_RESUME or stored.get(name) == value or _same_facets(name, stored.get(name), value):
                continue
            if name == "data" and _same_file(info.get("data"), value):  # the data file moved: the same bytes
                continue
            if name not in stored and same_fit is not None and same_fit(stored, {**stored, name: value}):
                # typed now with the value the run took by default (--seed 0, --decoder-depth 5): the run goes
                # on with its own options, which say the same
                del given[name]
                continue
            was = f"{flag(name)} {stored[name]}" if name in stored else f"no {flag(name)} (its default differs)"
            moved = ", give that file's new path" if name == "data" else ""
            raise InvalidParameterError(
                f"{flag(name)} {value} conflicts with the {state} in {out}, started with {was}"
                + (" (other bytes)" if name == "data" else "")
                + f". Drop {flag(name)} to resume with the run's own options{moved}, or fit into another --out."
            )
    if info["status"] != RUNNING:
        return None
    recorded = (info.get("data") or {}).get("path")
    if "data" not in given and isinstance(recorded, str) and not Path(recorded).exists():
        raise DataFileError(
            f"{recorded}: the run's data file (recorded in {out / 'run.json'}) is gone. If it moved, give its new "
            f"path: latentid fit --out {shell_quoted(out)} --resume --data NEW_PATH (the same bytes are checked)."
        )
    return {**stored, **given} if isinstance(stored, dict) else given


def _same_facets(name: str, stored: Any, given: Any) -> bool:
    """Whether two --facets texts name the same facets, however spaced (' 2:3 , 2:4' is '2:3,2:4')."""
    if name != "facets" or not isinstance(stored, str) or not isinstance(given, str):
        return False
    from latentid.cli.simulate import parse_facets

    try:
        return parse_facets(stored) == parse_facets(given)
    except InvalidParameterError:
        return False


def _same_file(recorded: Any, path: Any) -> bool:
    """Whether ``path`` is a file with the bytes run.json's data record (``data_provenance``) hashed."""
    if not isinstance(recorded, dict) or recorded.get("sha256_of") != "file" or not Path(str(path)).is_file():
        return False
    return file_sha256(path) == recorded.get("sha256")


def require(options: dict[str, Any], name: str, out: Path, resume: bool) -> Any:
    """A required option, with a message that says where it could come from."""
    if options.get(name) is None:
        if resume:
            raise DataFileError(
                f"{out}: its run.json records no {flag(name)} to resume with. Repeat the original flags with --resume."
            )
        raise InvalidParameterError(f"Missing option {flag(name)}.")
    return options[name]
