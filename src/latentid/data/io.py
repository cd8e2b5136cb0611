"""The one data reader every command uses, and its validation.

Formats: ``.npz`` (key ``x``; optional ``z``, ``c``, ``u``), ``.npy`` (x only), ``.csv``
(header optional; every column must be numeric) and ``.parquet`` (numeric columns are x).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentid.errors import DataFileError, InvalidDataError

SUPPORTED_SUFFIXES = (".npz", ".npy", ".csv", ".parquet")


@dataclass(frozen=True)
class Dataset:
    """Observed data and, where the file has them, ground-truth latents.

    x : ndarray of shape (n_samples, n_features), float32
    z : ndarray of shape (n_samples, latent_dim), float32, or None
    c : ndarray of shape (n_samples,) or (n_samples, n_facets), int64 component/class labels, or None;
        one column per facet (c_j) for a multi-facet (MFC-VAE) simulation
    u : ndarray of shape (n_samples, aux_dim), float32 auxiliary variable, or None
    extras : the remaining arrays of an .npz file (e.g. a simulator's generator parameters)
    """

    x: np.ndarray
    z: np.ndarray | None = None
    c: np.ndarray | None = None
    u: np.ndarray | None = None
    source: str = "<array>"
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def validate_matrix(values, name: str = "X", *, min_samples: int = 2, dtype=np.float32) -> np.ndarray:
    """Check a user array and return it as C-contiguous ``dtype`` of shape (n_samples, n_features)."""
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidDataError(f"{name} must be numeric; got dtype {arr.dtype}. Convert or drop non-numeric columns.")
    if np.iscomplexobj(arr):
        raise InvalidDataError(f"{name} must be real-valued; got complex dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise InvalidDataError(
            f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}. "
            "Reshape it, e.g. x.reshape(len(x), -1)."
        )
    if arr.shape[0] < min_samples:
        raise InvalidDataError(f"{name} needs at least {min_samples} samples; got {arr.shape[0]}.")
    if arr.shape[1] < 1:
        raise InvalidDataError(f"{name} has no features (shape {arr.shape}).")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        n_bad = int((~np.isfinite(arr)).sum())
        raise InvalidDataError(
            f"{name} contains {n_bad} NaN or infinite value(s), first at row {bad[0]}, column {bad[1]}. "
            "Remove or impute them first."
        )
    return arr


def _validate_labels(values, n: int, name: str, source: str) -> np.ndarray:
    arr = np.asarray(values)
    # One label per sample, or one column of labels per facet (c_1, ..., c_J).
    if arr.ndim not in (1, 2) or len(arr) != n or (arr.ndim == 2 and arr.shape[1] < 1):
        raise InvalidDataError(f"{source}: '{name}' must have shape ({n},) or ({n}, n_facets); got {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InvalidDataError(f"{source}: '{name}' must hold integer labels; got dtype {arr.dtype}.")
    return arr.astype(np.int64)


def _optional_matrix(values, n: int, name: str, source: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    out = validate_matrix(arr, f"{source}: '{name}'")
    if len(out) != n:
        raise InvalidDataError(f"{source}: '{name}' has {len(out)} rows but 'x' has {n}.")
    return out


def _read_npz(path: Path) -> Dataset:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    if "x" not in arrays:
        raise DataFileError(f"{path}: the .npz file has no array named 'x' (found: {', '.join(arrays) or 'none'}).")
    x = validate_matrix(arrays.pop("x"), f"{path}: 'x'")
    n = len(x)
    z = _optional_matrix(arrays.pop("z"), n, "z", str(path)) if "z" in arrays else None
    c = _validate_labels(arrays.pop("c"), n, "c", str(path)) if "c" in arrays else None
    u = _optional_matrix(arrays.pop("u"), n, "u", str(path)) if "u" in arrays else None
    return Dataset(x=x, z=z, c=c, u=u, source=str(path), extras=arrays)


def _read_csv(path: Path) -> np.ndarray:
    import pandas as pd

    frame = pd.read_csv(path, header=None)
    # A header row shows up as a first row that does not parse as numbers.
    first = pd.to_numeric(frame.iloc[0], errors="coerce")
    if first.isna().all():
        frame = pd.read_csv(path)
    non_numeric = [str(col) for col in frame.columns if not pd.api.types.is_numeric_dtype(frame[col])]
    if non_numeric:
        raise InvalidDataError(
            f"{path}: column(s) {', '.join(non_numeric[:5])} are not numeric. Every CSV column must be a number."
        )
    return frame.to_numpy()


def _read_parquet(path: Path) -> np.ndarray:
    import pandas as pd

    frame = pd.read_parquet(path)
    numeric = frame.select_dtypes(include="number")
    if numeric.shape[1] == 0:
        raise InvalidDataError(f"{path}: the parquet file has no numeric columns.")
    return numeric.to_numpy()


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read and validate a data file; raise a one-line error naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such file. Check the path given to --data.")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a data file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataFileError(
            f"{path}: unknown data format '{suffix or '(none)'}'. Use one of {', '.join(SUPPORTED_SUFFIXES)}."
        )
    try:
        if suffix == ".npz":
            return _read_npz(path)
        if suffix == ".npy":
            raw = np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            raw = _read_csv(path)
        else:
            raw = _read_parquet(path)
    except (InvalidDataError, DataFileError):
        raise
    except Exception as exc:  # any parser failure becomes one readable line
        raise DataFileError(f"{path}: could not read the {suffix} file ({type(exc).__name__}: {exc}).") from exc
    return Dataset(x=validate_matrix(raw, f"{path}: 'x'"), source=str(path))
