"""Reported study problems: facet data's cluster keys, the level of the linear floors, patience = 0 and
filters on a model or study that no run has."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.errors import InvalidParameterError
from latentid.runs import LINEAR_MODELS, make_model
from latentid.studies.report import _parse_runs, level_text
from latentid.studies.run_one import run_one
from latentid.studies.spec import load_study
from latentid.studies.store import OUTSIDE_THEORY_MODELS, ResultStore

FACETS = """
name = "facets"
seeds = 1
[data]
facets = "2:3,1:2"
covariance = "diag"
obs_dim = 8
samples = 300
[[models]]
name = "gmm"
"""
PLAIN = """
name = "plain"
seeds = 1
[data]
latent_dim = 2
obs_dim = 5
components = 3
samples = 200
[[models]]
name = "pca"
[[models]]
name = "vade"
options = { epochs = 1, pretrain_epochs = 1, n_restarts = 1, patience = 0 }
"""


def _study(tmp_path, text):
    path = tmp_path / "study.toml"
    path.write_text(text)
    return load_study(path)


def test_facet_data_records_per_facet_cluster_keys_and_why_cluster_acc_is_none(tmp_path):
    (config,) = _study(tmp_path, FACETS).expand()
    assert "cluster_acc" in config.metrics and "nmi" in config.metrics  # the default metrics
    row = run_one(config.to_json(), threads=1)
    assert row["status"] == "finished", row["error"]
    metrics = row["metrics"]
    assert metrics["cluster_acc"] is None and metrics["nmi"] is None
    # gmm has one label column for two true facets: one facet is scored, the other has no key at all
    scored = [j for j in (0, 1) if f"facet{j}_cluster_acc" in metrics]
    assert len(scored) == 1 and f"facet{scored[0]}_nmi" in metrics
    assert metrics["facet_cluster_acc_mean"] == metrics[f"facet{scored[0]}_cluster_acc"]
    assert all(v is not None for k, v in metrics.items() if k.startswith("facet")), metrics
    note = row["error"]
    assert "cluster_acc, nmi" in note and "2 facets" in note and f"true facet {1 - scored[0]}" in note
    assert row["level"] == "none"  # gmm: a linear floor, outside the theory


def test_linear_floors_have_no_level_in_the_store_results_and_report(tmp_path):
    assert set(OUTSIDE_THEORY_MODELS) == set(LINEAR_MODELS)
    configs = {c.model: c for c in _study(tmp_path, PLAIN).expand()}
    pca = run_one(configs["pca"].to_json(), threads=1)
    assert pca["status"] == "finished" and pca["level"] == "none"
    store_path = tmp_path / "res.db"
    with ResultStore(store_path) as store:
        store.record({k: v for k, v in pca.items() if k not in ("latents", "warnings")})
    with sqlite3.connect(store_path) as db:
        assert db.execute("SELECT level FROM runs").fetchone()[0] == "none"
        db.execute("UPDATE runs SET level = '2'")  # a store written by an older latentid
    listed = CliRunner().invoke(app, ["results", str(store_path), "--where", "model=pca", "--format", "json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout)["runs"][0]["level"] == "none"
    with ResultStore(store_path) as store:
        (run,) = _parse_runs(store.rows())  # what the report reads
    assert level_text(run.level) == "outside the theory"


def test_patience_0_in_a_study_means_no_early_stopping(tmp_path):
    configs = {c.model: c for c in _study(tmp_path, PLAIN).expand()}
    vade = configs["vade"]
    assert vade.options["patience"] == 0  # kept as written, like the CLI flag
    assert vade.estimator_options()["patience"] is None  # as `latentid fit --patience 0`
    assert make_model("vade", **vade.estimator_options()).patience is None


def test_a_model_or_study_that_no_run_has_is_named(tmp_path):
    (config,) = _study(tmp_path, FACETS).expand()
    row = {**run_one(config.to_json(), threads=1)}
    row.pop("latents"), row.pop("warnings")
    store_path = tmp_path / "res.db"
    with ResultStore(store_path) as store:
        store.record(row)
        with pytest.raises(InvalidParameterError, match=r"no run has model = 'gmn' \(models in the store: gmm\); "):
            store.rows(where="model=gmn")
        with pytest.raises(InvalidParameterError, match=r"did you mean 'facets'\?"):
            store.rows(study="facet")
        assert store.rows(where="seconds>1e9") == []  # a numeric filter matching nothing: an empty result
        assert store.rows(where="model!=foo") and store.rows(where="model=gmm")
    for args in (["--where", "model=foo"], ["--study", "nope"], ["--where", "study=nope"]):
        result = CliRunner().invoke(app, ["results", str(store_path), *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
        assert "no run has" in result.stderr
    empty = CliRunner().invoke(app, ["results", str(store_path), "--where", "seconds>1e9"])
    assert empty.exit_code == 0 and "0 run(s)" in empty.stdout
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "res.db"  # a title longer than the table is wide
    deep.parent.mkdir()
    shutil.copy(store_path, deep)
    listed = CliRunner().invoke(app, ["results", str(deep), "--where", "seconds>1e9"])
    assert listed.exit_code == 0 and f"{deep}: 0 run(s)\n" in listed.stdout, listed.stdout


def test_results_and_report_read_the_default_store_when_none_is_named(tmp_path, monkeypatch):
    (config,) = _study(tmp_path, FACETS).expand()
    row = run_one(config.to_json(), threads=1)
    row.pop("latents"), row.pop("warnings")
    with ResultStore(tmp_path / "results.db") as store:  # what 'experiment run' writes without --store
        store.record(row)
    monkeypatch.chdir(tmp_path)
    listed = CliRunner().invoke(app, ["results", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert [r["key"] for r in json.loads(listed.stdout)["runs"]] == [row["key"]]
    assert CliRunner().invoke(app, ["report", "--out", "rep"]).exit_code == 0
    assert (tmp_path / "rep" / "index.html").exists()
    again = CliRunner().invoke(app, ["report", "--out", "rep"])
    assert again.exit_code == 2 and "already holds a report" in again.stderr
    # A user's own index.html was called "a report" too, and --force was the only advice.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("<html>my notes</html>")
    refused = CliRunner().invoke(app, ["report", "--out", "mine"])
    assert refused.exit_code == 2 and "holds an index.html that latentid did not write" in refused.stderr
    assert (tmp_path / "mine" / "index.html").read_text() == "<html>my notes</html>"


LEVELS = """
name = "levels"
seeds = 1
[data]
latent_dim = 2
obs_dim = 5
components = 6
covariance = "full"
depth = 2
samples = 240
[[models]]
name = "vae"
options = { epochs = 1 }
[[models]]
name = "vade"
options = { epochs = 1, pretrain_epochs = 1, n_restarts = 1, covariance = "diag" }
"""


def test_the_stored_level_is_the_fitted_models_as_explain_run_gives_it(tmp_path):
    # Before: the data setting's level (2, full covariances) was stored for every deep model: a VAE too.
    levels = {}
    for config in _study(tmp_path, LEVELS).expand():
        row = run_one(config.to_json(), threads=1)
        assert row["status"] == "finished", row["error"]
        levels[config.model] = row["level"]
    assert levels["vae"] == "vanilla"
    assert levels["vade"] == "3"  # diagonal components, 6 >= 2m + 1: level 3, where the setting's own is 2


def test_requested_metrics_a_run_cannot_have_are_named_with_why(tmp_path):
    # Before: on MNIST, PCA and iVAE runs finished with every metric None and no word why.
    (pca, _vade) = _study(tmp_path, PLAIN).expand()
    row = run_one(pca.to_json(), threads=1)
    assert row["status"] == "finished" and row["metrics"]["affine_r2"] is not None
    assert row["error"].startswith("not measured: cluster_acc, nmi, likelihood_gap (")
    assert "pca has no clusters to score" in row["error"] and "likelihood gaps need simulated data" in row["error"]
