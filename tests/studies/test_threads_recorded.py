"""Each run's torch thread count is stored (a deep fit's last digits depend on it), shown where runs differ in it,
and a store written before the column existed is migrated, or read as it is by a reader who may not write it."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from latentid.cli import app
from latentid.studies.run_one import run_one
from latentid.studies.spec import load_study
from latentid.studies.store import ResultStore, rows_to_table

STUDY = """
name = "t"
seeds = 1
metrics = ["affine_r2"]
[data]
latent_dim = 2
obs_dim = 5
components = 3
samples = 200
[[models]]
name = "vae"
options = {{ epochs = 1, batch_size = 64 }}
[[models]]
name = "pca"
"""


def test_a_deep_run_records_its_threads_and_a_linear_floor_none(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(STUDY.format())
    vae, pca = load_study(path).expand()
    one, two = run_one(vae.to_json(), threads=1), run_one(vae.to_json(), threads=2)
    floor = run_one(pca.to_json(), threads=2)
    assert (one["threads"], two["threads"], floor["threads"]) == (1, 2, None)

    with ResultStore(tmp_path / "r.db") as store:  # the same run fitted on two machines, say, in two stores merged
        for row in (one, floor, {**two, "key": "elsewhere"}):
            store.record({k: v for k, v in row.items() if k != "latents"})
    reported = CliRunner().invoke(app, ["report", str(tmp_path / "r.db"), "--out", str(tmp_path / "report")])
    assert reported.exit_code == 0, reported.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "torch threads of the deep models&#x27; fits" in page or "torch threads of the deep models' fits" in page
    assert "1 (1 run), 2 (1 run): a fit&#x27;s last digits depend" in page or "1 (1 run), 2 (1 run): a fit's" in page


def _row(key: str, threads: int | None) -> dict:
    return {"key": key, "status": "finished", "config": {"model": "vae", "seed": 0}, "threads": threads}


def test_the_table_shows_threads_only_where_the_runs_differ_in_them(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        store.record(_row("a", 1))
        store.record(_row("b", 1))
        same = store.rows()
        store.record(_row("c", 2))
        mixed = store.rows()
    assert "threads" not in rows_to_table(same)[0]
    columns, cells = rows_to_table(mixed)
    assert [cell[columns.index("threads")] for cell in cells] == [1, 1, 2]
    assert [row["key"] for row in ResultStore(tmp_path / "r.db").rows(where="threads=2")] == ["c"]


def _version_3_store(path):
    with ResultStore(path) as store:
        store.record(_row("old", None))
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE runs DROP COLUMN threads")
        db.execute("PRAGMA user_version = 3")


def test_a_version_3_store_gains_the_column_and_keeps_its_runs(tmp_path):
    path = tmp_path / "v3.db"
    _version_3_store(path)
    with ResultStore(path, read_only=True) as reader:  # read as it is, by one who may not write it
        assert [(row["key"], row["threads"]) for row in reader.rows()] == [("old", None)]
    with ResultStore(path) as store:
        store.record(_row("new", 1))
        assert [(row["key"], row["threads"]) for row in store.rows()] == [("old", None), ("new", 1)]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 4
        assert json.loads(db.execute("SELECT config FROM runs WHERE key = 'old'").fetchone()[0])["model"] == "vae"
