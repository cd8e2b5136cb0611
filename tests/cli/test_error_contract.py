"""The command line's error contract: one 'error:' line on stderr, exit code 2, nothing half-written."""

import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_main(*args):
    """The real entry point in a subprocess (usage errors are handled in main(), not in the commands)."""
    code = "import sys; from latentid.cli import main; sys.argv[0] = 'latentid'; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_usage_errors_are_one_line_from_the_entry_point(tmp_path):
    for args in (["simulate", "--activation", "sigmoid", "--out", tmp_path / "x.npz"], ["fit", "--model", "ivae"]):
        result = run_main(*args)
        assert result.returncode == 2
        assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    assert not list(tmp_path.iterdir())


def test_file_system_refusals_are_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    result = run("simulate", "--samples", 10, "--out", tmp_path / "afile" / "d.npz")
    assert result.exit_code == 2 and result.stderr.startswith("error:") and result.stderr.count("\n") == 1


def test_a_refused_fit_leaves_no_folder(tmp_path):
    data = tmp_path / "d.npy"
    np.save(data, np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    result = run("fit", "--data", data, "--out", tmp_path / "run", "--latent-dim", 9, "--quiet")
    assert result.exit_code == 2 and not (tmp_path / "run").exists()


def test_transform_refuses_an_output_that_is_not_npy(tmp_path):
    result = run("transform", "--run", tmp_path, "--data", tmp_path / "d.npz", "--out", tmp_path / "z.csv")
    assert result.exit_code == 2 and ".npy" in result.stderr


def test_paths_with_brackets_are_printed_verbatim(tmp_path):
    out = tmp_path / "d[/bold].npz"
    result = run("simulate", "--samples", 5, "--depth", 2, "--out", out)
    assert result.exit_code == 0 and "d[/bold].npz" in result.stdout


def test_infinite_noise_is_refused(tmp_path):
    result = run("simulate", "--noise", "inf", "--out", tmp_path / "d.npz")
    assert result.exit_code == 2 and "finite" in result.stderr
