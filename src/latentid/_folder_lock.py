"""An exclusive lock on a folder while one command writes into it, so that a second one is refused in one line
instead of mixing its files among the first's."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from latentid.errors import DataFileError


@contextmanager
def folder_lock(folder: str | os.PathLike, busy: str, shared: bool = False, wait: float = 0.0) -> Iterator[None]:
    """Hold an advisory flock on ``folder`` (which must exist); DataFileError(``busy``) when another process holds
    it. ``shared``: a reader's lock, which other readers hold at once and a writer's excludes. ``wait``: seconds to
    keep trying before giving up (a writer waits out readers, whose hold is short). The OS releases it when the
    process ends, so a killed command leaves no stale lock; where the OS or the file system has no flock (no
    fcntl module; ENOLCK, or NFS refusing a read-only descriptor's lock), nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    handle = os.open(Path(folder), os.O_RDONLY)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DataFileError(busy) from None
                time.sleep(0.05)
            except OSError as exc:
                if exc.errno not in NO_LOCKS:
                    raise
                break  # a file system without locks: unlocked, as where the OS has none
        yield
    finally:
        os.close(handle)


# flock errors of file systems that cannot lock (rather than a lock held by another process)
NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EBADF, errno.EINVAL}
