"""CSV columns through the command line (issue 13): ground truth and a pandas index are not trained on."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.cli._common import load_data
from latentid.errors import InvalidParameterError, LatentIDWarning

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory, gmm_data):
    """x0..x4, z0, z1 and c, saved by pandas with its index (an unnamed first column 0..n-1)."""
    x, z, c = gmm_data
    frame = pd.DataFrame(x[:, :5], columns=[f"x{i}" for i in range(5)]).assign(z0=z[:, 0], z1=z[:, 1], c=c)
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    frame.to_csv(path)
    return path


def _leaves(tree):
    """(key, value) of every non-object value of a JSON object, at any depth (whatever the report's nesting)."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value)
        else:
            yield key, value


def _notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note:")]


def test_fit_trains_on_x_only_and_says_so_in_one_line(csv_file, tmp_path):
    result = run("fit", "--data", csv_file, "--model", "pca", "--latent-dim", 2, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["n_features"] == 5
    notes = _notes(result.stderr)
    assert len(notes) == 1, result.stderr
    assert "z0, z1 read as the true latents z" in notes[0] and "c as labels" in notes[0]
    assert "unnamed first column read as the row index and dropped" in notes[0]


def test_evaluate_scores_against_z_from_the_csv(csv_file, gmm_data, tmp_path):
    _, z, _ = gmm_data
    latents = tmp_path / "latents.npy"
    np.save(latents, z @ np.array([[2.0, 1.0], [0.5, -1.0]], dtype=np.float32))  # an affine image of the truth
    result = run("evaluate", "--data", csv_file, "--latents", latents, "--json")
    assert result.exit_code == 0, result.output
    scores = {key: value for key, value in _leaves(json.loads(result.stdout)) if isinstance(value, (int, float))}
    assert scores["latent_dim_true"] == 2
    assert scores["affine_r2"] > 0.99
    assert len(_notes(result.stderr)) == 1


def test_load_data_takes_x_columns_and_prints_the_note_once(csv_file, capsys):
    frame = pd.read_csv(csv_file, index_col=0)
    dataset = load_data(str(csv_file), x_columns="x3,x1")
    np.testing.assert_allclose(dataset.x, frame[["x3", "x1"]].to_numpy(np.float32))
    assert dataset.z.shape == (len(frame), 2) and dataset.c is not None
    notes = _notes(capsys.readouterr().err)
    assert len(notes) == 1 and "x is column(s) x3, x1 (--x-columns)" in notes[0]
    assert "Unnamed: 0, x0, x2, x4 ignored" in notes[0]


def test_load_data_refuses_x_columns_where_they_do_not_apply(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)))
    for data in (str(tmp_path / "d.npz"), "mnist"):
        with pytest.raises(InvalidParameterError, match="--x-columns applies to CSV and Parquet files"):
            load_data(data, x_columns="0")


def test_x_columns_of_the_run_are_reused_and_a_latents_csv_is_one_array(csv_file, tmp_path):
    out = tmp_path / "run"
    result = run("fit", "--data", csv_file, "--x-columns", "x0,x1,x2", "--model", "pca", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["n_features"] == 3
    # transform and evaluate read the run's three columns without being told again
    assert run("transform", "--run", out, "--data", csv_file, "--out", tmp_path / "z.npy").exit_code == 0
    assert np.load(tmp_path / "z.npy").shape[0] == len(pd.read_csv(csv_file))
    scored = run("evaluate", "--run", out, "--data", csv_file, "--json")
    assert scored.exit_code == 0, scored.output
    # latents saved as a CSV with columns named z0, z1 are the latents, not ground truth to split off
    latents = tmp_path / "latents.csv"
    pd.DataFrame(np.load(tmp_path / "z.npy"), columns=["z0", "z1"]).to_csv(latents, index=False)
    from_csv = run("evaluate", "--latents", latents, "--data", csv_file, "--json")
    assert from_csv.exit_code == 0, from_csv.output
    assert json.loads(from_csv.stdout)["metrics"]["affine_r2"] == pytest.approx(
        json.loads(scored.stdout)["metrics"]["affine_r2"], abs=1e-5
    )


def test_a_table_whose_x_columns_are_reordered_or_renamed_is_refused_by_name(csv_file, tmp_path):
    """A model reads columns by position: the same table with its x columns reversed would give other latents."""
    out = tmp_path / "run"
    assert run("fit", "--model", "pca", "--data", csv_file, "--out", out).exit_code == 0
    assert json.loads((out / "run.json").read_text())["data"]["x_columns"] == [f"x{i}" for i in range(5)]
    frame = pd.read_csv(csv_file, index_col=0)
    reordered, renamed = tmp_path / "reordered.csv", tmp_path / "renamed.csv"
    frame[[f"x{i}" for i in reversed(range(5))]].to_csv(reordered, index=False)
    frame[[f"x{i}" for i in range(5)]].set_axis([f"f{i}" for i in range(5)], axis=1).to_csv(renamed, index=False)
    for data, how in ((reordered, "in another order"), (renamed, "differently")):
        for command in ("transform", "evaluate"):
            extra = ["--out", tmp_path / f"{command}.npy"] if command == "transform" else []
            result = run(command, "--run", out, "--data", data, *extra)
            assert result.exit_code == 2, result.output
            assert f"x's columns are named {how} than at fit (column 0 is" in result.stderr, result.stderr
            assert result.stderr.count("\n") == 1
    # Choosing the columns by name puts them back in the fit's order; an array without names is read as given.
    chosen = ",".join(f"x{i}" for i in range(5))
    z = tmp_path / "z.npy"
    assert run("transform", "--run", out, "--data", reordered, "--x-columns", chosen, "--out", z).exit_code == 0
    np.testing.assert_allclose(np.load(z), np.load(out / "latents.npy"), atol=1e-5)
    array = tmp_path / "x.npy"
    np.save(array, frame[[f"x{i}" for i in range(5)]].to_numpy(np.float32))
    assert run("transform", "--run", out, "--data", array, "--out", tmp_path / "za.npy").exit_code == 0


@pytest.mark.parametrize("model", ["pca", "vae"])
def test_a_fit_from_a_table_saves_its_column_names_for_python(csv_file, tmp_path, model):
    from latentid.errors import InvalidDataError
    from latentid.models import load_model
    from latentid.models.linear import load_linear

    out = tmp_path / "run"
    fast = ["--epochs", 1, "--threads", 1] if model == "vae" else []
    result = run("fit", "--data", csv_file, "--model", model, "--latent-dim", 2, "--out", out, "--quiet", *fast)
    assert result.exit_code == 0, result.output
    names = [f"x{i}" for i in range(5)]
    loaded = (load_linear if model == "pca" else load_model)(out / "model")
    assert list(loaded.feature_names_in_) == names
    frame = pd.read_csv(csv_file)[names]
    with pytest.raises(InvalidDataError, match="in another order"):
        loaded.transform(frame[names[::-1]])
    # The command line reads arrays and checks the columns itself: no feature-name warning there.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names")
        again = run("transform", "--run", out, "--data", csv_file, "--out", tmp_path / "z.npy")
    assert again.exit_code == 0, again.output


def test_the_runs_own_x_columns_are_named_as_the_runs_in_errors(tmp_path):
    """transform on a headerless file said '--x-columns: no column x0', a flag the user never gave it; on an .npy,
    'fitted on 3' without which 3."""
    x = np.random.default_rng(0).normal(size=(50, 5))
    pd.DataFrame(x, columns=[f"x{i}" for i in range(5)]).to_csv(tmp_path / "named.csv", index=False)
    np.savetxt(tmp_path / "plain.csv", x, delimiter=",")
    np.save(tmp_path / "plain.npy", x.astype(np.float32))
    out = tmp_path / "run"
    assert run("fit", "--model", "pca", "--latent-dim", 1, "--data", tmp_path / "named.csv", "--x-columns",
               "x0,x2,x4", "--out", out, "--quiet").exit_code == 0  # fmt: skip
    for command in (("transform", "--out", tmp_path / "z.npy"), ("evaluate",)):
        failed = run(*command[:1], "--run", out, "--data", tmp_path / "plain.csv", *command[1:])
        assert failed.exit_code == 2 and "--x-columns x0,x2,x4 is the run's own, from its run.json" in " ".join(
            failed.stderr.split()
        ), failed.output
    npy = run("transform", "--run", out, "--data", tmp_path / "plain.npy", "--out", tmp_path / "z.npy")
    assert npy.exit_code == 2 and "fitted on 3 (columns x0, x2, x4 of a table)" in " ".join(npy.stderr.split())


def test_an_unnamed_file_given_to_a_run_fitted_on_named_columns_is_warned_of(tmp_path):
    """The Python API warns of a frame without names; the command line took an .npy of the same width silently."""
    x = np.random.default_rng(0).normal(size=(50, 3))
    pd.DataFrame(x, columns=["a", "b", "f"]).to_csv(tmp_path / "named.csv", index=False)
    np.save(tmp_path / "plain.npy", x.astype(np.float32))
    out = tmp_path / "run"
    fitted = run("fit", "--model", "pca", "--latent-dim", 1, "--data", tmp_path / "named.csv", "--out", out)
    assert fitted.exit_code == 0, fitted.output
    said = r"plain\.npy has no column names: its columns are taken as those the run was fitted on \(a, b, f\)"
    with pytest.warns(LatentIDWarning, match=said):  # the console script prints it as a 'warning:' line
        applied = run("transform", "--run", out, "--data", tmp_path / "plain.npy", "--out", tmp_path / "z.npy")
    assert applied.exit_code == 0, applied.output
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run("transform", "--run", out, "--data", tmp_path / "named.csv", "--out", tmp_path / "z2.npy")
    assert not [w for w in caught if "no column names" in str(w.message)]
