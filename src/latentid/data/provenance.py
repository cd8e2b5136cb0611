"""Where data came from, as run folders and reports record it: an absolute path and a content hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from latentid.data.io import Dataset, file_state
from latentid.errors import DataFileError

CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex), read in chunks; what ``sha256sum FILE`` prints."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(x: np.ndarray) -> str:
    """SHA-256 (hex) of an array's C-order bytes, its dtype and shape included."""
    digest = hashlib.sha256(f"{x.dtype.str}{x.shape}".encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    return digest.hexdigest()


def data_provenance(dataset: Dataset) -> dict:
    """``{"source", "path", "sha256", "sha256_of", "n_samples", "n_features", "x_columns"}`` of a data set
    (``x_columns``: x's column names for a table with a header, else None).

    A file: its absolute path and the SHA-256 of its bytes (``sha256_of`` "file"). A published data set
    (MNIST, Fashion-MNIST, whose files are checked against pins on every read): ``path`` None and the
    SHA-256 of the x matrix it gave (``sha256_of`` "x").
    """
    path = Path(dataset.source)
    is_file = path.is_file()
    sha256 = file_sha256(path) if is_file else array_sha256(dataset.x)
    if is_file and dataset.file_state is not None and file_state(path) != dataset.file_state:
        raise DataFileError(
            f"{path}: changed since it was read (another command rewrote or replaced it), so its hash would not be of "
            "the data read. Read it again (run the command again) once the file is written."
        )
    return {
        "source": dataset.source,
        "path": str(path.resolve()) if is_file else None,
        "sha256": sha256,
        "sha256_of": "file" if is_file else "x",
        "n_samples": int(dataset.x.shape[0]),
        "n_features": int(dataset.x.shape[1]),
        "x_columns": None if dataset.x_names is None else list(dataset.x_names),
    }
