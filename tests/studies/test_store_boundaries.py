"""The store's boundaries a mutation study found unguarded: lookups across query chunks, the schema versions it
reads, writes or refuses, Bernoulli runs' level, and ordering filters on booleans."""

from __future__ import annotations

import sqlite3

import pytest

from latentid.errors import DataFileError
from latentid.studies import store as store_module
from latentid.studies.store import SCHEMA_VERSION, ResultStore, theory_level


def config(model: str = "vade", **options) -> dict:
    return {"study": "s", "model": model, "seed": 0, "data": {"depth": 1}, "options": options, "metrics": []}


def row(key: str, **kw) -> dict:
    return {"key": key, "study": "s", "label": key, "config": config(), "status": "finished", "seconds": 1.0, **kw}


def test_every_key_is_found_across_query_chunks(tmp_path, monkeypatch):
    # one key per chunk boundary was left unlooked-up: that run was fitted again on every rerun
    monkeypatch.setattr(store_module, "_CHUNK", 3)
    keys = [f"k{i}" for i in range(8)]
    with ResultStore(tmp_path / "r.db") as store:
        for key in keys:
            store.record(row(key))
        assert set(store.stored(keys)) == set(keys)
        assert store.finished_keys(keys) == set(keys)


def test_a_store_of_the_next_schema_version_is_refused_and_left_as_it_is(tmp_path):
    path = tmp_path / "newer.db"
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DataFileError, match=f"schema version {SCHEMA_VERSION + 1}"):
        ResultStore(path)
    with sqlite3.connect(path) as db:  # not stamped back to this version's
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


def test_the_oldest_schema_read_as_it_is_opens_read_only(tmp_path):
    path = tmp_path / "v3.db"
    with ResultStore(path) as store:
        store.record(row("a", threads=2))
    with sqlite3.connect(path) as db:  # as version 3 wrote it: no threads column
        db.execute("ALTER TABLE runs DROP COLUMN threads")
        db.execute(f"PRAGMA user_version = {store_module.OLDEST_READABLE_AS_IS}")
    with ResultStore(path, read_only=True) as opened:
        (read,) = opened.rows()
    assert read["key"] == "a" and read["threads"] is None


def test_a_bernoulli_runs_level_is_outside_the_theory():
    assert theory_level(config("vade", likelihood="bernoulli"), "2") == "none"
    assert theory_level(config("vade", likelihood="gaussian"), "2") == "2"
    assert theory_level(config("pca"), "3") == "none"


def test_an_ordering_filter_matches_no_boolean(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        store.record(row("w", config=config("pca", whiten=True)))
        store.record(row("n", config=config("pca", whiten=2)))
        assert [r["key"] for r in store.rows("options.whiten>0")] == ["n"]


def test_a_skipped_run_is_done_and_a_failed_one_is_tried_again(tmp_path):
    from latentid.studies.spec import load_study
    from latentid.studies.sweep import pending_runs

    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nseeds = 3\nmetrics = ["affine_r2"]\n[data]\nsamples = 200\n[[models]]\nname = "pca"\n')
    study = load_study(path)
    keys = [config.key for config in study.expand()]
    with ResultStore(tmp_path / "r.db") as store:
        store.record({**row(keys[0]), "status": "skipped", "error": "not for this data"})
        store.record({**row(keys[1]), "status": "failed", "error": "boom"})
        plan = pending_runs(study, store)
    assert plan.done == [keys[0]] and [config.key for config in plan.todo] == keys[1:]
