"""A study that asks for metrics its runs were stored without: those runs are fitted again, scored on both
studies' metrics, and every study that asked for a run finds it by its name (results, report, filters).
A store written before the run_studies table is migrated when opened. Runs holding metrics scored under an
earlier definition (latentid.metric_versions) are fitted again by a study that asks for such a metric, and left
(and named as such) by one that does not."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.metric_versions import METRICS_VERSION, REDEFINED_IN, scored_version, stale_metrics
from latentid.studies.store import ResultStore

runner = CliRunner()

STUDY = """
name = "{name}"
seeds = 2
metrics = {metrics}
[data]
latent_dim = 2
obs_dim = 5
components = 3
samples = 200
[[models]]
name = "pca"
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def study(tmp_path, name, metrics):
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(name=name, metrics=json.dumps(metrics)))
    return path


def stored(store) -> dict:
    with sqlite3.connect(store) as db:
        return {key: (study, json.loads(m)) for key, study, m in db.execute("SELECT key, study, metrics FROM runs")}


def test_new_metrics_are_computed_and_every_study_finds_its_runs(tmp_path):
    store = tmp_path / "r.db"
    first = run("experiment", "run", study(tmp_path, "s", ["affine_r2"]), "--store", store, "--quiet")
    assert first.exit_code == 0, first.output
    assert {tuple(m) for _, m in stored(store).values()} == {("affine_r2",)}

    second = run("experiment", "run", study(tmp_path, "s2", ["affine_r2", "mcc_strong"]), "--store", store, "--quiet")
    assert second.exit_code == 0, second.output
    assert "2 runs in" in second.stderr and "lack mcc_strong" in second.stderr and "fitted again" in second.stderr
    assert "2 fitted again for metrics they lacked" in second.stdout
    rows = stored(store)
    assert len(rows) == 2 and all(m["mcc_strong"] is not None and "affine_r2" in m for _, m in rows.values())

    for name in ("s", "s2"):  # the study that ran a run and the one that found it done both find it
        listed = run("results", store, "--study", name, "--format", "json")
        assert listed.exit_code == 0, listed.output
        runs = json.loads(listed.stdout)["runs"]
        assert sorted(r["key"] for r in runs) == sorted(rows) and all(r["studies"] == ["s", "s2"] for r in runs)
        assert run("results", store, "--where", f"study={name}", "--format", "csv").stdout.count("\n") == 3
        report = run("report", store, "--study", name, "--out", tmp_path / f"report-{name}")
        assert report.exit_code == 0, report.output
        page = (tmp_path / f"report-{name}" / "index.html").read_text()
        assert f"Study report: {name}" in page and "s, s2" in page  # the title, and the summary's studies

    again = run("experiment", "run", study(tmp_path, "s", ["affine_r2"]), "--store", store, "--quiet")
    assert again.exit_code == 0 and "2 were already done" in again.stdout and "fitted again" not in again.stderr
    assert stored(store) == rows  # nothing recomputed: s asks for nothing the runs lack

    # A third study's metric is added to those the rows had: nothing the store held is lost.
    third = run("experiment", "run", study(tmp_path, "s3", ["nmi"]), "--store", store, "--quiet")
    assert third.exit_code == 0, third.output
    assert all(set(m) >= {"affine_r2", "mcc_strong", "nmi"} for _, m in stored(store).values())


def test_a_run_another_study_finished_is_recorded_as_this_studys_too(tmp_path):
    store = tmp_path / "r.db"
    assert run("experiment", "run", study(tmp_path, "s", ["affine_r2"]), "--store", store, "--quiet").exit_code == 0
    same = run("experiment", "run", study(tmp_path, "same", ["affine_r2"]), "--store", store, "--quiet")
    assert same.exit_code == 0 and "2 were already done" in same.stdout
    listed = run("results", store, "--study", "same", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)["runs"]) == 2
    missing = run("results", store, "--study", "nope")
    assert missing.exit_code == 2 and "studies in the store: s, same" in missing.stderr


def test_a_failed_refit_keeps_the_finished_row(tmp_path):
    store = tmp_path / "r.db"
    with ResultStore(store) as opened:
        config = {"model": "pca", "seed": 0, "data": {}, "options": {}, "metrics": ["affine_r2"]}
        opened.record({"key": "k", "study": "s", "config": config, "status": "finished", "metrics": {"affine_r2": 1}})
        assert opened.record({"key": "k", "study": "s2", "config": config, "status": "failed"}) is False
        (row,) = opened.rows(study="s2")
        assert row["status"] == "finished" and row["metrics"] == {"affine_r2": 1} and row["studies"] == ["s", "s2"]


V1_SCHEMA = """
CREATE TABLE runs (key TEXT PRIMARY KEY, study TEXT, label TEXT, config TEXT,
    status TEXT NOT NULL CHECK (status IN ('finished', 'failed', 'skipped')), metrics TEXT, level TEXT,
    error TEXT, seconds REAL, started TEXT, finished TEXT, versions TEXT, artifacts TEXT, host TEXT)
"""


def test_a_version_1_store_is_migrated_and_its_runs_keep_their_study(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(V1_SCHEMA)
    config = json.dumps({"model": "pca", "seed": 0, "data": {}, "options": {}, "metrics": ["affine_r2"]})
    db.execute(
        "INSERT INTO runs (key, study, config, status, metrics) VALUES ('k', 'old', ?, 'finished', '{}')", (config,)
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with ResultStore(path) as opened:
        (row,) = opened.rows(study="old")
        assert row["key"] == "k" and row["studies"] == ["old"]
        opened.add_study(["k"], "new")
        assert [r["key"] for r in opened.rows(study="new")] == ["k"]
        assert [r["key"] for r in opened.rows(where="study=new")] == ["k"]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    assert sorted(db.execute("SELECT key, study FROM run_studies")) == [("k", "new"), ("k", "old")]
    db.close()


def test_a_version_2_store_gains_the_warnings_column_and_keeps_its_runs(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.execute(V1_SCHEMA)
    db.execute("CREATE TABLE run_studies (key TEXT NOT NULL, study TEXT NOT NULL, PRIMARY KEY (key, study))")
    config = json.dumps({"model": "pca", "seed": 0, "data": {}, "options": {}, "metrics": ["affine_r2"]})
    db.execute(
        "INSERT INTO runs (key, study, config, status, metrics) VALUES ('k', 's', ?, 'finished', '{}')", (config,)
    )
    db.execute("INSERT INTO run_studies VALUES ('k', 's')")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    with ResultStore(path) as opened:
        (row,) = opened.rows()
        assert row["key"] == "k" and row["warnings"] is None
        opened.record({"key": "k2", "status": "finished", "warnings": ["VaDE left latent dimension 1 inactive"]})
        assert opened.rows(where="key=k2")[0]["warnings"] == ["VaDE left latent dimension 1 inactive"]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    db.close()


STALE = 9.0  # no correlation reads this: a value the rerun must replace


def rows(store) -> dict:
    with sqlite3.connect(store) as db:
        return {k: (json.loads(m), json.loads(v)) for k, m, v in db.execute("SELECT key, metrics, versions FROM runs")}


def as_version_1(store) -> None:
    """The store as a latentid before metric versions wrote it: no "metrics" version, mcc_strong stale."""
    with sqlite3.connect(store) as db:
        for key, (metrics, versions) in rows(store).items():
            versions.pop("metrics")
            metrics["mcc_strong"] = STALE
            db.execute(
                "UPDATE runs SET metrics = ?, versions = ? WHERE key = ?",
                (json.dumps(metrics), json.dumps(versions), key),
            )


def test_runs_record_the_metrics_version_and_stale_scores_are_fitted_again(tmp_path):
    store = tmp_path / "r.db"
    first = run("experiment", "run", study(tmp_path, "s", ["affine_r2", "mcc_strong"]), "--store", store, "--quiet")
    assert first.exit_code == 0, first.output
    assert all(v["metrics"] == str(METRICS_VERSION) for _, v in rows(store).values())
    as_version_1(store)

    # A study asking only for a metric whose definition did not change finds the runs done, stale values and all.
    other = run("experiment", "run", study(tmp_path, "s2", ["affine_r2"]), "--store", store, "--quiet")
    assert other.exit_code == 0 and "2 were already done" in other.stdout and "fitted again" not in other.stderr
    assert all(m["mcc_strong"] == STALE for m, _ in rows(store).values())

    listed = run("results", store)  # the table says which runs hold such scores; --format json names them
    assert listed.exit_code == 0 and "2 runs hold scores computed under an earlier definition" in listed.stdout
    stale = json.loads(run("results", store, "--format", "json").stdout)["stale_scores"]
    assert stale == {key: ["mcc_strong"] for key in rows(store)}
    csv = run("results", store, "--format", "csv")
    assert "earlier definition" in csv.stderr and "earlier definition" not in csv.stdout
    report = run("report", store, "--out", tmp_path / "report")
    assert report.exit_code == 0, report.output
    page = (tmp_path / "report" / "index.html").read_text()
    assert "scored under an earlier metric definition" in page and "mcc_strong (2 runs)" in page

    again = run("experiment", "run", study(tmp_path, "s", ["affine_r2", "mcc_strong"]), "--store", store, "--quiet")
    assert again.exit_code == 0, again.output
    assert "hold mcc_strong scored under an earlier definition" in again.stderr
    assert "2 fitted again for metrics scored under an earlier definition" in again.stdout
    for metrics, versions in rows(store).values():
        assert -1 <= metrics["mcc_strong"] <= 1 and versions["metrics"] == str(METRICS_VERSION)
    assert run("report", store, "--out", tmp_path / "report", "--force").exit_code == 0
    assert "earlier metric definition" not in (tmp_path / "report" / "index.html").read_text()
    assert "earlier definition" not in run("results", store).stdout


def test_a_row_without_a_version_was_scored_under_version_1():
    assert scored_version(None) == scored_version({}) == scored_version({"metrics": "x"}) == 1
    assert scored_version({"metrics": "2"}) == 2
    scores = {"mcc_strong": 0.5, "affine_r2": 0.9, "mcc_weak": None}  # None: not measured (no true z), not stale
    assert stale_metrics(scores, 1) == ["mcc_strong"]
    assert stale_metrics(scores, METRICS_VERSION) == []
    assert max(REDEFINED_IN.values()) == METRICS_VERSION


def test_a_stale_score_is_not_kept_when_the_run_is_recorded_again(tmp_path):
    from latentid.studies.store import ResultStore

    config = {"model": "pca", "seed": 0, "metrics": ["affine_r2"], "data": {}, "options": {}}

    def row(metrics, versions):
        return {
            "key": "k",
            "study": "s",
            "label": "k",
            "config": config,
            "status": "finished",
            "metrics": metrics,
            "versions": versions,
        }

    with ResultStore(tmp_path / "r.db") as store:
        store.record(row({"affine_r2": 0.5, "mcc_strong": STALE, "nmi": 0.3}, {"latentid": "0.1"}))
        store.record(row({"affine_r2": 0.6}, {"latentid": "0.2", "metrics": str(METRICS_VERSION)}))
        (stored,) = store.rows()
    # nmi's definition did not change: kept; mcc_strong's did, and the row now says the current version
    assert stored["metrics"] == {"affine_r2": 0.6, "nmi": 0.3}

    with ResultStore(tmp_path / "none.db") as store:  # real data: nothing measured against z, nothing to refit
        store.record(row({"affine_r2": None, "mcc_strong": None}, {"latentid": "0.1"}))
        assert store.stored(["k"])["k"]["stale"] == set()


@pytest.mark.parametrize("name", ["mcc_strong", "mcc_spearman", "mcc_weak", "mcc_weak_a_to_b", "mcc_weak_b_to_a"])
def test_every_metric_redefined_in_version_2_is_stale_in_a_version_1_row(name):
    assert stale_metrics({name: 0.5}, 1) == [name] and stale_metrics({name: 0.5}, 2) == []


def test_a_refit_for_one_metric_scores_anew_the_stale_ones_another_study_asked_for(tmp_path):
    """The refit asks for the metrics the stored config asked for too: without them, the stale mcc_weak was dropped
    from the row (not kept as current, and not scored anew either)."""
    store = tmp_path / "r.db"
    assert run("experiment", "run", study(tmp_path, "s", ["mcc_weak"]), "--store", store, "--quiet").exit_code == 0
    with sqlite3.connect(store) as db:  # as version 1 wrote it
        for key, (metrics, versions) in rows(store).items():
            versions.pop("metrics")
            db.execute(
                "UPDATE runs SET metrics = ?, versions = ? WHERE key = ?",
                (json.dumps({**metrics, "mcc_weak": STALE}), json.dumps(versions), key),
            )
    again = run("experiment", "run", study(tmp_path, "s2", ["affine_r2"]), "--store", store, "--quiet")
    assert again.exit_code == 0 and "lack affine_r2" in again.stderr, again.output
    for metrics, _ in rows(store).values():
        assert -1 <= metrics["mcc_weak"] <= 1 and "affine_r2" in metrics
