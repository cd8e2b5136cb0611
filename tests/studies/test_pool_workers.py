"""The process pool of `latentid experiment run --jobs N` never outlives its driver and never prints worker
tracebacks: a driver killed with SIGKILL takes its workers with it, and Ctrl-C stops the study quietly."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process parents from /proc")

STUDY = """
name = "pool"
seeds = 4
[data]
latent_dim = 2
obs_dim = 5
components = 3
depth = 2
samples = 2000
[[models]]
name = "vade"
options = { epochs = 500, pretrain_epochs = 50, n_restarts = 1, patience = 1000 }
"""


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_study(tmp_path):
    """The driver as its own process (and process group), once its two workers exist: (process, worker ids)."""
    study = tmp_path / "pool.toml"
    study.write_text(STUDY)
    code = "import sys; from latentid.cli import main; sys.argv[0] = 'latentid'; sys.exit(main())"
    command = [sys.executable, "-c", code, "experiment", "run", str(study), "--store", str(tmp_path / "s.db")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*command, "--jobs", "2", "--quiet"], env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while True:  # the pool's two workers, not its resource tracker (which is not a multiprocessing worker)
        workers = {p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()}
        if len(workers) == 2:
            return proc, workers
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the pool never started two workers"
        time.sleep(0.05)


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_workers_end_when_the_driver_is_killed(tmp_path):
    proc, workers = _start_study(tmp_path)
    time.sleep(2)  # into the fits
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    left = _wait_gone(workers, 15)
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, "pool workers outlived their killed driver"


def test_ctrl_c_while_workers_start_stops_them_without_tracebacks(tmp_path):
    proc, workers = _start_study(tmp_path)
    time.sleep(0.3)  # past the driver's submissions; the workers are still importing torch
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert not _wait_gone(workers, 15)


SHORT = STUDY.replace("samples = 2000", "samples = 600").replace(
    "epochs = 500, pretrain_epochs = 50, n_restarts = 1, patience = 1000",
    "epochs = 60, pretrain_epochs = 5, n_restarts = 1",
)


def test_a_worker_killed_under_its_run_does_not_end_the_study(tmp_path):
    # Before: the OOM killer (or any SIGKILL) taking one worker ended the study with a BrokenProcessPool
    # traceback, the run in flight beside it lost. Now the runs in flight are rerun one at a time, and those
    # that kill their worker again are recorded as failed; the rest of the study goes on.
    study = tmp_path / "short.toml"
    study.write_text(SHORT)
    code = "import sys; from latentid.cli import main; sys.argv[0] = 'latentid'; sys.exit(main())"
    command = [sys.executable, "-c", code, "experiment", "run", str(study), "--store", str(tmp_path / "s.db")]
    proc = subprocess.Popen(
        [*command, "--jobs", "2", "--quiet"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (workers := {p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()}):
        assert proc.poll() is None and time.monotonic() < deadline, "the pool never started"
        time.sleep(0.05)
    time.sleep(3)  # into a fit
    os.kill(min(workers), signal.SIGKILL)
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "s.db") as db:
        statuses = [status for (status,) in db.execute("SELECT status FROM runs")]
    assert len(statuses) == 4 and set(statuses) == {"finished"}, statuses  # the killed run was rerun


def _dies_on_poison(config: str, threads: int | None = None) -> dict:
    """A stand-in for run_one in the pool's workers: the config "poison" kills its process, others return."""
    if config == "poison":
        os._exit(9)
    return {"config": config}


def test_a_run_that_kills_its_worker_every_time_is_recorded_as_failed(monkeypatch):
    from latentid.studies import executors

    monkeypatch.setattr(executors, "run_one", _dies_on_poison)
    failed = []
    monkeypatch.setattr(executors, "crashed_row", lambda config, error: failed.append((config, error)) or {})
    rows = list(executors.LocalExecutor(jobs=2).map(["a", "poison", "b", "c"]))
    assert sorted(row["config"] for row in rows if row) == ["a", "b", "c"]  # the others, each once
    assert [config for config, _ in failed] == ["poison"] and "worker process died" in failed[0][1]
