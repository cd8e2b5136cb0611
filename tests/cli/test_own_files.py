"""A researcher's own tables at the command line: --header, one row to apply a run to, which column is extra."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()
WAVELENGTHS = [400, 450, 500, 550, 600, 650]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note:")]


def _error(result) -> str:
    """The one ``error:`` line of a refused command (exit code 2), after any ``note:`` lines."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("note:")]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def spectra(tmp_path_factory):
    """60 rows of decimals under wavelength names, and a PCA run fitted on them."""
    folder = tmp_path_factory.mktemp("own-files")
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 6)), columns=WAVELENGTHS)
    frame.to_csv(folder / "d.csv", index=False)
    result = run("fit", "--data", folder / "d.csv", "--model", "pca", "--latent-dim", 2, "--out", folder / "run")
    assert result.exit_code == 0, result.output
    return folder, frame


def test_fit_reads_numeric_names_as_the_header_and_says_so(spectra):
    folder, _ = spectra
    info = json.loads((folder / "run" / "run.json").read_text())
    assert info["data"]["n_samples"] == 60 and info["data"]["x_columns"] == [str(w) for w in WAVELENGTHS]
    result = run("fit", "--data", folder / "d.csv", "--model", "pca", "--out", folder / "again", "--quiet")
    (note,) = _notes(result.stderr)
    assert "read as the column names" in note and "--header no" in note


def test_header_no_reads_the_first_row_as_data_and_transform_keeps_the_runs_choice(spectra, tmp_path):
    folder, _ = spectra
    out = tmp_path / "run"
    result = run("fit", "--data", folder / "d.csv", "--model", "pca", "--header", "no", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    info = json.loads((out / "run.json").read_text())
    assert info["data"]["n_samples"] == 61 and info["options"]["header"] == "no"
    assert run("transform", "--run", out, "--data", folder / "d.csv", "--out", tmp_path / "z.npy").exit_code == 0
    assert np.load(tmp_path / "z.npy").shape == (61, 2)  # the run's --header no, not the guess
    refused = run("fit", "--data", tmp_path / "z.npy", "--model", "pca", "--header", "yes", "--out", tmp_path / "r2")
    assert "--header applies to CSV and TSV files" in _error(refused)


def test_transform_and_predict_take_one_row(spectra, tmp_path):
    folder, frame = spectra
    frame.iloc[:1].to_csv(tmp_path / "one.csv", index=False)
    result = run("transform", "--run", folder / "run", "--data", tmp_path / "one.csv", "--out", tmp_path / "z.npy")
    assert result.exit_code == 0, result.output
    z_one = np.load(tmp_path / "z.npy")
    assert z_one.shape == (1, 2)
    np.testing.assert_allclose(z_one[0], np.load(folder / "run" / "latents.npy")[0], rtol=1e-4, atol=1e-5)
    gmm = tmp_path / "gmm"
    assert run("fit", "--data", folder / "d.csv", "--model", "gmm", "--out", gmm, "--quiet").exit_code == 0
    result = run("predict", "--run", gmm, "--data", tmp_path / "one.csv", "--out", tmp_path / "c.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "c.npy").shape == (1,)
    fit_one = run("fit", "--data", tmp_path / "one.csv", "--model", "pca", "--out", tmp_path / "r1")
    assert "needs at least 2 samples; got 1 sample" in _error(fit_one)  # fitting still needs two


def test_an_extra_or_missing_column_is_named(spectra, tmp_path):
    folder, frame = spectra

    def transform(name: str, *more):
        return run("transform", "--run", folder / "run", "--data", tmp_path / name, "--out", tmp_path / "z.npy", *more)

    frame.assign(sample_id=np.arange(60.0)).to_csv(tmp_path / "extra.csv", index=False)
    line = _error(transform("extra.csv"))
    assert "has 7 features but the run" in line and "was fitted on 6 (not in the fit's: sample_id)" in line
    assert "--x-columns 400,450,500,550,600,650" in line
    fixed = transform("extra.csv", "--x-columns", "400,450,500,550,600,650")
    assert fixed.exit_code == 0, fixed.output
    frame.drop(columns=[650]).to_csv(tmp_path / "short.csv", index=False)
    line = _error(transform("short.csv", "--force"))
    assert "has 5 features but" in line and "(missing here: 650)" in line and "--x-columns" not in line
    frame[[400]].to_csv(tmp_path / "single.csv", index=False)
    assert "has 1 feature but" in _error(transform("single.csv", "--force"))


def test_a_semicolon_file_is_one_error_line(spectra, tmp_path):
    _, frame = spectra
    frame.to_csv(tmp_path / "d.csv", sep=";", decimal=",", index=False)
    line = _error(run("fit", "--data", tmp_path / "d.csv", "--model", "pca", "--out", tmp_path / "run"))
    assert "separated by semicolons and decimal commas" in line


def test_tsv_gz_fits(spectra, tmp_path):
    _, frame = spectra
    frame.to_csv(tmp_path / "d.tsv.gz", sep="\t", index=False)
    result = run("fit", "--data", tmp_path / "d.tsv.gz", "--model", "pca", "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["data"]["n_samples"] == 60


def test_ivae_without_labels_names_the_table_columns(spectra, tmp_path):
    folder, _ = spectra
    args = ("fit", "--data", folder / "d.csv", "--model", "ivae", "--aux", "u", "--epochs", 1, "--out", tmp_path / "r")
    line = _error(run(*args))
    assert "a CSV/Parquet file with a column named u (or u0, u1, ...)" in line


def test_fit_and_transform_leave_out_ground_truth_they_do_not_read_and_evaluate_refuses_it(tmp_path):
    """A NaN in z or a missing label refused `fit` of a file whose x was whole; fit and transform read x alone,
    so they leave z/c out with a note. `--aux c` reads c, and evaluate both: they still refuse."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    x, c = np.c_[z, z @ rng.normal(size=(2, 3))], (z[:, 0] > 0).astype(float)
    z[5, 0], c[10] = np.nan, np.nan
    data = tmp_path / "gappy.npz"
    np.savez(data, x=x, z=z, c=c)
    fitted = run("fit", "--model", "pca", "--data", data, "--latent-dim", 2, "--out", tmp_path / "r")
    assert fitted.exit_code == 0, fitted.output
    notes = _notes(fitted.stderr)
    assert len(notes) == 2 and all("left unread" in note for note in notes)
    assert run("transform", "--run", tmp_path / "r", "--data", data, "--out", tmp_path / "t.npy").exit_code == 0
    assert "'c' must hold integer labels" in _error(
        run("fit", "--model", "ivae", "--aux", "c", "--data", data, "--latent-dim", 2, "--out", tmp_path / "i")
    )
    assert "'z' contains 1 NaN" in _error(run("evaluate", "--run", tmp_path / "r", "--data", data))


def test_fit_with_an_empty_data_path_says_it_is_empty(tmp_path):
    result = run("fit", "--model", "pca", "--data", "", "--out", tmp_path / "r")
    assert "The data path is empty" in _error(result) and not (tmp_path / "r").exists()


def test_control_characters_from_a_file_are_shown_escaped_not_sent_to_the_terminal(tmp_path):
    """A column named 'a<ESC>[2J' (or a file so named) cleared the user's terminal when a note echoed it."""
    x = np.random.default_rng(0).normal(size=(20, 2))
    path = tmp_path / "d.csv"
    pd.DataFrame(x, columns=["a\x1b[2Jx", "b"]).assign(sample_id=np.arange(20)).to_csv(path, index=False)
    fitted = run("fit", "--model", "pca", "--data", path, "--latent-dim", 1, "--out", tmp_path / "r")
    assert fitted.exit_code == 0 and "\x1b" not in fitted.stderr and "a\\x1b[2Jx" in fitted.stderr
    missing = run("fit", "--model", "pca", "--data", tmp_path / "b\x1b]0;TITLE\x07.npy", "--out", tmp_path / "s")
    assert "\x1b" not in missing.stderr and "\x07" not in missing.stderr and "b\\x1b]0;TITLE" in missing.stderr
