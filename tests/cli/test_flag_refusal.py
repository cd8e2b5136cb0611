"""Flags that do not apply to the chosen model or prior are refused, never silently ignored."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
FAST = ["--epochs", "1", "--batch-size", "128", "--quiet", "--device", "cpu"]

# Each VaDE-only option of fit, once with its default value (typed explicitly) and once with another.
VADE_ONLY = [
    ("--components", "4"),
    ("--components", "3"),
    ("--covariance", "full"),
    ("--covariance", "diag"),
    ("--pretrain-epochs", "100"),
    ("--pretrain-epochs", "0"),
    ("--pretrain-objective", "vae"),
    ("--pretrain-objective", "autoencoder"),
    ("--init-selection", "likelihood"),
    ("--init-selection", "consensus"),
]
# Each option of simulate's Gaussian-mixture prior, likewise.
MIXTURE_ONLY = [
    ("--components", "4"),
    ("--components", "1"),
    ("--covariance", "full"),
    ("--covariance", "diag"),
    ("--weights", "uniform"),
    ("--weights", "dirichlet"),
    ("--mean-scale", "2.0"),
    ("--mean-scale", "3"),
]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_refused(result, *flags, context):
    assert result.exit_code == 2, result.output
    line = result.stderr
    assert line.startswith("error: ") and line.count("\n") == 1 and "Traceback" not in result.output, line
    assert all(flag in line for flag in flags) and f"not apply to {context}" in line, line


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, seed=3).build()
    save_simulation(path, gen, gen.sample(300))
    return path


@pytest.mark.parametrize(("flag", "value"), VADE_ONLY)
def test_fit_vae_refuses_each_vade_only_flag(data_file, tmp_path, flag, value):
    out = tmp_path / "run"
    result = run("fit", "--model", "vae", "--data", data_file, "--out", out, flag, value, *FAST)
    assert_refused(result, flag, context="--model vae")
    assert not out.exists()


def test_fit_vae_names_every_refused_flag(data_file, tmp_path):
    args = ["--covariance", "diag", "--pretrain-epochs", "5"]
    result = run("fit", "--model", "vae", "--data", data_file, "--out", tmp_path / "r", *args, *FAST)
    assert_refused(result, "--covariance", "--pretrain-epochs", context="--model vae")


def test_fit_vae_without_them_runs(data_file, tmp_path):
    out = tmp_path / "vae"
    result = run("fit", "--model", "vae", "--data", data_file, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    assert "n_components" not in json.loads((out / "run.json").read_text())["params"]


def test_fit_vade_takes_them_and_defaults_them(data_file, tmp_path):
    given = tmp_path / "given"
    flags = ["--components", 3, "--covariance", "diag", "--pretrain-epochs", 1, "--pretrain-objective", "autoencoder"]
    assert run("fit", "--data", data_file, "--out", given, *flags, *FAST).exit_code == 0
    params = json.loads((given / "run.json").read_text())["params"]
    assert (params["n_components"], params["covariance"]) == (3, "diag")
    assert (params["pretrain_epochs"], params["pretrain_objective"]) == (1, "autoencoder")
    # Not given: the estimator's own defaults, as --help shows them (pretraining kept to 1 epoch for speed).
    defaulted = tmp_path / "defaulted"
    assert run("fit", "--data", data_file, "--out", defaulted, "--pretrain-epochs", 1, *FAST).exit_code == 0
    params = json.loads((defaulted / "run.json").read_text())["params"]
    assert (params["n_components"], params["covariance"], params["pretrain_objective"]) == (4, "full", "vae")


@pytest.mark.parametrize(("flag", "value"), MIXTURE_ONLY)
def test_simulate_standard_normal_refuses_each_mixture_flag(tmp_path, flag, value):
    out = tmp_path / "d.npz"
    result = run("simulate", "--prior", "standard-normal", "--samples", 50, "--out", out, flag, value)
    assert_refused(result, flag, context="--prior standard-normal")
    assert not out.exists()


def test_simulate_standard_normal_names_every_refused_flag(tmp_path):
    args = ["--weights", "dirichlet", "--mean-scale", "3"]
    result = run("simulate", "--prior", "standard-normal", "--samples", 50, "--out", tmp_path / "d.npz", *args)
    assert_refused(result, "--weights", "--mean-scale", context="--prior standard-normal")


def test_simulate_standard_normal_without_them_runs(tmp_path):
    out = tmp_path / "d.npz"
    assert run("simulate", "--prior", "standard-normal", "--samples", 50, "--out", out).exit_code == 0
    assert np.load(out)["c"].max() == 0


def test_simulate_gmm_takes_them_and_defaults_them(tmp_path):
    explicit, implicit = tmp_path / "explicit.npz", tmp_path / "implicit.npz"
    defaults = ["--components", 4, "--covariance", "full", "--weights", "uniform", "--mean-scale", 2.0]
    assert run("simulate", "--samples", 200, "--out", explicit, *defaults).exit_code == 0
    assert run("simulate", "--samples", 200, "--out", implicit).exit_code == 0
    assert explicit.read_bytes() == implicit.read_bytes()  # not given = the real defaults
    other = tmp_path / "other.npz"
    assert run("simulate", "--samples", 200, "--out", other, "--components", 3, "--mean-scale", 3).exit_code == 0
    spec = json.loads(str(np.load(other)["spec_json"]))
    assert (spec["components"], spec["mean_scale"]) == (3, 3.0)


def test_fit_vade_keeps_the_init_selection_it_was_given(data_file, tmp_path):
    out = tmp_path / "run"
    result = run("fit", "--data", data_file, "--out", out, "--init-selection", "consensus", "--restarts", 1, *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["params"]["init_selection"] == "consensus"
    assert json.loads((out / "model" / "config.json").read_text())["params"]["init_selection"] == "consensus"
