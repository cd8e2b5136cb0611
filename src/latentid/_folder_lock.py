"""An exclusive lock on a folder while one command writes into it, so that a second one is refused in one line
instead of mixing its files among the first's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from latentid.errors import DataFileError


@contextmanager
def folder_lock(folder: str | os.PathLike, busy: str) -> Iterator[None]:
    """Hold an advisory flock on ``folder`` (which must exist); DataFileError(``busy``) when another process holds
    it. The OS releases it when the process ends, so a killed command leaves no stale lock; where the OS has no
    flock, nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    handle = os.open(Path(folder), os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataFileError(busy) from None
        yield
    finally:
        os.close(handle)
