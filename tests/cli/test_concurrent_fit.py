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


def test_a_fit_that_finished_into_the_folder_after_the_check_is_not_replaced(tmp_path, small_simulation, monkeypatch):
    """The occupied-folder check ran before the fit took the folder's lock and not again under it: a gmm fit that
    finished into the same --out in between was replaced by the pca fit without --force, both saying 'Fitted'."""
    import pytest

    import latentid.runs as runs
    from latentid.data.io import read_dataset
    from latentid.errors import DataFileError

    data, out, real_make_model = read_dataset(small_simulation), tmp_path / "run", runs.make_model

    def another_fit_meanwhile(name, **params):
        monkeypatch.setattr(runs, "make_model", real_make_model)
        runs.fit_run("gmm", data, out)  # the other command, between this one's check and its lock
        return real_make_model(name, **params)

    monkeypatch.setattr(runs, "make_model", another_fit_meanwhile)
    with pytest.raises(DataFileError, match="already holds a finished run"):
        runs.fit_run("pca", data, out)
    assert runs.load_run(out).info["model"] == "gmm"


def test_a_fit_into_a_seed_folder_of_a_study_running_now_is_refused(tmp_path, small_simulation):
    """The study locks its own folder, not its seed folders: `fit --force` into one moved the study's checkpoints
    away mid-fit and deleted them, and the study later wrote its run over the user's."""
    study = tmp_path / "study"
    seed = study / "vade" / "seed-0"
    seed.mkdir(parents=True)
    (study / "study.json").write_text("{}")
    (seed / "restart-1.pt").write_bytes(b"the study's")
    # what the running `latentid experiment consistency --out study` holds: its folder, and the seed it fits now
    with fit_lock(study), fit_lock(seed, busy="the study's"):
        for extra in ([], ["--force"]):
            result = run("fit", "--data", small_simulation, "--out", seed, "--model", "pca", *extra)
            assert result.exit_code == 2 and "seed folder of the latentid study running now" in result.stderr
            assert result.stderr.count("\n") == 1, result.stderr
        reading = run("transform", "--run", seed, "--data", small_simulation, "--out", tmp_path / "z.npy")
        assert reading.exit_code == 2 and "a latentid study is fitting this seed now" in reading.stderr
    assert [p.name for p in seed.iterdir()] == ["restart-1.pt"]


def test_readers_neither_block_a_fit_nor_see_a_replacement_halfway(tmp_path, small_simulation):
    """fit_in_progress asked with the fit's own exclusive lock, so a reader asking at the moment a fit started made
    that fit be refused as 'another fit is writing'; and load_run read without a lock, so a fit --force halfway
    through replacing the run showed it 'model/ is missing ... fit again with --force' (or one fit's run.json with
    another's model)."""
    import threading
    import time

    import pytest

    from latentid._folder_lock import folder_lock
    from latentid.errors import DataFileError
    from latentid.runs import load_run

    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, "--model", "pca").exit_code == 0
    with folder_lock(out, "busy", shared=True):  # a reader (load_run) holding the folder at this moment
        assert not fit_in_progress(out)
    holding, released = threading.Event(), threading.Event()

    def reader():
        with folder_lock(out, "busy", shared=True):
            holding.set()
            time.sleep(0.4)
        released.set()

    thread = threading.Thread(target=reader)
    thread.start()
    assert holding.wait(30)  # the fit starts while the reader holds the folder
    result = run("fit", "--data", small_simulation, "--out", out, "--model", "gmm", "--force")
    thread.join()
    assert result.exit_code == 0 and released.is_set(), result.output  # it waited for the reader, then fitted
    with fit_lock(out):  # a fit --force halfway: the old model set aside, the new one not yet written
        (out / "model").rename(tmp_path / "aside")
        with pytest.raises(DataFileError, match="another latentid fit is writing into this folder now"):
            load_run(out)
        (tmp_path / "aside").rename(out / "model")
    assert load_run(out).info["model"] == "gmm"


def test_a_reader_holds_no_lock_while_it_reads_and_reads_again_what_a_fit_rewrote(
    tmp_path, small_simulation, monkeypatch
):
    """Readers held a shared lock for the whole read: readers in a loop (or one slow load) overlapped without a gap
    and a fit --force waited past its limit, refused as 'another latentid fit is writing' with none running. They
    now read without one and check that no fit held the folder, nor rewrote its run.json, meanwhile."""
    import pytest

    import latentid.runs as runs
    from latentid._atomic import write_text_atomic
    from latentid.errors import DataFileError

    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, "--model", "pca").exit_code == 0
    real, calls = runs._load_run, []

    def read_while_a_fit_starts(path, device):
        calls.append(path)
        with fit_lock(path, wait=0.0):  # a fit starting now is not kept waiting by this reader
            pass
        if len(calls) == 1:  # and what it rewrote during the first read is read again
            write_text_atomic(path / "run.json", (path / "run.json").read_text())
        return real(path, device)

    monkeypatch.setattr(runs, "_load_run", read_while_a_fit_starts)
    assert runs.load_run(out).info["model"] == "pca" and len(calls) == 2

    def always_rewritten(path, device):
        write_text_atomic(path / "run.json", (path / "run.json").read_text())
        return real(path, device)

    monkeypatch.setattr(runs, "_load_run", always_rewritten)
    with pytest.raises(DataFileError, match="another latentid fit is writing into this folder now"):
        runs.load_run(out)


def test_a_file_system_without_locks_reads_and_fits_unlocked(tmp_path, small_simulation, monkeypatch):
    """flock failing with ENOLCK (or NFS's EBADF) failed transform, evaluate and explain --run ('No locks
    available. Check the path and its folder.'); fit failed there too."""
    import errno
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    out = tmp_path / "run"
    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert run("fit", "--data", small_simulation, "--out", out, "--model", "pca").exit_code == 0
    result = run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy")
    assert result.exit_code == 0, result.output
