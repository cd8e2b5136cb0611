"""One fit at a time writes into a run folder: a second fit, resume or --force while one runs is refused in one
line, and what the first is writing is left alone."""

import json

from typer.testing import CliRunner

from latentid.cli import app
from latentid.runs import fit_in_progress, fit_lock

runner = CliRunner()
TINY_VAE = ["--model", "vae", "--epochs", "2", "--batch-size", "64", "--threads", "1", "--quiet"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_fit_into_a_folder_another_fit_is_writing_is_refused(tmp_path, small_simulation):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"status": "running", "model": "vae", "options": {}}))
    (out / "restart-1.pt").write_bytes(b"being written")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with fit_lock(out):  # what a running `latentid fit --out run` holds (an flock: per open file, also in-process)
        assert fit_in_progress(out)
        for result in (
            run("fit", "--out", out, "--resume", "--quiet"),
            run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, "--force"),
            run("fit", "--data", small_simulation, "--out", out, *TINY_VAE),
            run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy"),
        ):
            assert result.exit_code == 2, result.output
            assert "another latentid fit is writing into this folder now" in result.stderr, result.stderr
            assert result.stderr.count("\n") == 1
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not fit_in_progress(out)  # released with the fit; the folder is an interrupted fit again
    result = run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy")
    assert result.exit_code == 2 and "holds an interrupted fit" in result.stderr
    assert run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, "--force").exit_code == 0
