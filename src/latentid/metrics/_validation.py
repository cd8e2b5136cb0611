"""Input checks shared by the metrics: one-line errors that say what was expected, what came and the fix."""

from __future__ import annotations

import numpy as np

from latentid._random import numpy_rng
from latentid.data.io import validate_matrix
from latentid.errors import InvalidDataError, InvalidParameterError

MIN_SAMPLES = 4


def check_latents(values, name: str, *, min_samples: int = MIN_SAMPLES, allow_constant: bool = False) -> np.ndarray:
    """Return ``values`` as float64 of shape (n_samples, dim), or raise ``InvalidDataError``.

    Rejects non-numeric or complex input, anything not 2-D, fewer than ``min_samples`` rows,
    NaN/inf, and (unless ``allow_constant``) constant columns, since a correlation or R^2 against
    a constant is undefined.
    """
    arr = validate_matrix(values, name, min_samples=min_samples, dtype=np.float64)
    if not allow_constant:
        check_not_constant(arr, name)
    return arr


def check_not_constant(arr: np.ndarray, name: str, where: str = "") -> None:
    """Raise ``InvalidDataError`` naming the first column of ``arr`` (n_samples, dim) that is constant."""
    constant = np.flatnonzero(arr.max(axis=0) == arr.min(axis=0))
    if constant.size:
        cols = ", ".join(str(c) for c in constant[:5]) + (", ..." if constant.size > 5 else "")
        raise InvalidDataError(
            f"{name} has constant column(s) {cols}{where}; correlations and R^2 are undefined for a constant. "
            "Drop those columns (or use more samples)."
        )


def check_same_rows(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ``InvalidDataError`` unless ``a`` and ``b`` have the same number of rows (samples)."""
    if a.shape[0] != b.shape[0]:
        raise InvalidDataError(
            f"{name_a} has {a.shape[0]} rows but {name_b} has {b.shape[0]}; they must hold the same samples "
            "in the same order."
        )


def check_split(split) -> float:
    """Return ``split`` (the fraction of samples used to fit alignments) as a float in (0, 1)."""
    if isinstance(split, bool) or not isinstance(split, (int, float, np.integer, np.floating)):
        raise InvalidParameterError(f"split must be a number strictly between 0 and 1; got {split!r}. Try 0.5.")
    split = float(split)
    if not 0.0 < split < 1.0:
        raise InvalidParameterError(
            f"split must be strictly between 0 and 1 (the fraction of samples that fits the alignments); "
            f"got {split}. Try 0.5."
        )
    return split


def check_labels(values, name: str, *, min_samples: int = MIN_SAMPLES) -> np.ndarray:
    """Return labels as a 1-D array of shape (n_samples,); integer-valued floats become int64."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidDataError(f"{name} must be 1-D of shape (n_samples,); got shape {arr.shape}. Flatten it first.")
    if arr.shape[0] < min_samples:
        raise InvalidDataError(
            f"{name} needs at least {min_samples} sample{'' if min_samples == 1 else 's'}; got {arr.shape[0]}."
        )
    if arr.dtype == object:  # pandas keeps strings (and a categorical's values) as Python objects
        if arr.size and all(isinstance(v, str) for v in arr):
            arr = arr.astype(str)
        elif arr.size and all(isinstance(v, (int, float, np.integer, np.floating)) for v in arr):
            arr = arr.astype(np.float64)  # numbers held as objects (pandas' astype(object)): whole ones are labels
        else:
            kinds = sorted({type(v).__name__ for v in arr})
            raise InvalidDataError(
                f"{name} must hold integer or string labels; got objects of type(s) {', '.join(kinds[:4])}. "
                "Convert them first, e.g. to str."
            )
    if np.issubdtype(arr.dtype, np.complexfloating) and np.any(arr.imag != 0):
        raise InvalidDataError(f"{name} must hold integer labels; got complex values with an imaginary part.")
    if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InvalidDataError(
                f"{name} must hold integer labels; got non-integer or non-finite values of dtype {arr.dtype}."
            )
        arr = arr.real.astype(np.int64)
    return arr


def split_indices(n_samples: int, split: float, seed: int, min_part: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n_samples)`` into (fit, held_out) index arrays.

    The fit part holds round(split * n_samples) samples; both parts must hold at least ``min_part``.
    The same (n_samples, split, seed) always gives the same split.
    """
    split = check_split(split)
    n_fit = int(round(split * n_samples))
    if n_fit < min_part or n_samples - n_fit < min_part:
        raise InvalidParameterError(
            f"split={split} leaves {n_fit} fit and {n_samples - n_fit} held-out samples of {n_samples}; "
            f"both parts need at least {min_part}. Use a split nearer 0.5 or more samples."
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        # an int, not a Generator, so that the split can be recorded next to the scores and redone
        raise InvalidParameterError(f"seed must be a non-negative int; got {seed!r}. Try 0.")
    perm = numpy_rng(int(seed)).permutation(n_samples)
    return np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
