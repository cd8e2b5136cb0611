"""Crashes lose nothing: `latentid fit` killed with SIGKILL at random moments, several times, resumes to the
model an uninterrupted run gives; two studies writing one store at once lose no row."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from latentid.data.synthetic import SyntheticSpec, save_simulation

FIT = ["--seed", 2, "--epochs", 12, "--pretrain-epochs", 3, "--batch-size", 16, "--restarts", 2, "--quiet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def latentid(*args) -> list[str]:
    code = "import sys; from latentid.cli import main; sys.argv[0] = 'latentid'; sys.exit(main())"
    return [sys.executable, "-c", code, *map(str, args)]


def _logged(out) -> int:
    """Epoch records in a run folder's train_log.jsonl (0 before the first)."""
    path = out / "train_log.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("crash") / "d.npz"
    gen = SyntheticSpec.create(depth=2, seed=6).build()
    save_simulation(path, gen, gen.sample(300))
    return path


def test_fit_killed_at_random_moments_resumes_to_the_uninterrupted_model(data_file, tmp_path):
    straight = tmp_path / "straight"
    subprocess.run(latentid("fit", "--data", data_file, "--out", straight, *FIT), env=ENV, check=True, timeout=300)

    out = tmp_path / "killed"
    n_records = len((straight / "train_log.jsonl").read_text().splitlines())  # 2 restarts x (3 + 12) epochs
    # Kill at random moments: once during start-up, then after a random number of logged epochs each time
    # (pretraining and training of both restarts), whatever the machine's speed.
    rng = np.random.default_rng(12)
    targets = [0, *sorted(rng.choice(np.arange(1, n_records), size=3, replace=False).tolist())]
    for target in targets:
        resume = ["--resume"] if (out / "run.json").exists() else []
        proc = subprocess.Popen(
            latentid("fit", "--data", data_file, "--out", out, *FIT, *resume),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while target and _logged(out) < target and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        if not target:
            time.sleep(0.3)  # still importing: nothing written yet
        assert proc.poll() is None, "the fit ended before its kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    resume = ["--resume"] if (out / "run.json").exists() else []
    done = subprocess.run(
        latentid("fit", "--data", data_file, "--out", out, *FIT, *resume), env=ENV, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()

    # The same model as the uninterrupted run (same seeds, one thread, checkpointed random state).
    np.testing.assert_allclose(np.load(out / "latents.npy"), np.load(straight / "latents.npy"), rtol=0, atol=1e-5)
    records = lambda folder: [  # noqa: E731
        (r["restart"], r["stage"], r["epoch"])
        for r in map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())
    ]
    assert records(out) == records(straight)  # every epoch once: none lost, none run twice
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


STUDY = """
name = "{name}"
seeds = 2
[data]
latent_dim = 2
obs_dim = 5
components = 3
depth = {depth}
noise = 0.05
samples = 200
[[models]]
name = "vade"
options = {{ epochs = 2, pretrain_epochs = 1, n_restarts = 1, batch_size = 64 }}
[[models]]
name = "pca"
"""


def test_two_studies_writing_one_store_at_once_lose_no_row(tmp_path):
    store = tmp_path / "shared.db"
    procs = []
    for name, depth in (("a", 1), ("b", 2)):
        study = tmp_path / f"{name}.toml"
        study.write_text(STUDY.format(name=name, depth=depth))
        command = latentid("experiment", "run", study, "--store", store, "--quiet")
        procs.append(subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for proc in procs:
        proc.wait(timeout=300)
        assert proc.returncode == 0, proc.stderr.read().decode()
        proc.stderr.close()
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT study, status FROM runs").fetchall()
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(rows) == [("a", "finished")] * 4 + [("b", "finished")] * 4
