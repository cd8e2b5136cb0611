"""explain --run repeats a fit's inactive-dimension warning (recorded in run.json) beside the level."""

import json

from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()


def _fit(data, out, *extra):
    result = runner.invoke(app, [str(a) for a in ["fit", "--data", data, "--out", out, "--quiet", *extra]])
    assert result.exit_code == 0, result.output
    return json.loads((out / "run.json").read_text())


def test_a_collapsed_fit_is_flagged_beside_its_level(small_simulation, tmp_path):
    # Noise 10,000 times the data's scale: x says nothing, the posterior stays at the prior.
    info = _fit(small_simulation, tmp_path / "run", "--noise-scale", 1e4, "--epochs", 3, "--pretrain-epochs", 1)
    assert any("inactive" in w for w in info["warnings"])
    result = runner.invoke(app, ["explain", "--run", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert any(n.startswith("Warning (recorded at fit time): VaDE left latent dimension(s) 0 (") for n in notes), notes


def test_a_fit_without_that_warning_gets_no_such_note(small_simulation, tmp_path):
    info = _fit(small_simulation, tmp_path / "run", "--model", "pca")
    assert not info["warnings"]
    result = runner.invoke(app, ["explain", "--run", str(tmp_path / "run"), "--json"])
    assert not any("recorded at fit time" in n for n in json.loads(result.stdout)["notes"])


def test_an_ivae_fit_with_a_rare_label_is_flagged_beside_its_level(small_simulation, tmp_path):
    import numpy as np

    data = dict(np.load(small_simulation))
    data["c"] = data["c"].copy()
    data["c"][0] = data["c"].max() + 1  # a label on one row
    rare = tmp_path / "rare.npz"
    np.savez(rare, **data)
    info = _fit(rare, tmp_path / "run", "--model", "ivae", "--aux", "c", "--epochs", 2)
    assert any(w.startswith("u has labels with fewer than 5 rows") for w in info["warnings"]), info["warnings"]
    notes = json.loads(runner.invoke(app, ["explain", "--run", str(tmp_path / "run"), "--json"]).stdout)["notes"]
    assert any(n.startswith("Warning (recorded at fit time): u has labels with fewer than 5 rows") for n in notes)


def test_a_model_of_a_higher_level_than_its_data_is_told_of_the_data(tmp_path):
    """A diagonal VaDE fitted to full-covariance data said level 3 (permutation and scaling) with no word that the
    data's own generator reaches level 2: a misspecified model recovers their z up to an affine map at best."""
    data = tmp_path / "full.npz"
    simulate = ["simulate", "--samples", 400, "--covariance", "full", "--components", 4, "--depth", 2, "--seed", 1]
    assert runner.invoke(app, [str(a) for a in [*simulate, "--out", data]]).exit_code == 0
    fitted = ("--covariance", "diag", "--components", 5, "--epochs", 2, "--pretrain-epochs", 1, "--restarts", 1)
    _fit(data, tmp_path / "diag", *fitted)
    verdict = json.loads(runner.invoke(app, ["explain", "--run", str(tmp_path / "diag"), "--json"]).stdout)
    said = " ".join(verdict["notes"])
    assert verdict["level"] == 3 and "come from a generator of level 2" in said and "affine map at best" in said
    _fit(data, tmp_path / "full", "--covariance", "full", "--components", 4, "--epochs", 2, "--pretrain-epochs", 1)
    same = json.loads(runner.invoke(app, ["explain", "--run", str(tmp_path / "full"), "--json"]).stdout)
    assert same["level"] == 2 and "come from a generator" not in " ".join(same["notes"])
