"""A store the user may read but not write (a colleague's, shared read-only): results and report read it."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.errors import DataFileError
from latentid.studies.store import ResultStore

runner = CliRunner()


@pytest.fixture
def store(grid_store):
    return grid_store


def test_a_store_opened_read_only_gives_its_rows_and_refuses_a_write(store, study_rows):
    with ResultStore(store) as writable:
        expected = writable.rows()
    with ResultStore(store, read_only=True) as opened:
        assert opened.rows() == expected and len(expected) == len(study_rows)
        with pytest.raises(DataFileError, match="cannot record the run"):
            opened.record({**study_rows[0], "key": "new"})


def test_results_and_report_read_a_store_they_cannot_write(store, tmp_path, monkeypatch):
    """They opened every store for writing (WAL mode, the schema's upgrade): 'attempt to write a readonly
    database' for a store in a folder the user could not write."""

    def refused(self):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(ResultStore, "_open_retrying", refused)
    listed = runner.invoke(app, ["results", str(store), "--format", "csv"])
    assert listed.exit_code == 0 and listed.stdout.count("\n") > 5, listed.output
    reported = runner.invoke(app, ["report", str(store), "--out", str(tmp_path / "report")])
    assert reported.exit_code == 0 and (tmp_path / "report" / "index.html").is_file(), reported.output


def test_a_read_only_store_of_an_older_schema_says_how_to_read_it(store):
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA user_version = 2")
    with pytest.raises(DataFileError, match="cannot be upgraded. Copy it somewhere you can write"):
        ResultStore(store, read_only=True)


def test_a_read_only_store_whose_log_holds_runs_is_refused_not_read_short(store, monkeypatch):
    """Where the log's index cannot be made, the file alone was read: runs still in <store>-wal were left out of
    results and report without a word."""
    real_connect = sqlite3.connect

    def no_index(database, *args, **kwargs):  # what a reader who may not write the folder meets
        if "mode=ro" in str(database):
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", no_index)
    log = store.with_name(store.name + "-wal")
    log.unlink(missing_ok=True)
    with ResultStore(store, read_only=True) as opened:  # every run in the file: read from it
        assert len(opened.rows()) > 0
    log.write_bytes(b"\0" * 64)  # runs waiting in the log
    with pytest.raises(DataFileError, match=r"some of its runs are still in r.db-wal"):
        ResultStore(store, read_only=True)


def test_only_a_refusal_to_write_sends_a_store_to_read_only(tmp_path):
    """Told by SQLite's error code, not by its wording: a damaged or full store is reported, not read around."""
    from latentid.studies.store import StoreNotWritableError, _refused_writing

    path = tmp_path / "a.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    reader = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as refused:
        reader.execute("INSERT INTO t VALUES (1)")
    reader.close()
    assert _refused_writing(refused.value) and _refused_writing(PermissionError(13, "Permission denied"))

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a store at all" * 100)
    with pytest.raises(sqlite3.DatabaseError) as garbled:
        sqlite3.connect(damaged).execute("PRAGMA journal_mode")
    assert not _refused_writing(garbled.value) and not _refused_writing(OSError(28, "No space left on device"))
    with pytest.raises(DataFileError, match="not an SQLite file") as opened:
        ResultStore(damaged)
    assert not isinstance(opened.value, StoreNotWritableError)
    with pytest.raises(DataFileError, match="not an SQLite file"):
        ResultStore(damaged, read_only=True)
