"""explain --run judges "non-degenerate" against the fitted prior's spread: a component squeezed flat next to
the others passes with a warning, not a tick."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.models.loading import load_model
from latentid.theory import NEAR_DEGENERATE_RATIO

runner = CliRunner()
CHECK = "components non-degenerate"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    gen = SyntheticSpec.create(depth=2, obs_dim=4, seed=2).build()
    save_simulation(root / "d.npz", gen, gen.sample(200))
    args = ["--epochs", "1", "--pretrain-epochs", "1", "--restarts", "1", "--quiet"]
    result = runner.invoke(app, ["fit", "--data", str(root / "d.npz"), "--out", str(root / "run"), *args])
    assert result.exit_code == 0, result.output
    return root / "run"


def _check(run):
    result = runner.invoke(app, ["explain", "--run", str(run), "--json"])
    assert result.exit_code == 0, result.output
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}[CHECK]


def _shrink(run, factor):
    """Scale component 0's covariance by ``factor`` (the others set to the identity) and save the model again."""
    model = load_model(run / "model")
    k, m = model.means_.shape
    cov = np.stack([np.eye(m)] * k)
    cov[0] = factor * np.eye(m)
    model.prior_.set_parameters(model.weights_, model.means_, cov)
    model.save(run / "model")
    return model


def test_a_healthy_fit_gets_a_tick(run_folder):
    check = _check(run_folder)
    assert check["passed"] is True and check["warning"] is None
    assert check["figures"]["eigenvalue_ratio"] >= NEAR_DEGENERATE_RATIO


def test_a_squeezed_component_gets_a_warning_not_a_tick(run_folder):
    _shrink(run_folder, 1e-7)  # diag(L) floors at 1e-3: the eigenvalue is about 1e-6 of the others' 1
    check = _check(run_folder)
    assert check["passed"] is True and "component 0 is nearly degenerate" in check["warning"]
    assert check["figures"]["eigenvalue_ratio"] < NEAR_DEGENERATE_RATIO
    table = runner.invoke(app, ["explain", "--run", str(run_folder)])
    line = next(row for row in table.stdout.splitlines() if CHECK in row)
    assert "!" in line and "✓" not in line and "warning" in table.stdout
    _shrink(run_folder, 1e-3)  # 1e-3 of the spread: still a tick
    check = _check(run_folder)
    assert check["warning"] is None and check["passed"] is True
