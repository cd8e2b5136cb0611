"""fit -> transform / predict / evaluate / explain through the command line, on tiny data."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.checkpoint import load_checkpoint
from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.metrics.clustering import cluster_report

runner = CliRunner()
FAST = ["--epochs", "2", "--pretrain-epochs", "1", "--batch-size", "64", "--quiet", "--device", "cpu"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=3, seed=2).build()
    save_simulation(path, gen, gen.sample(400))
    return path


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory, data_file):
    out = tmp_path_factory.mktemp("runs") / "vade"
    result = run("fit", "--data", data_file, "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    return out


def test_fit_writes_a_complete_run_folder(fitted_run):
    names = {p.name for p in fitted_run.iterdir()}
    assert {"run.json", "model", "latents.npy", "train_log.jsonl"} <= names
    assert np.load(fitted_run / "latents.npy").shape == (400, 2)
    info = json.loads((fitted_run / "run.json").read_text())
    assert info["model"] == "vade" and info["n_samples"] == 400
    lines = (fitted_run / "train_log.jsonl").read_text().splitlines()
    assert len(lines) >= 2 and "epoch" in json.loads(lines[-1])


def test_transform_predict_evaluate_explain(fitted_run, data_file, tmp_path):
    z_path, labels_path = tmp_path / "z.npy", tmp_path / "labels.npy"
    assert run("transform", "--run", fitted_run, "--data", data_file, "--out", z_path).exit_code == 0
    np.testing.assert_array_equal(np.load(z_path), np.load(fitted_run / "latents.npy"))
    assert (
        run("transform", "--run", fitted_run, "--data", data_file, "--out", tmp_path / "r.npy", "--refine").exit_code
        == 0
    )
    assert not np.array_equal(np.load(tmp_path / "r.npy"), np.load(z_path))
    assert run("predict", "--run", fitted_run, "--data", data_file, "--out", labels_path).exit_code == 0
    labels = np.load(labels_path)
    assert labels.shape == (400,) and labels.min() >= 0 and labels.max() < 4
    result = run("evaluate", "--run", fitted_run, "--data", data_file, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["split"]["n_eval"] == 200 and "affine_r2" in payload["metrics"]
    with np.load(data_file) as f:
        classes = f["c"]
    expected = cluster_report(classes, labels, split=0.5, seed=0)  # the run's own labels, scored in-process
    assert payload["metrics"]["cluster_acc"] == pytest.approx(expected["cluster_acc"], abs=1e-12)
    assert payload["metrics"]["ari"] == pytest.approx(expected["ari"], abs=1e-12)
    explained = run("explain", "--run", fitted_run, "--json")
    assert explained.exit_code == 0
    assert json.loads(explained.stdout)["level"] == 2  # leaky-ReLU decoder, widths never shrink, full GMM
    checks = {c["name"]: c["passed"] for c in json.loads(explained.stdout)["checks"]}
    assert checks["widths never shrink"] is True and checks["output layer linear"] is True


def test_vae_fit_and_explain_is_vanilla(data_file, tmp_path):
    out = tmp_path / "vae"
    result = run("fit", "--model", "vae", "--data", data_file, "--out", out, *FAST[:2], *FAST[4:])
    assert result.exit_code == 0, result.output
    payload = json.loads(run("explain", "--run", out, "--json").stdout)
    assert (payload["level"], payload["level_name"]) == (None, "vanilla")
    assert run("fit", "--model", "vae", "--components", 3, "--data", data_file, "--out", tmp_path / "x").exit_code == 2


def _fit_command(data, out, *extra):
    """`latentid fit` as its own process (the installed entry point, run by this interpreter)."""
    code = "import sys; from latentid.cli import main; sys.argv[0] = 'latentid'; sys.exit(main())"
    args = ["--data", data, "--out", out, "--seed", 3, "--epochs", 16, "--pretrain-epochs", 2, "--batch-size", 16]
    return [sys.executable, "-c", code, "fit", *map(str, args), "--quiet", "--device", "cpu", "--threads", "1", *extra]


def _train_records(out):
    path = out / "train_log.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def _fit_until(data_file, out, epochs: int) -> subprocess.Popen:
    """A `latentid fit` process, once training epoch ``epochs`` is in its log (stdout dropped, stderr piped)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_fit_command(data_file, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while sum(r["stage"] == "train" for r in _train_records(out)) < epochs:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, f"the fit never reached training epoch {epochs}"
        time.sleep(0.005)
    return proc


def test_resume_after_sigkill_matches_an_uninterrupted_run(data_file, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run(_fit_command(data_file, straight), env=env, check=True, capture_output=True, timeout=300)

    out = tmp_path / "killed"
    proc = _fit_until(data_file, out, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((out / "run.json").read_text())["status"] == "running", "killed before it finished"
    before = _train_records(out)
    done = load_checkpoint(out / "restart-1.pt")["epoch"]
    assert 3 <= done < 16

    resumed = subprocess.run(_fit_command(data_file, out, "--resume"), env=env, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    # Bitwise equal in practice (same seeds, one thread, checkpointed generator state); the tolerance only
    # allows for float rounding that could differ between processes.
    np.testing.assert_allclose(np.load(out / "latents.npy"), np.load(straight / "latents.npy"), rtol=0, atol=1e-6)
    after = _train_records(out)
    assert [r["epoch"] for r in after] == [r["epoch"] for r in _train_records(straight)]
    # the epochs run before the kill were carried over from the checkpoint, not trained again: their
    # records (wall times included) are the ones written before the kill
    kept = len([r for r in before if r["stage"] == "pretrain"]) + done
    assert after[:kept] == before[:kept]
    assert json.loads((out / "run.json").read_text())["epochs_run"] == 16


def test_sigterm_stops_a_fit_as_ctrl_c_does(data_file, tmp_path):
    """A batch scheduler's time limit (SIGTERM) killed the fit silently: no --resume line, no time recorded."""
    out = tmp_path / "terminated"
    proc = _fit_until(data_file, out, 2)
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 143, stderr
    assert "interrupted: continue with 'latentid fit --out" in stderr and "--resume'" in stderr, stderr
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "running" and len(info["session_seconds"]) == 1  # its time is kept


def test_progress_bars_report_each_stage(data_file, tmp_path):
    loud = [a for a in FAST if a != "--quiet"]
    result = run("fit", "--data", data_file, "--out", tmp_path / "run", *loud)
    assert result.exit_code == 0, result.output
    assert "pretrain (restart 1 of " in result.stderr and "train (restart 1 of " in result.stderr
    assert "loss " in result.stderr and "val ELBO" in result.stderr
    assert "2/2" in result.stderr  # the training bar ran to its end
    # not a terminal here (80 columns): no bar, so the elapsed and remaining times are whole, not '0:00:…'
    assert "…" not in result.stderr and re.search(r"\d:\d\d:\d\d \d:\d\d:\d\d", result.stderr), result.stderr
    quiet = run("fit", "--data", data_file, "--out", tmp_path / "quiet", *FAST)
    assert quiet.exit_code == 0 and "val ELBO" not in quiet.stderr


def assert_one_line_error(result):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output


def test_bad_inputs_exit_2(tmp_path, data_file, fitted_run):
    few = tmp_path / "few.npy"
    np.save(few, np.random.default_rng(0).normal(size=(3, 5)))
    assert_one_line_error(run("fit", "--data", few, "--out", tmp_path / "a", "--components", 4, *FAST))
    assert_one_line_error(run("fit", "--data", data_file, "--out", tmp_path / "b", "--latent-dim", 11, *FAST))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[np.nan, 1.0], [1.0, 2.0], [3.0, 4.0]]))
    assert_one_line_error(run("fit", "--data", nan, "--out", tmp_path / "c", *FAST))
    assert_one_line_error(run("transform", "--run", tmp_path, "--data", data_file, "--out", tmp_path / "z.npy"))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones((5, 3), dtype=np.float32))
    assert_one_line_error(run("transform", "--run", fitted_run, "--data", wrong, "--out", tmp_path / "z.npy"))
    # a checkpoint of another model: resuming a vade run folder as a vae
    assert_one_line_error(run("fit", "--model", "vae", "--data", data_file, "--out", fitted_run, "--resume", *FAST[4:]))


def test_demo_command_on_a_tiny_setting(tmp_path):
    args = ["demo", "--out", tmp_path, "--train-samples", 300, "--test-samples", 100, "--epochs", 1]
    result = run(*args, "--pretrain-epochs", 1, "--quiet")
    assert result.exit_code == 0, result.output
    assert "vanilla VAE" in result.stdout and (tmp_path / "report.html").exists()
    # stdout is not a terminal here (80 columns): the table widens rather than folding numbers into '0.…'
    assert "…" not in result.stdout and len(re.findall(r"\b[01]\.\d{3}\b", result.stdout)) >= 10, result.stdout
    bad = run("demo", "--out", tmp_path / "x", "--train-samples", 1, "--quiet")
    assert bad.exit_code == 2 and bad.stderr.startswith("error:")


def test_a_run_fitted_from_python_is_used_by_the_commands(data_file, tmp_path):
    """fit_run (the Python API, and the demo's run-* folders) writes no command line: the commands took its
    run.json for a damaged one."""
    from latentid.data.io import read_dataset
    from latentid.runs import fit_run

    out = tmp_path / "run"
    fit_run("vade", read_dataset(data_file), out, latent_dim=2, n_components=3, epochs=1, pretrain_epochs=1)
    assert json.loads((out / "run.json").read_text())["options"] is None
    for args in (
        ("evaluate", "--run", out, "--data", data_file, "--no-baselines"),
        ("explain", "--run", out),
        ("transform", "--run", out, "--data", data_file, "--out", tmp_path / "z.npy"),
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "z.npy").shape[0] == len(read_dataset(data_file).x)
    finished = run("fit", "--out", out, "--resume")
    assert finished.exit_code == 0 and "nothing to resume" in finished.output
