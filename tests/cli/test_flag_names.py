"""Errors at the command line name the flag (--latent-dim), never the estimator's parameter (latent_dim)."""

import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.cli._common import flag_names
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
TINY = ["--epochs", "2", "--pretrain-epochs", "1", "--restarts", "1", "--quiet"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, obs_dim=4, seed=1).build()
    save_simulation(path, gen, gen.sample(200))
    return path


@pytest.mark.parametrize(
    ("args", "flag", "name"),
    [
        (["--components", "0"], "--components", "n_components"),
        (["--restarts", "0"], "--restarts", "n_restarts"),
        (["--lr", "-1"], "--lr", "'lr'"),
        (["--latent-dim", "9"], "--latent-dim", "latent_dim"),
        (["--batch-size", "0"], "--batch-size", "batch_size"),
        (["--iw-samples", "0"], "--iw-samples", "iw_samples"),
        (["--pretrain-epochs", "-2"], "--pretrain-epochs", "pretrain_epochs"),
        # the training loop's divergence message names lr and noise_scale
        (["--lr", "1e30", "--pretrain-epochs", "0"], "--noise-scale", "noise_scale"),
    ],
)
def test_fit_errors_name_the_flag(tmp_path, data_file, args, flag, name):
    result = runner.invoke(app, ["fit", "--data", str(data_file), "--out", str(tmp_path / "r"), *TINY, *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    assert flag in result.stderr and name not in result.stderr and "parameter of" not in result.stderr, result.stderr


def test_flag_names_leaves_paths_and_other_words_alone():
    message = "/runs/latent_dim.npz: 'c' missing; lower latent_dim. n_components_extra, latent_dim:components"
    expected = "/runs/latent_dim.npz: 'c' missing; lower --latent-dim. n_components_extra, latent_dim:components"
    assert flag_names(message) == expected


@pytest.mark.parametrize(
    ("command", "args", "flag", "name"),
    [
        ("simulate", ["--latent-dim", "-1"], "--latent-dim", "latent_dim"),
        ("simulate", ["--depth", "0"], "--depth:", "depth:"),
        ("explain", ["--mean-scale", "inf"], "--mean-scale", "mean_scale"),
        ("explain", ["--components", "0"], "--components", "components:"),
    ],
)
def test_simulation_settings_name_the_flag(tmp_path, command, args, flag, name):
    out = ["--out", str(tmp_path / "d.npz")] if command == "simulate" else []
    result = runner.invoke(app, [command, *out, *args])
    assert result.exit_code == 2, result.output
    assert flag in result.stderr and f" {name}" not in result.stderr, result.stderr
