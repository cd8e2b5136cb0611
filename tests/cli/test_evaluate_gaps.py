"""``latentid evaluate --run`` on simulated data: the likelihood-gap keys, and only where they apply."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.io import read_dataset
from latentid.data.synthetic import SyntheticGenerator
from latentid.runs import load_run

runner = CliRunner()
GAP_KEYS = ("true_log_likelihood", "true_log_likelihood_se", "elbo", "iw_bound", "likelihood_gap")


def _ok(*args):
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("gaps")
    data = root / "sim.npz"
    _ok("simulate", "--samples", 400, "--depth", 3, "--noise", 0.05, "--seed", 2, "--out", data)
    _ok(
        "fit",
        "--model",
        "vade",
        "--data",
        data,
        "--epochs",
        2,
        "--pretrain-epochs",
        1,
        "--out",
        root / "run",
        "--quiet",
    )
    return root, data


def test_evaluate_run_reports_the_likelihood_gap_in_data_units(fitted):
    root, data = fitted
    payload = json.loads(_ok("evaluate", "--run", root / "run", "--data", data, "--json").stdout)
    out = payload["metrics"]
    assert all(isinstance(out[key], float) for key in GAP_KEYS)
    assert all(payload["scored_on"][key] == "all samples" for key in GAP_KEYS)
    dataset = read_dataset(data)
    truth = SyntheticGenerator.from_arrays(dataset.extras).log_likelihood(dataset.x)
    assert out["true_log_likelihood"] == pytest.approx(truth.mean, abs=1e-9)
    model = load_run(root / "run").model
    assert out["elbo"] == pytest.approx(model.score(dataset.x), abs=1e-6)
    assert out["iw_bound"] > out["elbo"]
    assert out["likelihood_gap"] == pytest.approx(out["true_log_likelihood"] - out["iw_bound"], abs=1e-9)
    assert out["likelihood_gap"] > 0  # two epochs are far from the truth


def test_table_shows_the_gap(fitted):
    root, data = fitted
    table = _ok("evaluate", "--run", root / "run", "--data", data).stdout
    assert "likelihood_gap" in table
    # not a terminal here (80 columns): each metric's row stays one line, its description whole
    assert any("mcc_strong" in line and "a true dim left unmatched counts 0" in line for line in table.splitlines())


def test_no_gap_keys_without_a_run_or_without_a_generator(fitted, tmp_path):
    root, data = fitted
    dataset = read_dataset(data)
    np.save(tmp_path / "z.npy", dataset.z)
    out = json.loads(_ok("evaluate", "--latents", tmp_path / "z.npy", "--data", data, "--json").stdout)["metrics"]
    assert not any(key in out for key in GAP_KEYS)
    np.savez(tmp_path / "plain.npz", x=dataset.x, z=dataset.z, c=dataset.c)  # no generator recorded
    payload = json.loads(_ok("evaluate", "--run", root / "run", "--data", tmp_path / "plain.npz", "--json").stdout)
    out = payload["metrics"]
    assert "affine_r2" in out and not any(key in out for key in GAP_KEYS)
    assert payload["baselines"] == {} and any("does not record its generator" in n for n in payload["notes"])


def test_a_deep_run_on_noiseless_data_says_why_it_has_no_gap(fitted, tmp_path):
    root, _ = fitted
    data = tmp_path / "clean.npz"
    _ok("simulate", "--samples", 400, "--depth", 3, "--noise", 0, "--seed", 2, "--out", data)
    payload = json.loads(_ok("evaluate", "--run", root / "run", "--data", data, "--json").stdout)
    assert not any(key in payload["metrics"] for key in GAP_KEYS)
    assert any("noise 0, where log p(x) is not a density" in note for note in payload["notes"])


def test_a_file_whose_x_was_changed_after_simulate_gets_no_oracle_and_no_gap(fitted, tmp_path):
    """Standardised after simulate, x was scored against the generator that drew the raw x: a likelihood gap of
    -9,784 nats (the fit 'beating' the true log p(x)) and an oracle at strong MCC 0.69, without a word."""
    root, data = fitted
    arrays = dict(np.load(data))
    arrays["x"] = ((arrays["x"] - arrays["x"].mean(0)) / arrays["x"].std(0)).astype(np.float32)
    changed = tmp_path / "standardised.npz"
    np.savez(changed, **arrays)
    payload = json.loads(_ok("evaluate", "--run", root / "run", "--data", changed, "--json").stdout)
    assert not any(key in payload["metrics"] for key in GAP_KEYS)
    assert "oracle" not in payload["baselines"] and "pca" in payload["baselines"]
    assert any("x is not what the file's generator draws" in note for note in payload["notes"]), payload["notes"]

    kept = json.loads(_ok("evaluate", "--run", root / "run", "--data", data, "--json").stdout)  # rows as drawn
    assert "oracle" in kept["baselines"] and "likelihood_gap" in kept["metrics"]
    assert not any("generator draws" in note for note in kept["notes"])


def test_a_noiseless_relu_file_keeps_its_oracle_and_a_standardised_one_loses_it(tmp_path):
    """At noise 0 the MAP of a ReLU f is not exact (misfit up to 1e-3 of x's variance): a limit of 1e-6 took the
    file simulate wrote for a changed one."""
    data = tmp_path / "n.npz"
    _ok("simulate", "--samples", 400, "--noise", 0, "--activation", "relu", "--seed", 3, "--out", data)
    arrays = dict(np.load(data))
    np.save(tmp_path / "z.npy", arrays["z"])
    kept = json.loads(_ok("evaluate", "--data", data, "--latents", tmp_path / "z.npy", "--json").stdout)
    assert "oracle" in kept["baselines"], kept["notes"]
    arrays["x"] = ((arrays["x"] - arrays["x"].mean(0)) / arrays["x"].std(0)).astype(np.float32)
    np.savez(tmp_path / "s.npz", **arrays)
    scored = _ok("evaluate", "--data", tmp_path / "s.npz", "--latents", tmp_path / "z.npy", "--json")
    changed = json.loads(scored.stdout)
    assert "oracle" not in changed["baselines"]
    assert any(n.startswith("no oracle baseline: x is not what") for n in changed["notes"]), changed["notes"]
