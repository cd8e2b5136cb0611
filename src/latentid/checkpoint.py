"""Checkpoints and saved models on disk: written atomically, read without pickle.

A training checkpoint is one ``torch.save`` file of plain containers and tensors (model and
optimiser state, generator state, history, config, versions), loaded with ``weights_only=True``, followed
by a trailer holding the SHA-256 of those bytes: a truncated or altered checkpoint is refused on load.
A saved model is a folder: ``config.json`` (class, hyper-parameters, data dimensions, versions)
and ``model.pt`` (a state dict only).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentid._atomic import atomic_path, write_text_atomic
from latentid.errors import DataFileError

MODEL_FORMAT = "latentid-model"
CHECKPOINT_FORMAT = "latentid-checkpoint"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.pt"
ARRAYS_NAME = "arrays.npz"  # a linear model's weights, in place of model.pt
STAGED_SUFFIX = ".new"  # new weights beside the old ones while a save writes the config that records them
WEIGHTS_DIGEST_KEY = "weights_sha256"  # in config.json: the SHA-256 of model.pt (arrays.npz for a linear model)
CONFIG_DIGEST_KEY = "config_sha256"  # in config.json: the SHA-256 of the rest of it (``config_digest``)
CHECKSUM_MARK = b"\nlatentid-sha256:"  # a checkpoint ends with this mark and the hex digest of what precedes it
CHECKSUM_TRAILER = len(CHECKSUM_MARK) + 64


def versions() -> dict[str, str]:
    """Versions of latentid, torch, numpy and python, for provenance."""
    try:
        own = metadata.version("latentid")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        own = "unknown"
    return {
        "latentid": own,
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
    }


def jsonable(value: Any) -> Any:
    """A hyper-parameter value as JSON: tuples as lists, paths as str, callables and Generators as None."""
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if callable(value) or isinstance(value, (np.random.Generator, np.random.RandomState)):
        return None
    return value


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """``torch.save`` ``payload`` to ``path`` through a temporary file and a rename, with its SHA-256 after it."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, **payload}, buffer)
    body = buffer.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(body + CHECKSUM_MARK + hashlib.sha256(body).hexdigest().encode())


def _load_tensors(source: Path | io.BytesIO, what: str, name: Path | None = None) -> Any:
    """``torch.load`` without pickle; ``name`` is the file named in errors when ``source`` is its bytes."""
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, truncated or pickled objects: one line, no traceback
        raise DataFileError(
            f"{name or source}: not a readable latentid {what} ({type(exc).__name__}). "
            "Delete it or point to another file."
        ) from exc


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint written by ``save_checkpoint``, its SHA-256 checked first."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: unreadable checkpoint ({exc.strerror or exc}).") from exc
    body, mark, digest = data[:-CHECKSUM_TRAILER], data[-CHECKSUM_TRAILER:-64], data[-64:]
    if mark != CHECKSUM_MARK:  # written before checkpoints carried a checksum: torch's own checks only
        body = data
    elif hashlib.sha256(body).hexdigest().encode() != digest:
        raise DataFileError(
            f"{path}: damaged checkpoint (truncated or altered: its SHA-256 does not match). "
            "Delete it to start that restart afresh, or fit into another --out."
        )
    payload = _load_tensors(io.BytesIO(body), "checkpoint", path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise DataFileError(f"{path}: not a latentid training checkpoint. Delete it or use another checkpoint_dir.")
    return payload


def write_run(directory: str | os.PathLike, config: dict[str, Any], state: dict[str, torch.Tensor]) -> Path:
    """Write a saved-model folder: ``model.pt`` (state dict) first, then ``config.json``."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise DataFileError(f"{directory}: exists and is not a folder. Choose another path to save the model.")
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    weights = buffer.getvalue()
    body = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        **config,
        WEIGHTS_DIGEST_KEY: hashlib.sha256(weights).hexdigest(),
        "versions": versions(),
    }
    # Made before anything is written, so that a model saved here before stays whole if this fails.
    text = json.dumps(sealed(body), indent=2) + "\n"
    commit_weights(directory / WEIGHTS_NAME, weights, directory / CONFIG_NAME, text)
    (directory / ARRAYS_NAME).unlink(missing_ok=True)  # a linear model saved here before: no stale weights
    return directory


def staged(path: Path) -> Path:
    """Where new weights wait until the config that records their digest is written."""
    return path.with_name(path.name + STAGED_SUFFIX)


def commit_weights(path: Path, weights: bytes, config_path: Path, config_text: str) -> None:
    """Replace a saved model's weights ``path`` and its config so that a crash at any point leaves a loadable
    model: the weights are staged beside the old ones, the config (recording their digest) is written, then the
    staged weights take the old ones' place. A crash between the last two is finished by ``check_digest``."""
    with atomic_path(staged(path)) as tmp:
        tmp.write_bytes(weights)
    write_text_atomic(config_path, config_text)
    os.replace(staged(path), path)


def config_digest(body: dict[str, Any]) -> str:
    """SHA-256 of a model config without its own ``CONFIG_DIGEST_KEY``, as canonical JSON (sorted keys, no
    spaces): the same for the dict written and the dict read back, however the file is laid out."""
    rest = {key: value for key, value in body.items() if key != CONFIG_DIGEST_KEY}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sealed(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its ``config_digest``: a hand-edited hyper-parameter (a slope, an activation) would load
    as another model than the weights were fitted as, with no error."""
    return {**body, CONFIG_DIGEST_KEY: config_digest(body)}


def read_run_config(directory: str | os.PathLike) -> dict[str, Any]:
    """``config.json`` of a saved-model folder, checked to be one."""
    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    if not directory.exists():
        raise DataFileError(f"{directory}: no such folder. Pass the folder given to save().")
    if not directory.is_dir() or not config_path.is_file():
        inner = directory / "model" / CONFIG_NAME  # a run folder of `latentid fit` keeps its model in model/
        hint = (
            f"Pass {directory / 'model'}, the model folder of this run."
            if inner.is_file()
            else "Pass the folder given to save()."
        )
        raise DataFileError(f"{directory}: not a saved latentid model (no {CONFIG_NAME}). {hint}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # Recursion: nested deep
        raise DataFileError(
            f"{config_path}: unreadable model config ({type(exc).__name__}). Save the model again."
        ) from exc
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise DataFileError(f"{config_path}: not a latentid model config. Pass the folder given to save().")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise DataFileError(
            f"{config_path}: written by a newer latentid (format {config['format_version']}). Upgrade latentid."
        )
    recorded = config.get(CONFIG_DIGEST_KEY)  # absent in a config written before it was recorded
    if recorded is not None and recorded != config_digest(config):
        raise DataFileError(
            f"{config_path}: edited or damaged (its {CONFIG_DIGEST_KEY} does not match its contents), so it may "
            "not describe the model its weights were fitted as. Save or fit the model again."
        )
    return config


def _recorded_digest(path: Path, key: str) -> str | None:
    """The SHA-256 that the ``config.json`` beside ``path`` recorded for it under ``key`` (None: a file saved
    alone, or by a latentid that recorded none)."""
    config_path = path.parent / CONFIG_NAME
    try:
        digest = json.loads(config_path.read_text(encoding="utf-8")).get(key) if config_path.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None  # a damaged config is reported by whoever reads it for the model
    return checked_digest(digest, config_path)


def checked_digest(digest: Any, config_path: Path) -> str | None:
    """A recorded SHA-256 as read from ``config_path``: None when absent (saved before digests were recorded),
    else it must be 64 hex digits: an edited one must not switch the check off."""
    if digest is None:
        return None
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise DataFileError(
            f"{config_path}: its {WEIGHTS_DIGEST_KEY} is not a SHA-256 ({digest!r}): the file was edited or damaged. "
            "Save or fit the model again."
        )
    return digest


def _digest_of(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise DataFileError(f"{path}: unreadable ({exc.strerror or exc}).") from exc


def check_digest(path: Path, digest: str | None) -> None:
    """Refuse ``path`` when its SHA-256 differs from ``digest`` (nothing to check when None; a missing file is
    left to its reader to report)."""
    if digest is None:
        return
    waiting = staged(path)
    if waiting.is_file() and _digest_of(waiting) == digest and (not path.is_file() or _digest_of(path) != digest):
        os.replace(waiting, path)  # a save stopped after its config was written: its weights take their place
        return
    if not path.is_file():
        return
    actual = _digest_of(path)
    if actual != digest:
        raise DataFileError(
            f"{path}: damaged (truncated or altered: its SHA-256 does not match the one {CONFIG_NAME} recorded at "
            "save). Save or fit the model again."
        )


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from ``model.pt`` (or a folder holding one), loaded without pickle."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if path.name == WEIGHTS_NAME:  # a saved model's weights: checked against its config.json's record
        check_digest(path, _recorded_digest(path, WEIGHTS_DIGEST_KEY))  # (and a stopped save's finished)
    if not path.is_file():
        raise DataFileError(f"{path}: no such weights file. Pass a saved model folder or a .pt state dict.")
    state = _load_tensors(path, "weights file")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataFileError(f"{path}: not a state dict of tensors. Pass a saved model folder or a .pt state dict.")
    return state
