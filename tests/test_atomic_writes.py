"""Atomic writes: the new file is on disk before it takes the old one's name, and a failed write changes nothing."""

import os

import pytest

from latentid import _atomic
from latentid._atomic import atomic_path, write_text_atomic


def test_the_new_file_is_flushed_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    """Without fsync a power loss after the rename could leave a finished run.json empty on disk."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(_atomic.os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))))
    monkeypatch.setattr(_atomic.os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b)))
    target = tmp_path / "run.json"
    write_text_atomic(target, "{}")
    monkeypatch.setattr(_atomic.os, "fsync", real_fsync)
    assert target.read_text() == "{}"
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert events[0][1].startswith(str(tmp_path / ".latentid-")) and events[2][1] == str(tmp_path)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("stopped")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_failed_write_names_the_file_asked_for_and_a_short_write_as_a_full_disk(tmp_path, monkeypatch):
    """numpy reports a full disk as '2000 requested and 992 written' with no errno, and a folder that refuses
    the temporary file was named by that file ('.latentid-c4mm9nk0.tmp: Permission denied')."""
    import errno

    target = tmp_path / "latents.npy"
    with pytest.raises(OSError) as caught, atomic_path(target):
        raise OSError("2000 requested and 992 written")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert os.listdir(tmp_path) == []

    def refused(**kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".latentid-x.tmp"))

    monkeypatch.setattr(_atomic.tempfile, "mkstemp", refused)
    with pytest.raises(OSError) as caught, atomic_path(target):
        pass
    assert caught.value.filename == str(target) and caught.value.strerror == "Permission denied"


def test_an_output_path_through_a_file_names_that_file(tmp_path):
    """'d.npz/z.npy' gave 'd.npz: File exists'; the problem is that d.npz is no folder."""
    (tmp_path / "d.npz").write_text("data")
    with pytest.raises(OSError) as caught, atomic_path(tmp_path / "d.npz" / "sub" / "z.npy"):
        pass
    assert caught.value.filename == str(tmp_path / "d.npz") and "not a folder" in caught.value.strerror


def test_a_write_that_may_not_replace_keeps_a_file_put_there_meanwhile(tmp_path):
    """Two `simulate --out f.npz` at once both passed the 'already exists' check, and the later rename replaced
    the earlier file: both said 'Wrote'. Without replace, the name is taken in one step or not at all."""
    target = tmp_path / "sim.npz"
    with pytest.raises(FileExistsError) as raised, atomic_path(target, replace=False) as tmp:
        tmp.write_text("second")
        target.write_text("first")  # the other command finished while this one was writing
    assert target.read_text() == "first" and raised.value.filename == str(target)
    assert [p.name for p in tmp_path.iterdir()] == ["sim.npz"]  # no temporary left
    fresh = tmp_path / "new.npz"
    with atomic_path(fresh, replace=False) as tmp:
        tmp.write_text("new")
    assert fresh.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["new.npz", "sim.npz"]


def test_without_hard_links_a_write_that_may_not_replace_still_refuses_an_existing_file(tmp_path, monkeypatch):
    import errno

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(_atomic.os, "link", no_links)
    target = tmp_path / "z.npy"
    with atomic_path(target, replace=False) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(FileExistsError), atomic_path(target, replace=False) as tmp:
        tmp.write_text("newer")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["z.npy"]


def test_text_is_written_as_utf8_whatever_the_locale(tmp_path):
    """A study report says charset utf-8; under a cp1252 locale its "±" was written as byte 0xb1, under C it failed."""
    import subprocess
    import sys

    target = tmp_path / "index.html"
    code = (
        f"from latentid._atomic import write_text_atomic; write_text_atomic({str(target)!r}, 'mean \\u00b1 sd \\u2014')"
    )
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == "mean \u00b1 sd \u2014".encode()
