"""A full disk: one line naming the file that could not be written and what to do, never a traceback; a fit's
checkpoints so far are kept for --resume, and a study's recorded runs stay in its store."""

import errno
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.errors import DataFileError
from latentid.studies.store import ResultStore

runner = CliRunner()
TINY = ["--model", "vae", "--epochs", "4", "--batch-size", "64", "--threads", "1", "--quiet"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_a_fit_that_fills_the_disk_says_so_and_resumes_once_space_is_freed(small_simulation, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_write = Path.write_bytes
    written = []

    def full_after_two(self, data):
        if self.name.startswith(".latentid-") and len(written) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(self)
        return real_write(self, data)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_bytes", full_after_two)
        result = run("fit", "--data", small_simulation, "--out", out, *TINY)
    one_line_error(result, "no space left on the device", f"latentid fit --out {out} --resume", ".pt")
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    resumed = run("fit", "--out", out, "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_an_output_inside_a_file_is_named_as_no_folder(small_simulation, tmp_path):
    result = run("simulate", "--samples", 50, "--out", small_simulation / "x.npz")
    one_line_error(result, f"{small_simulation}: a file, not a folder")


class _FullDisk:
    """A store connection whose writes of ``statement`` fail as SQLite's do on a full disk."""

    def __init__(self, db, statement):
        self._db, self._statement = db, statement

    def execute(self, sql, *args):
        if sql.startswith(self._statement):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)


def test_a_store_on_a_full_disk_refuses_the_row_in_one_line_and_keeps_what_it_recorded(tmp_path):
    row = {"key": "k1", "status": "finished", "config": {"model": "pca"}, "metrics": {"affine_r2": 0.5}}
    with ResultStore(tmp_path / "r.db") as store:
        real = store._db
        store._db = _FullDisk(real, "PRAGMA wal_checkpoint")  # the row is in the log: recorded all the same
        assert store.record(row)
        store._db = _FullDisk(real, "INSERT OR REPLACE")
        with pytest.raises(DataFileError, match="cannot record the run .no space left on the device."):
            store.record({**row, "key": "k2"})
        store._db = real
        assert not real.in_transaction
        assert [r["key"] for r in store.rows()] == ["k1"]
