"""Atomic file writes: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched. An OSError names ``path``
    (not the temporary name, which the user never gave), as does a full disk however the writer reported it.
    ``replace=False``: a ``path`` that exists when the file is put in place (another command wrote it since the
    caller checked) is kept, and FileExistsError names it; checking and placing are one step of the file system.
    """
    target = Path(path)
    _make_folder(target.parent)
    try:
        # A short temporary name: a target name near the 255-byte limit must still work.
        fd, tmp = tempfile.mkstemp(prefix=".latentid-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _naming(exc, target) from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        _flush(tmp_path)  # on disk before the rename: after a power loss the new name never holds a torn file
        if replace:
            os.replace(tmp_path, target)
        else:
            _place_new(tmp_path, target)
        _flush(target.parent)  # and the rename itself
    except OSError as exc:
        raise _naming(exc, target) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# link() errors of file systems that have no hard links (FAT, some network and FUSE mounts)
NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}


class OutputTakenError(FileExistsError):
    """The output's name was taken by another writer after the caller checked it was free (``replace=False``)."""


def _place_new(tmp: Path, target: Path) -> None:
    """Give the finished ``tmp`` the name ``target`` only if no file holds it: link() fails where the name exists,
    as one step, where a check then a rename lets a second writer's file be replaced between the two."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputTakenError(errno.EEXIST, "already exists", str(target)) from None
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        if os.path.lexists(target):  # no hard links: checked then renamed, as close together as it goes
            raise OutputTakenError(errno.EEXIST, "already exists", str(target)) from None
        os.replace(tmp, target)


def _naming(exc: OSError, target: Path) -> OSError:
    """``exc`` as an OSError about ``target``. numpy reports a short write ('2000 requested and 992 written')
    with no errno: on a local file that is a full disk."""
    if isinstance(exc, OutputTakenError):
        return exc
    short_write = exc.errno is None and "requested and" in str(exc) and "written" in str(exc)
    if short_write or exc.errno in DISK_FULL:
        return OSError(errno.ENOSPC, "no space left on the device", str(target))
    return OSError(exc.errno, exc.strerror or str(exc), str(target))


def _make_folder(folder: Path) -> None:
    """mkdir -p, with a folder path that runs through a file named as such (mkdir says 'File exists')."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise OSError(errno.ENOTDIR, "a file, not a folder: it cannot hold the output", str(blocking)) from None


def _flush(path: Path) -> None:
    """fsync a file or a folder, where the system allows it (folders cannot be opened on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically, as UTF-8 whatever the locale (a report says charset utf-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
