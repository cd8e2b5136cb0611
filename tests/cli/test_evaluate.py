"""``latentid evaluate``: table and JSON output, clustering keys, and one-line errors with exit code 2."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 2))
    c = rng.integers(0, 3, 300)
    np.savez(tmp_path / "data.npz", x=np.tanh(z @ rng.standard_normal((2, 6))), z=z, c=c)
    np.savez(tmp_path / "no_z.npz", x=rng.standard_normal((300, 6)), c=c)
    np.save(tmp_path / "z_hat.npy", z @ np.array([[2.0, 1.0], [0.0, 1.0]]) + 3)
    np.save(tmp_path / "labels.npy", (c + 1) % 3)
    return tmp_path


def _run(*args):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def _assert_one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0]


def test_prints_a_table(files):
    result = _run("--data", files / "data.npz", "--latents", files / "z_hat.npy")
    assert result.exit_code == 0, result.output
    for key in ("affine_r2", "mcc_strong", "mcc_weak", "orthogonal_r2", "held-out", "n_eval"):
        assert key in result.stdout


def test_json_holds_every_identifiability_key(files):
    result = _run("--data", files / "data.npz", "--latents", files / "z_hat.npy", "--json", "--split", 0.4)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    metrics = payload["metrics"]
    for key in ("affine_r2", "mcc_weak", "mcc_strong", "mcc_spearman", "permutation_r2", "orthogonal_r2"):
        assert key in metrics and payload["scored_on"][key].startswith("held-out")
    assert metrics["affine_r2"] == pytest.approx(1.0)
    assert payload["split"] == {"share": 0.4, "seed": 0, "n_fit": 120, "n_eval": 180}
    assert "cluster_acc" not in metrics
    assert payload["baselines"] == {}  # a file without its generator has no oracle


def test_labels_add_clustering_keys(files):
    result = _run("--data", files / "data.npz", "--latents", files / "z_hat.npy", "--labels", files / "labels.npy")
    assert result.exit_code == 0, result.output
    assert "cluster_acc" in result.stdout and "ari" in result.stdout
    result = _run("--data", files / "no_z.npz", "--latents", files / "z_hat.npy", "--labels", files / "labels.npy")
    assert result.exit_code == 0, result.output
    assert "cluster_acc" in result.stdout and "affine_r2" not in result.stdout


def test_missing_file(files):
    _assert_one_line_error(_run("--data", files / "data.npz", "--latents", files / "nope.npy"), "nope.npy", "--latents")


def test_corrupt_npy(files):
    (files / "broken.npy").write_bytes(b"not an npy file")
    _assert_one_line_error(_run("--data", files / "data.npz", "--latents", files / "broken.npy"), "broken.npy")


def test_nan_latents(files):
    z_hat = np.load(files / "z_hat.npy")
    z_hat[5, 1] = np.nan
    np.save(files / "nan.npy", z_hat)
    _assert_one_line_error(
        _run("--data", files / "data.npz", "--latents", files / "nan.npy"), f"{files / 'nan.npy'} (--latents)", "row 5"
    )


def test_shape_mismatch(files):
    np.save(files / "short.npy", np.load(files / "z_hat.npy")[:200])
    _assert_one_line_error(  # named by its file: "the learned latents" did not say which
        _run("--data", files / "data.npz", "--latents", files / "short.npy"),
        f"{files / 'short.npy'} (--latents) has 200 rows",
        "300",
    )
    np.save(files / "few_labels.npy", np.zeros(200, dtype=np.int64))
    _assert_one_line_error(
        _run("--data", files / "data.npz", "--latents", files / "z_hat.npy", "--labels", files / "few_labels.npy"),
        f"{files / 'few_labels.npy'} (--labels) has 200 entries",
    )


def test_data_without_z_or_labels(files):
    _assert_one_line_error(_run("--data", files / "no_z.npz", "--latents", files / "z_hat.npy"), "'z'", "--labels")


def test_no_latents(files):
    _assert_one_line_error(_run("--data", files / "data.npz"), "--latents")


@pytest.mark.parametrize("split", ["0", "1.5"])
def test_bad_split(files, split):
    result = _run("--data", files / "data.npz", "--latents", files / "z_hat.npy", "--split", split)
    _assert_one_line_error(result, "split")


def test_negative_seed(files):
    result = _run("--data", files / "data.npz", "--latents", files / "z_hat.npy", "--seed", "-1")
    _assert_one_line_error(result, "seed")


def test_facet_labels_in_a_file_without_the_block_split_say_why_no_facet_affine_score(tmp_path):
    """A CSV with z0..z3 and c0, c1 got facet cluster keys but no facet{j}_affine_r2, without a word."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    c = np.column_stack([rng.integers(0, 3, 200), rng.integers(0, 4, 200)])
    np.savez(tmp_path / "facets.npz", x=z @ rng.normal(size=(4, 6)), z=z, c=c)
    np.save(tmp_path / "lat.npy", z)
    out = json.loads(_run("--latents", tmp_path / "lat.npy", "--data", tmp_path / "facets.npz", "--json").stdout)
    assert not any(key.endswith("_affine_r2") and key.startswith("facet") for key in out["metrics"])
    assert any(note.startswith("no facet{j}_affine_r2: the file does not record") for note in out["notes"])
