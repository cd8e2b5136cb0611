"""The one data reader every command uses, and its validation.

Formats: ``.npz`` (key ``x``; optional ``z``, ``c``, ``u``), ``.npy`` (x only), ``.csv`` and ``.tsv``
(comma- and tab-separated text, header optional, also gzip-compressed: ``.csv.gz``, ``.tsv.gz``) and
``.parquet``.

Columns of a CSV/TSV with a header row, or of a Parquet file, are sorted by name (see ``read_dataset``):

* ground truth, matched by ``GROUND_TRUTH_COLUMN``: ``z``, ``z0``, ``z_0`` or ``z[0]`` (and the same
  for ``c`` and ``u``, lower case). The ``z`` columns, in index order, become ``Dataset.z`` (the true
  latents), the ``c`` columns ``Dataset.c`` (integer labels, one column per facet; a single ``c`` or
  ``c0`` column gives shape (n_samples,)), the ``u`` columns
  ``Dataset.u`` (the auxiliary variable);
* the row index: an unnamed first column (what ``DataFrame.to_csv(path)`` writes; pandas reads it
  back as ``Unnamed: 0``) and pandas' ``__index_level_<k>__`` Parquet columns are dropped;
* every other column is x and must be numeric (Parquet: non-numeric columns are dropped).

What was recognised is said in ``Dataset.notes``. ``x_columns`` (the ``--x-columns`` flag) chooses
x explicitly instead. A CSV without a header row is x, every column. Whether the first row is a header
is guessed (``_detect_header``) unless ``header`` (the ``--header`` flag) says.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse

from latentid._memory import check_memory
from latentid.errors import DataFileError, InvalidDataError, InvalidDataTypeError, InvalidParameterError

SUPPORTED_SUFFIXES = (".npz", ".npy", ".csv", ".tsv", ".parquet", ".csv.gz", ".tsv.gz")
# The formats with named columns, where --x-columns and --header apply.
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".csv.gz", ".tsv.gz")
_SEPARATOR = {".csv": ",", ".tsv": "\t", ".csv.gz": ",", ".tsv.gz": "\t"}
TEXT_SUFFIXES = tuple(_SEPARATOR)  # the text tables, where --header applies
_SEPARATOR_WORDS = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "'|'", " ": "spaces"}
# How to turn a file of an unread format into one latentid reads.
_CONVERT = {
    ".txt": "For a text table of numbers, rename it .csv if its columns are separated by commas, .tsv if by tabs.",
    ".dat": "For a text table of numbers, rename it .csv if its columns are separated by commas, .tsv if by tabs.",
    ".xlsx": "Save the sheet as CSV, e.g. pandas.read_excel(path).to_csv('data.csv', index=False).",
    ".xls": "Save the sheet as CSV, e.g. pandas.read_excel(path).to_csv('data.csv', index=False).",
}

# A ground-truth column: role z (true latents), c (labels) or u (auxiliary variable), alone or with
# an index written 0, _0 or [0]. Lower case only, so a feature named 'Z' or 'C' stays a feature.
GROUND_TRUTH_COLUMN = re.compile(r"(?P<role>[zcu])(?:_?(?P<index>\d+)|\[(?P<bracket>\d+)\])?")
# Row-index columns: pandas' '__index_level_0__' anywhere; '' or 'Unnamed: 0' as the first column only.
_PANDAS_INDEX_COLUMN = re.compile(r"__index_level_\d+__")
_UNNAMED_FIRST_COLUMN = ("", "Unnamed: 0")
_ROLE_WORDS = {"z": "the true latents z", "c": "labels", "u": "the auxiliary variable u"}


@dataclass(frozen=True)
class Dataset:
    """Observed data and, where the file has them, ground-truth latents.

    x : ndarray of shape (n_samples, n_features), float32
    z : ndarray of shape (n_samples, latent_dim), float32, or None
    c : ndarray of shape (n_samples,) or (n_samples, n_facets), int64 component/class labels, or None;
        one column per facet (c_j) for a multi-facet (MFC-VAE) simulation
    u : ndarray of shape (n_samples, aux_dim), float32 auxiliary variable, or None
    source : where x came from, for messages: the file's path, or "<array>"
    extras : the remaining arrays of an .npz file (e.g. a simulator's generator parameters)
    x_names : the names of x's columns, in order, for a table read with a header (CSV, Parquet); else None
    notes : one line per file saying what the reader decided for the user (columns read as z/c/u
        rather than x, a row index dropped, columns ignored); the command line prints it as ``note:``
    file_state : for a data set read from a file, the file's (inode, size, mtime in ns) when the read began
        (``file_state``), so that a hash of the file taken later can be checked to be of the bytes read
    """

    x: np.ndarray
    z: np.ndarray | None = None
    c: np.ndarray | None = None
    u: np.ndarray | None = None
    source: str = "<array>"
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    x_names: tuple[str, ...] | None = None
    file_state: tuple[int, int, int] | None = field(default=None, compare=False, repr=False)


def file_state(path: str | os.PathLike) -> tuple[int, int, int]:
    """(inode, size, mtime in ns) of the file at ``path``: a file replaced (a new inode) or rewritten in place
    (a new size or time) since differs."""
    stat = os.stat(path)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


IDENTICAL_ROWS_TOL = 1e-12  # rows whose spread is below this fraction of their root mean square are the same


def dense_array(values, name: str) -> np.ndarray:
    """``values`` as a numpy array; a sparse matrix refused (InvalidDataError naming ``name``), a torch tensor taken
    out of its graph and off its device (numpy's conversion refused those with torch's RuntimeError)."""
    if scipy.sparse.issparse(values):
        raise InvalidDataError(f"{name} is a sparse matrix; latentid needs dense arrays. Pass it as .toarray().")
    if hasattr(values, "detach") and hasattr(values, "requires_grad"):
        values = values.detach().cpu()
    return np.asarray(values)


def validate_matrix(
    values, name: str = "X", *, min_samples: int = 2, dtype=np.float32, fitted_spread: float | None = None
) -> np.ndarray:
    """Check a user array and return it as C-contiguous ``dtype`` of shape (n_samples, n_features).

    ``fitted_spread``: for data given to a fitted model, the spread of the data it was fitted on, which a value's
    rounding in the cast is judged against (else the spread of ``values`` themselves: rows given to a fitted model
    may lie as close together as they like, as long as the model can tell them apart)."""
    arr = dense_array(values, name)
    if arr.dtype == object:  # e.g. a pandas frame of mixed columns: numbers in it are read as numbers
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            missing = _missing(arr)
            if missing.any():
                r, c = np.argwhere(missing)[0]
                raise InvalidDataError(
                    f"{name} contains {int(missing.sum())} missing value(s) (None, pd.NA), first at row {r}, column "
                    f"{c} (counted from 0). Remove or impute them first."
                ) from None
            error = InvalidDataTypeError if isinstance(exc, TypeError) else InvalidDataError
            raise error(f"{name} must be numeric; {exc}. Convert or drop non-numeric columns.") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidDataError(f"{name} must be numeric; got dtype {arr.dtype}. Convert or drop non-numeric columns.")
    if np.iscomplexobj(arr):
        raise InvalidDataError(f"{name} is {arr.dtype}: Complex data not supported. Pass real values (e.g. x.real).")
    if arr.ndim != 2:
        raise InvalidDataError(
            f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}. Reshape your data: "
            "x.reshape(-1, 1) for one feature, x.reshape(1, -1) for one sample."
        )
    if arr.shape[0] < min_samples:
        got = f"{arr.shape[0]} sample" + ("" if arr.shape[0] == 1 else "s")
        raise InvalidDataError(
            f"{name} needs at least {min_samples} sample{'' if min_samples == 1 else 's'}; got {got}."
        )
    if arr.shape[1] < 1:
        raise InvalidDataError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        empty = np.flatnonzero(np.isnan(arr).all(axis=0))  # NaN, as a text file's empty field is read; not inf
        hint = (
            f" Column {empty[0]} has no value in any row: a delimiter at the end of each line? Drop that column."
            if empty.size and arr.shape[0] > 1
            else " Remove or impute them first."
        )
        raise InvalidDataError(
            f"{name} contains {int((~finite).sum())} NaN or infinite value(s), first at row {bad[0]}, column {bad[1]} "
            f"(counted from 0).{hint}"
        )
    with np.errstate(over="ignore"):  # named below, in one line, rather than warned of
        cast = np.ascontiguousarray(arr, dtype=dtype)
    if cast.dtype != arr.dtype and not np.isfinite(cast).all():  # only a narrowing cast can overflow
        bad = np.argwhere(~np.isfinite(cast))[0]
        raise InvalidDataError(
            f"{name} holds values beyond the range of {np.dtype(dtype).name} (e.g. {arr[tuple(bad)]:.3g} at row "
            f"{bad[0]}, column {bad[1]}; the limit is {np.finfo(dtype).max:.3g}). Rescale the data first."
        )
    if cast.dtype != arr.dtype and arr.dtype.itemsize >= 4:  # a cast that can round: did it erase variation?
        _refuse_rounded_away(arr, cast, name, fitted_spread=fitted_spread)
    return cast


def _missing(arr: np.ndarray) -> np.ndarray:
    """Which entries of an object array are missing-value markers: None, pandas' NA or NaT (bool, same shape)."""
    return np.frompyfunc(lambda v: v is None or type(v).__name__ in ("NAType", "NaTType"), 1, 1)(arr).astype(bool)


ROUNDING_TOLERANCE = 1e-3  # of the widest column's range: rounding to float32 may move a value by no more


def _refuse_rounded_away(
    arr: np.ndarray, cast: np.ndarray, name: str, rows: int = 4096, fitted_spread: float | None = None
) -> None:
    """InvalidDataError when the cast ``cast`` of ``arr`` (n, d) moved some column's values by more than
    ``ROUNDING_TOLERANCE`` of the widest column's range (or of ``fitted_spread``, the fitted model's): small
    variation on a large offset (values 1e8 + noise) collapses in float32, and the models would fit the rounding.
    Checked in blocks of ``rows`` rows."""
    error = np.zeros(arr.shape[1])
    for start in range(0, arr.shape[0], rows):
        block = slice(start, start + rows)
        error = np.maximum(error, np.abs(cast[block].astype(np.float64) - arr[block]).max(axis=0))
    spread = arr.max(axis=0).astype(np.float64) - arr.min(axis=0)
    # Against the widest column: the deep models scale x by one number, and a near-constant column whose
    # last digits round away beside wide ones loses nothing they can use. One row, or all equal: no spread.
    reference = spread.max() if fitted_spread is None else fitted_spread
    if not reference > 0:
        return
    lost = np.flatnonzero(error > ROUNDING_TOLERANCE * reference)
    if lost.size:
        j = int(lost[0])
        fix = (
            "Subtract each column's mean (in float64) first."
            if fitted_spread is None
            else "Give the model data on the scale it was fitted on."
        )
        raise InvalidDataError(
            f"{name}: column {j} (counted from 0) spans only {spread[j]:.3g} around {arr[0, j]:.3g}, finer than "
            f"{np.dtype(cast.dtype).name} keeps at that size (values move by up to {error[j]:.3g}); "
            f"{lost.size} column(s) are affected. {fix}"
        )


def refuse_identical_rows(X: np.ndarray, name: str) -> None:
    """A one-line InvalidDataError if every row of X (n_samples, n_features) is the same: nothing to fit."""
    spread = float(np.var(X, axis=0, dtype=np.float64).sum())  # two-pass: 0 for identical rows, whatever their offset
    if spread <= (IDENTICAL_ROWS_TOL**2) * float(np.mean(np.square(X, dtype=np.float64))) * X.shape[1]:
        raise InvalidDataError(f"{name}: every row of X is the same; there is nothing to fit. Pass varied samples.")


def _text_labels_as_codes(arr: np.ndarray, name: str, source: str) -> np.ndarray:
    """Labels written as text (class names 'cat', 'dog'; numbers read as text) as numbers: numbers where every cell
    is one, else each column's names coded 0, 1, ... in sorted order. An empty cell is refused by its row."""
    import pandas as pd

    cells = arr.astype(object)
    missing = pd.isna(cells) | (np.vectorize(lambda v: isinstance(v, str) and not v.strip(), otypes=[bool])(cells))
    if missing.any():
        row = int(np.argwhere(missing)[0][0])
        raise InvalidDataError(
            f"{source}: '{name}' must hold a label on every row, but its value at row {row} (counted from 0) is "
            "empty. Fill in or remove that row."
        )
    numbers = pd.to_numeric(pd.Series(cells.reshape(-1)), errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy().reshape(cells.shape)
    text = cells.astype(str)
    columns = text[:, None] if text.ndim == 1 else text
    codes = np.stack([np.unique(column, return_inverse=True)[1].reshape(-1) for column in columns.T], axis=1)
    return codes[:, 0] if text.ndim == 1 else codes


def _validate_labels(values, n: int, name: str, source: str) -> np.ndarray:
    arr = np.asarray(values)
    # One label per sample, or one column of labels per facet (c_1, ..., c_J).
    if arr.ndim not in (1, 2) or len(arr) != n or (arr.ndim == 2 and arr.shape[1] < 1):
        raise InvalidDataError(f"{source}: '{name}' must have shape ({n},) or ({n}, n_facets); got {arr.shape}.")
    if arr.dtype.kind in "USO":
        arr = _text_labels_as_codes(arr, name, source)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.number):
            raise InvalidDataError(f"{source}: '{name}' must hold integer labels; got dtype {arr.dtype}.")
        bad = ~np.isfinite(arr) | (np.nan_to_num(arr) != np.round(np.nan_to_num(arr)))
        bad_rows = bad if bad.ndim == 1 else bad.any(axis=1)
        if bad_rows.any():
            row, count = int(np.argmax(bad_rows)), int(bad_rows.sum())
            value = arr[row] if arr.ndim == 1 else arr[row][bad[row]][0]
            what = "is empty or not a number" if np.isnan(value) else f"is {float(value):g}"
            if count == 1:
                raise InvalidDataError(
                    f"{source}: '{name}' must hold integer labels, but its value at row {row} (counted from 0) "
                    f"{what}. Fill in or remove that row."
                )
            fractions = bool(np.isfinite(arr[bad]).any())
            raise InvalidDataError(
                f"{source}: '{name}' must hold integer labels, but {count:,} of its {n:,} rows do not (the first, "
                f"row {row} counted from 0, {what}). "
                + (
                    "Code the labels as whole numbers (0, 1, 2, ...) before saving."
                    if fractions
                    else "Fill in or remove those rows."
                )
            )
    return arr.astype(np.int64)


def _optional_matrix(values, n: int, name: str, source: str, min_samples: int = 2) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    out = validate_matrix(arr, f"{source}: '{name}'", min_samples=min_samples)
    if len(out) != n:
        raise InvalidDataError(f"{source}: '{name}' has {len(out)} rows but 'x' has {n}.")
    return out


class _FeatureByItsValues(InvalidDataError):
    """A column named as labels whose values are mostly fractions, where x was guessed from the names: a feature
    by its values, refused even where labels go unread, since leaving it out would drop a feature from x without
    a word."""


def _role_or_note(role: str, read: Callable[[], np.ndarray], unneeded: Collection[str], notes: list[str], source: str):
    """``read()`` (the validated z, c or u); for a role in ``unneeded`` a refusal becomes a note and None: a
    fit of x alone has no use for ground truth with a gap, and refusing the file for it sent users to mend
    data the fit never reads."""
    try:
        return read()
    except _FeatureByItsValues:
        raise
    except (InvalidDataError, DataFileError) as exc:
        if role not in unneeded:
            raise
        reason = str(exc).removeprefix(f"{source}: ")
        notes.append(f"{source}: '{role}' left unread, as this command does not use it (evaluate does): {reason}")
        return None


TOO_LARGE_TO_READ = "The file may be damaged or crafted; read it on a machine with more memory if it is what you meant."
# Peak memory of reading an .npz member, in copies of its array: measured 3.0 GB for 1 GiB compressed
# (savez_compressed), 1.2 copies for one stored as it is (savez, what simulate writes)
NPZ_READ_COPIES = {"compressed": 3.0, "stored": 1.5}


def _declared_bytes(archive, key: str) -> tuple[int, tuple, np.dtype] | None:
    """(bytes, shape, dtype) that an .npz member's .npy header declares, read without inflating its data; None
    when the header cannot be read (the load then names the problem)."""
    try:
        with archive.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(member)
    except Exception:  # noqa: BLE001 - any header problem is the load's to report
        return None
    return int(np.prod(shape, dtype=object)) * dtype.itemsize, shape, dtype


def _npz_array(archive, key: str, path: Path, held: int = 0) -> np.ndarray:
    """One array of an open .npz, its declared size checked first against the memory available beside the
    ``held`` bytes already read (a 1 MB file that inflates to 1 GiB took 3 GB before any check); one saved as
    Python objects (pandas' ``.values`` of text) is named, with the fix."""
    declared = _declared_bytes(archive, key)
    if declared is not None:
        size, shape, dtype = declared
        stored = archive.zip.getinfo(f"{key}.npy").compress_type == zipfile.ZIP_STORED
        check_memory(
            held + NPZ_READ_COPIES["stored" if stored else "compressed"] * size,
            f"{path}: array '{key}' (shape {shape}, {dtype})",
            TOO_LARGE_TO_READ,
        )
    try:
        return archive[key]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise DataFileError(
            f"{path}: array '{key}' holds Python objects, which latentid does not load (unpickling can run code). "
            "Save it as text or numbers: np.asarray(values, dtype=str) for labels, values.astype(float) for numbers."
        ) from None


def _read_npz(path: Path, min_samples: int = 2, unneeded: Collection[str] = ()) -> Dataset:
    notes: list[str] = []
    arrays: dict[str, np.ndarray] = {}
    with np.load(path, allow_pickle=False) as archive:
        for key in archive.files:
            held = sum(array.nbytes for array in arrays.values() if array is not None)  # every array is kept
            read = functools.partial(_npz_array, archive, key, path, held)
            if key == "x" or key in _ROLE_WORDS:  # x always; z, c or u left unread, where unneeded, below
                arrays[key] = _role_or_note(key, read, unneeded, notes, str(path))
                continue
            try:
                arrays[key] = read()
            except DataFileError:  # an array of the user's own that latentid never reads
                notes.append(f"{path}: array '{key}' holds Python objects; left unread (latentid does not use it).")
    arrays = {key: value for key, value in arrays.items() if value is not None}
    if "x" not in arrays:
        raise DataFileError(f"{path}: the .npz file has no array named 'x' (found: {', '.join(arrays) or 'none'}).")
    x = validate_matrix(arrays.pop("x"), f"{path}: 'x'", min_samples=min_samples)
    n, truth = len(x), {}
    readers = {
        "z": functools.partial(_optional_matrix, n=n, name="z", source=str(path), min_samples=min_samples),
        "c": functools.partial(_validate_labels, n=n, name="c", source=str(path)),
        "u": functools.partial(_optional_matrix, n=n, name="u", source=str(path), min_samples=min_samples),
    }
    for role, read in readers.items():
        if role in arrays:
            truth[role] = _role_or_note(role, functools.partial(read, arrays.pop(role)), unneeded, notes, str(path))
    return Dataset(x=x, **truth, source=str(path), extras=arrays, notes=tuple(notes))


def _name_list(names: list[str], limit: int = 6) -> str:
    """``a, b, c`` or, past ``limit`` names, ``a, b, c, d, e, ... (784 in all)``."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[: limit - 1])}, ... ({len(names)} in all)"


def _file_columns(names: list[str], has_header: bool) -> str:
    if not has_header:
        return f"it has {len(names)} columns, positions 0-{len(names) - 1}"
    return f"its columns: {_name_list(names)}; positions 0-{len(names) - 1}"


def _parse_x_columns(spec: str, names: list[str], has_header: bool, path: Path) -> list[int]:
    """The positions ``--x-columns`` names, in its order: comma-separated column names, or 0-based
    positions and inclusive ranges (``0-9``) counted over the file's columns. A name wins over a
    position."""
    entries = [entry.strip() for entry in str(spec).split(",")]
    if not any(entries):
        raise InvalidParameterError("--x-columns is empty; give column names or positions, e.g. --x-columns 0-9.")
    positions: list[int] = []
    for entry in entries:
        if has_header and entry in names:
            positions.append(names.index(entry))
            continue
        span = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", entry)
        if span:
            first, last = int(span[1]), int(span[2] or span[1])
            if first > last:
                raise InvalidParameterError(
                    f"--x-columns: the range '{entry}' runs backwards; write it {last}-{first}."
                )
            if last >= len(names):
                raise InvalidParameterError(
                    f"--x-columns: position {last} is past the last column of {path} (positions 0-{len(names) - 1})."
                )
            positions.extend(range(first, last + 1))
            continue
        raise InvalidParameterError(f"--x-columns: no column '{entry}' in {path} ({_file_columns(names, has_header)}).")
    repeated = sorted({names[p] for p, count in Counter(positions).items() if count > 1})
    if repeated:
        raise InvalidParameterError(f"--x-columns names column(s) {', '.join(repeated)} more than once.")
    return positions


def _ground_truth(
    frame,
    groups: dict[str, list[tuple[int | None, int]]],
    n: int,
    path: Path,
    min_samples: int,
    unneeded: Collection[str],
    notes: list[str],
    x_guessed: bool,
) -> dict:
    """``z``, ``c`` and ``u`` from their columns (role -> [(index or None, position)]); a role in ``unneeded``
    that cannot be read is left out with a line in ``notes`` (``_role_or_note``)."""
    out = {}
    for role, members in groups.items():
        names = [str(frame.columns[pos]) for _, pos in members]
        if len(members) > 1 and any(index is None for index, _ in members):
            raise InvalidDataError(
                f"{path}: columns {', '.join(names)} all read as '{role}'; name them {role}0, {role}1, ... "
                "or choose x with --x-columns."
            )
        indices = [index for index, _ in members]
        if len(set(indices)) < len(indices):
            raise InvalidDataError(f"{path}: columns {', '.join(names)} give '{role}' the same index twice.")
        positions = [pos for _, pos in sorted(members, key=lambda member: member[0] or 0)]
        values = frame.iloc[:, positions].to_numpy()
        out[role] = _role_or_note(
            role,
            functools.partial(_truth_columns, role, values, names, n, path, min_samples, x_guessed),
            unneeded,
            notes,
            str(path),
        )
    return {role: values for role, values in out.items() if values is not None}


def _truth_columns(
    role: str, values: np.ndarray, names: list[str], n: int, path: Path, min_samples: int, x_guessed: bool
) -> np.ndarray:
    """The validated z, c or u of a table's columns ``names`` (values (n, len(names))); ``x_guessed``: x was
    read from the names, not chosen with --x-columns."""
    fractions = (  # most labels fractions: a feature by its values (one typo, 1.5 among whole numbers, is not)
        x_guessed
        and role == "c"
        and np.issubdtype(values.dtype, np.number)
        and float(np.mean(np.isfinite(values) & (values != np.round(np.nan_to_num(values))))) > 0.5
    )
    try:
        if role == "c":
            return _validate_labels(values[:, 0] if len(names) == 1 else values, n, role, str(path))
        return _optional_matrix(values, n, role, str(path), min_samples)
    except InvalidDataError as exc:
        advice = "; choose x yourself with --x-columns if they are features" if x_guessed else ""
        raise (_FeatureByItsValues if fractions else InvalidDataError)(
            f"{exc} Column(s) {', '.join(names)} are read as '{role}' by their name{advice}."
        ) from None


def _is_number(column) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _dataset_from_table(
    frame,
    path: Path,
    has_header: bool,
    x_columns: str | None,
    suffix: str,
    ground_truth: bool = True,
    min_samples: int = 2,
    header_note: str | None = None,
    unneeded: Collection[str] = (),
) -> Dataset:
    """Sort a table's columns into x, the ground truth z/c/u, a row index and ignored ones."""
    import pandas as pd

    names = [str(col) for col in frame.columns]
    if len(frame) == 0:
        raise InvalidDataError(f"{path}: has a header ({_name_list(names, 5)}) but no data rows.")
    chosen = None if x_columns is None else _parse_x_columns(x_columns, names, has_header, path)
    taken = set(chosen or ())
    x_pos, index_pos, ignored = [], [], []
    groups: dict[str, list[tuple[int | None, int]]] = {}
    coordinates = {"x", "y", "z"} <= set(names)  # 3-D points: z is their third coordinate, not a latent
    for pos, name in enumerate(names):
        if pos in taken:
            continue
        truth = GROUND_TRUTH_COLUMN.fullmatch(name) if has_header and ground_truth else None
        if truth and not (coordinates and name == "z"):
            index = truth["index"] or truth["bracket"]
            groups.setdefault(truth["role"], []).append((None if index is None else int(index), pos))
        elif chosen is not None:
            ignored.append(pos)
        elif has_header and (_PANDAS_INDEX_COLUMN.fullmatch(name) or (pos == 0 and name in _UNNAMED_FIRST_COLUMN)):
            index_pos.append(pos)
        else:
            x_pos.append(pos)
    if chosen is not None:
        x_pos = chosen
    if has_header and not ground_truth:
        _refuse_a_data_set_as_one_array(names, x_pos, path)
    notes = []
    if chosen is not None:
        notes.append(f"x is column(s) {_name_list([names[p] for p in chosen])} (--x-columns)")
    if suffix == ".parquet" and chosen is None:  # as before: a Parquet file's non-numeric columns are not x
        dropped = [p for p in x_pos if not _is_number(frame.iloc[:, p])]
        # text (not bool or dates, dropped as before) that reads as numbers, ids such as "007" apart
        as_text = [
            names[p]
            for p in dropped
            if (pd.api.types.is_object_dtype(frame.iloc[:, p]) or pd.api.types.is_string_dtype(frame.iloc[:, p]))
            and _numbers_as_text(frame.iloc[:, p])
        ]
        if as_text:  # numbers stored as text are a feature mistyped, not an id or a name column: not dropped quietly
            raise InvalidDataError(
                f"{path}: column(s) {_name_list(as_text, 5)} hold numbers stored as text. Convert them to a numeric "
                "dtype (e.g. frame[col] = pandas.to_numeric(frame[col])), or choose x with --x-columns."
            )
        x_pos = [p for p in x_pos if p not in dropped]
        if dropped:
            notes.append(f"non-numeric column(s) {_name_list([names[p] for p in dropped])} ignored")
    if not x_pos:
        raise InvalidDataError(
            f"{path}: no column is left for x (ground-truth names z/c/u, a row index and non-numeric columns "
            f"are not x; {_file_columns(names, has_header)}). Choose x with --x-columns."
        )
    non_numeric = [names[p] for p in x_pos if not pd.api.types.is_numeric_dtype(frame.iloc[:, p])]
    if non_numeric:
        raise InvalidDataError(
            f"{path}: column(s) {_name_list(non_numeric, 5)} are not numeric. Every x column must be a number; "
            "choose x with --x-columns."
        )
    x = validate_matrix(frame.iloc[:, x_pos].to_numpy(), f"{path}: 'x'", min_samples=min_samples)
    unread: list[str] = []
    truth = _ground_truth(frame, groups, len(x), path, min_samples, unneeded, unread, x_guessed=chosen is None)
    read = [role for role in groups if role in truth]  # a role left unread has its own note
    if read:
        ordered = {role: [names[p] for _, p in sorted(groups[role], key=lambda m: m[0] or 0)] for role in read}
        read_as = [
            f"{_name_list(ordered[role])} {'read ' if not k else ''}as {_ROLE_WORDS[role]}"
            for k, role in enumerate(role for role in ("z", "c", "u") if role in ordered)
        ]
        listed = read_as[0] if len(read_as) == 1 else f"{', '.join(read_as[:-1])} and {read_as[-1]}"
        notes.append(f"column(s) {listed}, not as x")
    if index_pos:
        which = "unnamed first column" if names[index_pos[0]] in _UNNAMED_FIRST_COLUMN else "pandas index column"
        extra = [names[p] for p in index_pos if p != index_pos[0]]
        notes.append(f"{which}{' and ' + ', '.join(extra) if extra else ''} read as the row index and dropped")
    if ignored:
        notes.append(f"column(s) {_name_list([names[p] for p in ignored])} ignored")
    counters = [names[p] for p, column in zip(x_pos, x.T, strict=True) if _numbers_the_rows(column)]
    if has_header and chosen is None and counters:
        rest = [names[p] for p in x_pos if names[p] not in counters]
        leave_out = f"--x-columns {','.join(rest)}" if 0 < len(rest) <= 12 else "--x-columns"
        notes.append(
            f"column(s) {_name_list(counters)} number the rows (0, 1, 2, ... or 1, 2, 3, ...), as an index or id "
            f"does, and are read as x (a feature to fit or score on): to leave them out, pass {leave_out}"
        )
    if has_header and chosen is None and ground_truth:
        x_names = [names[p] for p in x_pos]
        family, others = _numbered_family(x_names)
        if notes or others or unread:
            notes.insert(0, f"x is {_x_summary(x_names, family, others)}")
    note = ()
    if notes:
        hint = "" if chosen is not None else " (use --x-columns to choose x yourself)"
        note = (f"{path}: {'; '.join(notes)}{hint}",)
    if header_note:
        note = (f"{path}: {header_note}", *note)
    x_names = tuple(names[p] for p in x_pos) if has_header else None
    return Dataset(x=x, **truth, source=str(path), notes=(*note, *unread), x_names=x_names)


def _numbers_the_rows(column: np.ndarray) -> bool:
    """Whether a column (n,) of at least 3 rows is 0, 1, ..., n - 1 or 1, 2, ..., n: a row index or id."""
    n = len(column)
    return n >= 3 and bool(np.array_equal(column, np.arange(n)) or np.array_equal(column, np.arange(1, n + 1)))


_NUMBERED = re.compile(r"(?P<prefix>.*?)(?P<index>\d+)")


def _numbered_family(names: list[str]) -> tuple[list[str], list[str]]:
    """The names of the most common numbered family (``x0, x1, ...``: one prefix and an index) and the others."""
    prefixes = Counter(m["prefix"] for m in map(_NUMBERED.fullmatch, names) if m)
    if not prefixes:
        return [], list(names)
    prefix = prefixes.most_common(1)[0][0]
    family = [n for n in names if (m := _NUMBERED.fullmatch(n)) and m["prefix"] == prefix]
    members = set(family)
    return family, [n for n in names if n not in members]


def _index_runs(family: list[str]) -> list[str]:
    """A numbered family in file order, each run of consecutive indices longer than two shortened:
    ``x0..x9``, or ``x1..x39, x0`` where the order breaks (so no column is hidden)."""
    indices = [int(_NUMBERED.fullmatch(name)["index"]) for name in family]
    runs, start = [], 0
    for i in range(1, len(family) + 1):
        if i == len(family) or indices[i] != indices[i - 1] + 1:
            run = family[start:i]
            runs += [f"{run[0]}..{run[-1]}"] if len(run) > 2 else run
            start = i
    return runs


def _x_summary(names: list[str], family: list[str], others: list[str]) -> str:
    """``10 column(s): x0..x9 and sample_id``: the numbered family in short, every other name spelled out."""
    parts = []
    if family:
        parts.append(_name_list(_index_runs(family)))
    if others:
        parts.append(_name_list(others))
    return f"{len(names)} column(s): {' and '.join(parts)}"


def _refuse_a_data_set_as_one_array(names: list[str], x_pos: list[int], path: Path) -> None:
    """A file meant to hold one array (learned latents, predicted labels) whose columns are partly named like
    a data set's ground truth (z0, c, ...) and partly not is a data file given by mistake: scoring it would
    score its true z against itself."""
    truth = [names[p] for p in x_pos if GROUND_TRUTH_COLUMN.fullmatch(names[p])]
    other = [names[p] for p in x_pos if not GROUND_TRUTH_COLUMN.fullmatch(names[p])]
    if truth and other:
        raise InvalidDataError(
            f"{path}: looks like a data file, not one array: it has ground-truth columns ({_name_list(truth)}) "
            f"beside others ({_name_list(other)}). Give the learned latents (or labels) alone, e.g. the .npy "
            "that 'latentid transform' writes."
        )


def data_suffix(path: str | os.PathLike) -> str:
    """A data file's format from its name, in lower case: ``.csv``, or ``.csv.gz`` for ``a.CSV.gz``."""
    path = Path(path)
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() + suffix if suffix == ".gz" else suffix


_TEXT_LINES = 20  # lines looked at to tell the separator of a text table
MAX_TEXT_COLUMNS = 1_000_000  # columns of a CSV/TSV: a million took pandas 1.3 GB and 15 s for 3 rows
MAX_LINE_CHARS = 32 * MAX_TEXT_COLUMNS  # a line read to check it: 32 characters a column at most


def _first_lines(path: Path, suffix: str) -> list[str]:
    """The first non-blank lines of a text table (decompressed), as text; a line of more than MAX_TEXT_COLUMNS
    columns is refused as soon as it is read, and no line is read past MAX_LINE_CHARS characters."""
    import gzip

    opener = gzip.open if suffix.endswith(".gz") else open
    lines = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for _ in range(_TEXT_LINES):
            line = handle.readline(MAX_LINE_CHARS + 1)
            if not line:
                break
            columns = line.count(_SEPARATOR[suffix]) + 1
            if columns > MAX_TEXT_COLUMNS or len(line) > MAX_LINE_CHARS:
                what = f"{columns:,} columns" if columns > MAX_TEXT_COLUMNS else f"over {MAX_LINE_CHARS:,} characters"
                raise DataFileError(  # pandas holds about 1.3 KB per column: 50 million took 9 GB, then abort()
                    f"{path}: a line of {what}; latentid reads text tables of at most {MAX_TEXT_COLUMNS:,} columns. "
                    "Check the file (a missing line break?), or save so wide a table as .npy or .parquet."
                )
            lines.append(line.rstrip("\r\n"))
    return [line for line in lines if line.strip()]


def _refuse_other_separators(path: Path, sep: str, lines: list[str]) -> None:
    """A one-line DataFileError for a text table whose columns are separated by another character than its
    format's: pandas would read one column of text, or split decimal commas into columns."""

    def steady(char: str) -> bool:  # the same count on every line: a column separator
        counts = {  # whitespace runs counted, not split into a list: a wide line made a million strings
            line.count(char) if char != " " else sum(1 for _ in re.finditer(r"\s+", line.strip())) for line in lines
        }
        return len(counts) == 1 and counts.pop() > 0

    if not lines:
        return
    found = next((char for char in (";", "\t", ",", "|", " ") if char != sep and steady(char)), None)
    if found is None or (found != ";" and steady(sep)):  # ';' is no part of a number or a usual name
        return
    decimal_commas = found == ";" and any(re.search(r"\d,\d", line) for line in lines)
    fix = {",": "rename it .csv", "\t": "rename it .tsv"}.get(found)
    if fix is None or decimal_commas:
        read = {";": "sep=';'", "|": "sep='|'", " ": "sep=r'\\s+'"}.get(found, repr(found))
        read += ", decimal=','" if decimal_commas else ""
        target = "data.csv" if sep == "," else "data.tsv"
        write = "" if sep == "," else ", sep='\\t'"
        fix = f"convert it, e.g. pandas.read_csv(path, {read}).to_csv('{target}', index=False{write})"
    what = " and decimal commas" if decimal_commas else ""
    raise DataFileError(
        f"{path}: its columns are separated by {_SEPARATOR_WORDS[found]}{what}, where a {data_suffix(path)} file "
        f"has {_SEPARATOR_WORDS[sep]}; {fix}."
    )


OUTSIDE_RANGE_ROWS = 10  # rows below a first row that lies outside every column's range, for that to tell
PANDAS_NAMES_MIN = 3  # a first row 0, 1, 2, ... of this many cells or more is pandas' default column names
_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?")  # a whole number, also as pandas writes float names: '400.0'


def _number_cells(cells: list[str]) -> np.ndarray:
    """Which of a row's cells (as written) read as numbers, shape (len(cells),) bool; an empty cell does not."""
    import pandas as pd

    return pd.to_numeric(pd.Series(cells, dtype=object).replace("", None), errors="coerce").notna().to_numpy()


def _detect_header(frame, first: list[str]) -> tuple[bool, str | None]:
    """Whether the first row of a text table read without a header (``frame``; ``first``, its cells as
    written) is its column names, and a note where that is a guess from numbers.

    A name is text above a column of numbers, or, as wavelengths or times are, a whole number above a
    column of decimals (a data row of decimals is not written as distinct whole numbers). Any number
    in the first row that is neither says it is data."""
    import pandas as pd

    numbers = _number_cells(first)
    if not numbers.any():
        return True, None  # no number at all: names, as before
    below = frame.iloc[1:]
    parsed = below.apply(pd.to_numeric, errors="coerce")
    text_below = (parsed.isna() & below.notna()).any().to_numpy()
    decimals_below = ((parsed % 1).fillna(0) != 0).any().to_numpy()
    whole = np.array([bool(_INTEGER.fullmatch(cell.strip())) for cell in first])
    named_by_text = ~numbers & (np.array(first) != "") & ~text_below
    named_by_number = numbers & whole & decimals_below
    distinct = len(set(np.array(first)[numbers])) == numbers.sum()
    shown = _name_list([cell for cell, number in zip(first, numbers, strict=True) if number])
    if named_by_text.any():
        return True, None
    cells = [cell.strip() for cell in first]
    names = cells[1:] if cells[0] == "" else cells  # an empty first cell: the row index pandas wrote beside x
    if len(names) >= PANDAS_NAMES_MIN and names == [str(i) for i in range(len(names))]:
        return True, (
            f"the first row ({shown}) is read as the column names: 0, 1, 2, ... are the names pandas gives columns "
            "by default. If it is a data row, pass --header no"
        )
    if len(first) > 1 and distinct and named_by_number[numbers].all():
        return True, (
            f"the first row ({shown}) is read as the column names: whole numbers above columns of decimals. If it "
            "is a data row, pass --header no"
        )
    values = pd.to_numeric(pd.Series(first), errors="coerce").to_numpy()
    if (
        len(first) > 1
        and numbers.all()
        and len(below) >= OUTSIDE_RANGE_ROWS
        and not text_below.any()
        and np.all(np.diff(values) > 0)
        and np.all((values > parsed.max().to_numpy()) | (values < parsed.min().to_numpy()))
    ):  # rising numbers, each outside its column's range: names (e.g. wavelengths) over the data?
        return False, (
            f"the first row ({shown}) is read as data, though its rising numbers lie outside the range of "
            "their columns. If they are the column names, pass --header yes"
        )
    return False, None


# Peak memory of pandas reading a text table, in bytes of its text: measured 5.1 GB for 1 GB, and 20.3 GB for 3.2 GB
# of short rows (0.1,0.2,0.3), with a margin
TEXT_READ_COPIES = 7


def _check_text_size(path: Path, suffix: str) -> None:
    """Refuse a text table whose text would not fit in memory once pandas parses it: a 6 MB .csv.gz of 3.2 GB of
    short rows peaked at 20.3 GB in 130 s before any check; a larger one ended in 'C error: out of memory'. A gzip
    file's text size is its trailer's (modulo 4 GiB, so never less than the compressed size is counted)."""
    size = path.stat().st_size
    if suffix.endswith(".gz") and size >= 4:
        with open(path, "rb") as handle:
            handle.seek(-4, os.SEEK_END)
            size = max(size, int.from_bytes(handle.read(4), "little"))
    check_memory(
        TEXT_READ_COPIES * size,
        f"{path}: {size:,} bytes of text",
        TOO_LARGE_TO_READ,
    )


def _read_text_table(path: Path, suffix: str, header: bool | None):
    """A CSV/TSV (maybe gzip-compressed) as a DataFrame, whether it has a header row and a note on the guess."""
    import pandas as pd

    sep = _SEPARATOR[suffix]
    _check_text_size(path, suffix)
    lines = _first_lines(path, suffix)
    if lines and lines[0].lstrip().startswith("#"):  # read as a header named '# x0' or a column of text
        raise DataFileError(
            f"{path}: its first line is a comment ({lines[0][:40]!r}), and latentid reads no comment lines. Remove "
            "them (np.savetxt writes its header without '# ' when given comments='')."
        )
    _refuse_other_separators(path, sep, lines)
    note = None
    if header is None:
        first = pd.read_csv(path, header=None, sep=sep, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
        first = [str(cell) for cell in first]
        # no number in it: names, as usual; not worth reading every cell as text (about 10x x's memory) to say so
        if _number_cells(first).any():
            # low_memory=False: one dtype per column over the whole file, not pandas' "mixed types" warning
            frame = pd.read_csv(path, header=None, sep=sep, low_memory=False)
            header, note = _detect_header(frame, first)
            if not header:
                return frame, False, note
        else:
            header = True
    if not header:
        frame = pd.read_csv(path, header=None, sep=sep)
        first = pd.to_numeric(frame.iloc[0], errors="coerce") if len(frame) else None
        if first is not None and first.isna().all() and len(frame) > 1:
            raise InvalidDataError(
                f"{path}: the first row ({_name_list([str(v) for v in frame.iloc[0].tolist()])}) is text, but "
                "--header no reads it as data. Drop --header no (or pass --header yes) to read it as the column names."
            )
        return frame, False, None
    names = pd.read_csv(path, header=None, sep=sep, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    # 'x0, x1, z0' (np.savetxt's delimiter=', '): ' z0' was no ground-truth column, and z and c were fitted as x
    names = [name.strip() for name in names]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1 and name)
    if repeated:
        raise InvalidDataError(
            f"{path}: the header names column(s) {_name_list(repeated)} more than once. Give each column its own name."
        )
    frame = pd.read_csv(path, sep=sep, low_memory=False)
    frame.columns = [name.strip() if isinstance(name, str) else name for name in frame.columns]
    return frame, True, note


def _numbers_as_text(column) -> bool:
    """Whether every cell of a text column reads as a number, none written with a leading zero (an id: '00017')."""
    import pandas as pd

    text = column.astype(str).str.strip()
    if text.str.fullmatch(r"[+-]?0\d+").any():
        return False
    return bool(pd.to_numeric(column, errors="coerce").notna().all())


PARQUET_READ_COPIES = 5  # peak memory of reading a Parquet file, in float64 copies of its cells (measured: 5.3 GB
# for 2 x 2^26 cells)


def _check_parquet_size(path: Path) -> None:
    """Refuse a Parquet file whose cells, as its footer counts them, would not fit in memory once decoded: a 600 KB
    file of 2 x 2^26 constant cells peaked at 5.3 GB before any check."""
    import pyarrow.parquet as pq  # a dependency of latentid's (pyproject.toml)

    metadata = pq.ParquetFile(path).metadata
    check_memory(
        PARQUET_READ_COPIES * 8 * metadata.num_rows * metadata.num_columns,
        f"{path}: {metadata.num_rows:,} rows x {metadata.num_columns:,} columns",
        TOO_LARGE_TO_READ,
    )


def _read_table(
    path: Path,
    suffix: str,
    x_columns: str | None,
    ground_truth: bool,
    header: bool | None,
    min_samples: int,
    unneeded: Collection[str] = (),
) -> Dataset:
    import pandas as pd

    try:
        if suffix == ".parquet":
            _check_parquet_size(path)
            frame, has_header, note = pd.read_parquet(path), True, None
            if not isinstance(frame.index, pd.RangeIndex) or any(name is not None for name in frame.index.names):
                # pandas restores a written index as the frame's index, out of the columns: say it is dropped
                named = [str(name) for name in frame.index.names if name is not None]
                note = f"the file's pandas index{' ' + ', '.join(named) if named else ''} read as the row index and "
                note += "dropped"
                frame = frame.reset_index(drop=True)
        else:
            frame, has_header, note = _read_text_table(path, suffix, header)
    except (InvalidDataError, DataFileError, InvalidParameterError):  # InvalidParameter: the memory check
        raise
    except UnicodeDecodeError as exc:  # Latin-1 or UTF-16 text, or a binary file under a text name
        raise DataFileError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} is no UTF-8). Save it as UTF-8, e.g. "
            "pandas.read_csv(path, encoding='latin-1' or the file's own, such as 'utf-16').to_csv('data.csv', "
            "index=False); if it is not a text table, give it its own extension (.npy, .npz, .parquet)."
        ) from None
    except Exception as exc:  # any parser failure becomes one readable line
        raise DataFileError(f"{path}: could not read the {suffix} file ({type(exc).__name__}: {exc}).") from exc
    return _dataset_from_table(
        frame, path, has_header, x_columns, suffix, ground_truth, min_samples, note, unneeded=unneeded
    )


def read_dataset(
    path: str | os.PathLike,
    x_columns: str | None = None,
    *,
    ground_truth: bool = True,
    header: bool | None = None,
    min_samples: int = 2,
    unneeded: Collection[str] = (),
) -> Dataset:
    """Read and validate a data file; raise a one-line error naming the file and the problem.

    A CSV/TSV with a header row or a Parquet file has its columns sorted by name (module docstring):
    ``z*``/``c*``/``u*`` columns become ``z``/``c``/``u``, a row-index column is dropped, the rest are
    x; ``Dataset.notes`` says what was recognised.

    x_columns : the ``--x-columns`` value, tables only: x is exactly these columns in this
        order, given as comma-separated names, 0-based positions or inclusive ranges (``"x0,x3"``,
        ``"0,1,2"``, ``"0-9"``; a name wins over a position). The other columns are still read as
        z/c/u by name, or else ignored (said in a note).
    ground_truth : False reads no z/c/u by name: every column of a CSV/Parquet file but a row index is
        x. For files that hold one array rather than a data set (learned latents, predicted labels),
        whose columns may well be named z0, z1 or c.
    header : the ``--header`` value, CSV/TSV only: True if the first row is the column names, False if
        it is data; None guesses (text names, or distinct whole numbers above decimal data, such as
        wavelengths) and says so in a note where the first row holds numbers.
    min_samples : the fewest rows accepted: 2 to fit, 1 to apply a fitted model.
    unneeded : the roles among 'z', 'c', 'u' the caller does not read (a fit of x alone: all three): one that
        cannot be read (a NaN in z, a label that is no whole number) is left out with a note, not refused.
    """
    if header is not None and not isinstance(header, (bool, np.bool_)):  # 'no' would be truthy
        raise InvalidParameterError(f"header must be True, False or None (guess). Got {header!r} instead.")
    if isinstance(path, str) and not path.strip():  # Path("") is ".", which read as "a folder"
        raise DataFileError("The data path is empty; give a data file (--data data.npz).")
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such file. Check the path given to --data.")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a data file.")
    if not path.is_file():  # a pipe or a device would block the read, or never end
        raise DataFileError(f"{path}: is not a regular file (a pipe or a device?). Save the data to a file first.")
    suffix = data_suffix(path)
    if suffix not in SUPPORTED_SUFFIXES:
        compressed = suffix.endswith((".gz", ".zip", ".bz2", ".xz", ".zst"))
        convert = _CONVERT.get(suffix, "Decompress it first." if compressed else "")
        raise DataFileError(
            f"{path}: unknown data format '{suffix or '(none)'}'. Use one of {', '.join(SUPPORTED_SUFFIXES)}."
            + (f" {convert}" if convert else "")
        )
    if x_columns is not None and suffix not in TABLE_SUFFIXES:
        raise InvalidParameterError(
            f"--x-columns applies to CSV and Parquet files (and TSV), not to the {suffix} file {path}. Drop it."
        )
    if header is not None and suffix not in TEXT_SUFFIXES:
        raise InvalidParameterError(f"--header applies to CSV and TSV files, not to the {suffix} file {path}. Drop it.")
    state = file_state(path)  # before the read: a file replaced during or after it is told apart later
    return dataclasses.replace(
        _read_file(path, suffix, x_columns, ground_truth, header, min_samples, unneeded), file_state=state
    )


def _read_file(path, suffix, x_columns, ground_truth, header, min_samples, unneeded) -> Dataset:
    """``read_dataset``'s reading of a file whose path and options it has checked."""
    if suffix in TABLE_SUFFIXES:
        return _read_table(path, suffix, x_columns, ground_truth, header, min_samples, unneeded)
    try:
        if suffix == ".npz":
            return _read_npz(path, min_samples, unneeded)
        raw = np.load(path, allow_pickle=False)
    except (InvalidDataError, DataFileError, InvalidParameterError):  # InvalidParameter: a memory check
        raise
    except Exception as exc:  # any parser failure becomes one readable line
        raise DataFileError(f"{path}: could not read the {suffix} file ({type(exc).__name__}: {exc}).") from exc
    return Dataset(x=validate_matrix(raw, f"{path}: 'x'", min_samples=min_samples), source=str(path))
