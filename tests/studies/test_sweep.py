"""`latentid experiment run` end to end: a 2x2 grid with the local executor (in process and a process pool),
the same with Ray, a study killed with SIGKILL and rerun, failures recorded, bad input refused."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()

GRID = """
name = "grid"
seeds = 1
[data]
latent_dim = 2
obs_dim = 5
components = 3
depth = [1, 2]
noise = [0.02, 0.05]
samples = 240
[[models]]
name = "vade"
options = { epochs = 2, pretrain_epochs = 1, n_restarts = 1, batch_size = 64 }
[[models]]
name = "pca"
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def cli(*args, **kwargs):
    """`latentid ...` as its own process."""
    code = "import sys; from latentid.cli import main; sys.argv[0] = 'latentid'; sys.exit(main())"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    return [sys.executable, "-c", code, *map(str, args)], env


def stored(store) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT key, status, finished, metrics FROM runs ORDER BY key").fetchall()


def _count(store) -> int:
    """Rows in a store that another process may still be creating."""
    try:
        return len(stored(store)) if store.exists() else 0
    except sqlite3.OperationalError:  # the file is there, its table not yet
        return 0


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


def test_a_2x2_grid_runs_once_and_resumes_with_nothing_to_do(grid_file, tmp_path):
    store = tmp_path / "results.db"
    result = run("experiment", "run", grid_file, "--store", store, "--quiet")
    assert result.exit_code == 0, result.output
    rows = stored(store)
    assert len(rows) == 8 and {r[1] for r in rows} == {"finished"}  # 2 depths x 2 noises x 2 models x 1 seed
    assert result.stderr.count("✓") == 8  # one line per finished run
    metrics = {key: json.loads(m) for key, _, _, m in rows}
    assert all(0.0 <= m["affine_r2"] <= 1.0 for m in metrics.values())
    again = run("experiment", "run", grid_file, "--store", store, "--quiet")
    assert again.exit_code == 0 and "8 were already done" in again.stdout
    assert stored(store) == rows  # nothing recomputed
    listed = json.loads(run("results", store, "--format", "json").stdout)["runs"]
    assert sorted(r["key"] for r in listed) == sorted(r[0] for r in rows)
    vade = run("results", store, "--where", "model=vade,data.depth=2", "--format", "csv")
    assert vade.exit_code == 0 and len(vade.stdout.strip().splitlines()) == 1 + 2
    artifacts = tmp_path / "results-artifacts"
    assert sorted(p.name for p in artifacts.iterdir()) == sorted(r[0] for r in rows)
    report = tmp_path / "report"
    written = run("report", store, "--out", report)
    assert written.exit_code == 0, written.output
    page = (report / "index.html").read_text()
    assert all(key in page for key, *_ in rows)  # the report lists every run
    one_line_error(run("report", store, "--out", report), "--force")
    assert run("report", store, "--out", report, "--force").exit_code == 0
    # a folder whose figures/ holds the user's own files: refused, and --force writes beside them, deleting none
    paper = tmp_path / "paper"
    (paper / "figures").mkdir(parents=True)
    (paper / "figures" / "my_plot.png").write_bytes(b"mine")
    one_line_error(run("report", store, "--out", paper), "--force")
    assert run("report", store, "--out", paper, "--force").exit_code == 0
    assert (paper / "figures" / "my_plot.png").read_bytes() == b"mine"


def test_a_process_pool_gives_the_same_results(grid_file, tmp_path):
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    assert run("experiment", "run", grid_file, "--store", one, "--quiet").exit_code == 0
    command, env = cli("experiment", "run", grid_file, "--store", two, "--jobs", 2, "--quiet")
    done = subprocess.run(command, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    same = lambda rows: [(key, status, json.loads(m)) for key, status, _, m in rows]  # noqa: E731
    assert same(stored(two)) == same(stored(one))


def test_the_same_study_on_ray(grid_file, tmp_path):
    pytest.importorskip("ray")
    study = tmp_path / "two.toml"
    study.write_text(GRID.replace("depth = [1, 2]", "depth = 1").replace("noise = [0.02, 0.05]", "noise = 0.05"))
    store = tmp_path / "ray.db"
    command, env = cli("experiment", "run", study, "--store", store, "--executor", "ray", "--jobs", 2, "--quiet")
    done = subprocess.run(command, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    rows = stored(store)
    assert len(rows) == 2 and {r[1] for r in rows} == {"finished"}  # two Ray tasks: vade and pca


def test_a_killed_study_resumes_without_duplicates_or_losses(tmp_path):
    study = tmp_path / "kill.toml"
    study.write_text(GRID.replace("seeds = 1", "seeds = 3").replace('[[models]]\nname = "pca"\n', ""))
    store = tmp_path / "kill.db"
    command, env = cli("experiment", "run", study, "--store", store, "--quiet")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _count(store) < 2:
        assert proc.poll() is None, "the study ended before it could be killed"
        assert time.monotonic() < deadline, "the study never recorded two runs"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    before = {key: finished for key, _, finished, _ in stored(store)}
    assert 2 <= len(before) < 12

    done = subprocess.run(command, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    after = stored(store)
    assert len(after) == 12 and len({r[0] for r in after}) == 12  # 4 settings x 3 seeds, each exactly once
    assert all(finished == before[key] for key, _, finished, _ in after if key in before)  # not run again
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_failing_run_is_recorded_and_the_study_goes_on(tmp_path):
    study = tmp_path / "fail.toml"
    # A Bernoulli likelihood on data outside [0, 1] is refused at fit time: that run fails, pca does not.
    study.write_text(GRID.replace("batch_size = 64 }", 'batch_size = 64, likelihood = "bernoulli" }'))
    store = tmp_path / "fail.db"
    result = run("experiment", "run", study, "--store", store, "--quiet")
    assert result.exit_code == 1, result.output  # the study went on, and says some runs failed (0 before)
    statuses = [status for _, status, _, _ in stored(store)]
    assert statuses.count("failed") == 4 and statuses.count("finished") == 4
    assert "4 failed" in result.stdout and "bernoulli" in result.stderr
    failed = json.loads(run("results", store, "--where", "status=failed", "--format", "json").stdout)["runs"]
    assert all("[0, 1]" in r["error"] for r in failed)


def one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr, result.stderr


def test_bad_input_is_one_line(grid_file, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GRID.replace("noise = [0.02, 0.05]", "nosie = 0.05"))
    one_line_error(run("experiment", "run", bad, "--store", tmp_path / "s.db"), "bad.toml", "nosie")
    one_line_error(run("experiment", "run", grid_file, "--jobs", 0, "--store", tmp_path / "s.db"), "--jobs")
    one_line_error(run("experiment", "run", grid_file, "--address", "auto", "--store", tmp_path / "s.db"), "--address")
    one_line_error(run("results", tmp_path / "missing.db"), "missing.db")
    assert not (tmp_path / "missing.db").exists()
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("not a database")
    one_line_error(run("results", not_sqlite), "notes.db")


def test_a_study_name_with_markup_is_shown_as_typed(tmp_path):
    # Before: the name went to the progress bar as Rich markup: "[/]" raised a MarkupError traceback.
    study = tmp_path / "markup.toml"
    study.write_text('name = "oops [/] [bold]x[/bold]"\nseeds = 1\n[data]\nsamples = 100\n[[models]]\nname = "pca"\n')
    result = run("experiment", "run", study, "--store", tmp_path / "m.db")
    assert result.exit_code == 0, result.output
    assert "oops [/] [bold]x[/bold]" in result.output


def test_more_jobs_than_cores_is_noted(tmp_path, monkeypatch):
    # Before: --jobs 1000 on 2 cores ran in silence, 6.6 times slower than --jobs 1.
    import os as os_module

    monkeypatch.setattr(os_module, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    study = tmp_path / "one.toml"
    study.write_text('name = "one"\nseeds = 1\n[data]\nsamples = 100\n[[models]]\nname = "pca"\n')
    result = run("experiment", "run", study, "--store", tmp_path / "o.db", "--jobs", 3, "--quiet")
    assert result.exit_code == 0, result.output
    assert "--jobs 3 is more than the 2 CPU core(s)" in result.stderr


def test_a_ctrl_c_while_a_row_is_recorded_counts_the_row_that_went_in(tmp_path, monkeypatch):
    """The interrupted line said one run fewer than the store held (6076 of 100000 against 6077 stored) when
    Ctrl-C came while the row was being recorded (its fsync, the log's checkpoint)."""
    from latentid.studies.store import ResultStore

    study = tmp_path / "pca.toml"
    study.write_text(GRID.split("[[models]]")[0] + '[[models]]\nname = "pca"\n')
    real_record = ResultStore.record
    calls = []

    def recorded_then_stopped(self, row):
        calls.append(row["key"])
        done = real_record(self, row)
        if len(calls) == 2:
            raise KeyboardInterrupt  # after the commit: the row is in
        return done

    monkeypatch.setattr(ResultStore, "record", recorded_then_stopped)
    store = tmp_path / "r.db"
    result = run("experiment", "run", study, "--store", store, "--quiet")
    assert result.exit_code == 130 and len(stored(store)) == 2
    assert "interrupted: 2 of 4 runs of study 'grid'" in result.stderr, result.stderr
