"""Runs a store holds with metrics scored under an earlier definition (latentid.metric_versions): a study that
asks for such a metric fits them again and replaces the stale values; one that does not, leaves them."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.metric_versions import METRICS_VERSION, REDEFINED_IN, scored_version, stale_metrics

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
STALE = 9.0  # no correlation reads this: a value the rerun must replace


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def study(tmp_path, name, metrics):
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(name=name, metrics=json.dumps(metrics)))
    return path


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
