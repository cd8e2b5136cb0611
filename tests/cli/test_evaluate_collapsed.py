"""A collapsed fit (a constant learned latent) is scored, with a warning in the notes, not refused; a constant
true latent is still refused (bad data)."""

import json

import numpy as np
from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()


def _data(tmp_path, z):
    rng = np.random.default_rng(0)
    x = np.column_stack([z, rng.standard_normal((len(z), 2))]).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, z=z.astype(np.float32))
    return tmp_path / "d.npz"


def test_evaluate_scores_a_collapsed_latent_with_a_warning_note(tmp_path):
    z = np.random.default_rng(1).standard_normal((200, 2))
    data = _data(tmp_path, z)
    np.save(tmp_path / "z_hat.npy", np.column_stack([z[:, 0], np.full(200, 3.0)]))
    args = ["evaluate", "--data", str(data), "--latents", str(tmp_path / "z_hat.npy"), "--no-baselines"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (
        abs(out["metrics"]["mcc_strong"] - 0.5) < 1e-6
    )  # the varying column matches its coordinate (1), the collapsed one 0
    assert any(n.startswith("warning: z_hat") and "collapsed" in n for n in out["notes"]), out["notes"]
    assert "UserWarning" not in result.stderr
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "collapsed" in table.stdout


def test_evaluate_refuses_a_constant_true_latent(tmp_path):
    z = np.random.default_rng(1).standard_normal((200, 2))
    z[:, 1] = 1.0
    data = _data(tmp_path, z)
    np.save(tmp_path / "z_hat.npy", np.random.default_rng(2).standard_normal((200, 2)))
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--latents", str(tmp_path / "z_hat.npy")])
    assert result.exit_code == 2 and "z_true has constant column(s) 1" in result.stderr, result.output
