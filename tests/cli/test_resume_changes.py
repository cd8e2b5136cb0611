"""A --resume that changes what the result depends on (the epoch count, torch's thread count) says so, and run.json
keeps the thread count of every session: a model can then be reproduced from its record alone."""

import contextlib
import json

import pytest
import torch
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
OPTIONS = ["--epochs", "3", "--pretrain-epochs", "1", "--batch-size", "64", "--seed", "3", "--device", "cpu"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, obs_dim=5, seed=6).build()
    save_simulation(path, gen, gen.sample(300))
    return path


@contextlib.contextmanager
def _stopping_after_first_epoch(monkeypatch):
    """Ctrl-C after the first training epoch's checkpoint is on disk."""
    import latentid.cli.fit as fit_module

    @contextlib.contextmanager
    def progress(_enabled=True):
        def callback(event):
            if event["stage"] == "train" and event["epoch"] == 1:
                raise KeyboardInterrupt

        yield callback

    with monkeypatch.context() as patch:
        patch.setattr(fit_module, "training_progress", progress)
        yield


@pytest.fixture
def interrupted(monkeypatch, tmp_path, data_file):
    out = tmp_path / "run"
    with _stopping_after_first_epoch(monkeypatch):
        assert run("fit", "--data", data_file, "--out", out, *OPTIONS, "--threads", 1).exit_code != 0
    assert json.loads((out / "run.json").read_text())["torch_threads"] == [1]
    return out


def test_a_resume_with_other_threads_and_epochs_says_the_model_will_differ(interrupted):
    resumed = run("fit", "--out", interrupted, "--resume", "--threads", 2, "--epochs", 4, "--quiet")
    assert resumed.exit_code == 0, resumed.output
    said = " ".join(resumed.stderr.split())
    assert "the fit began with 3 epochs and goes on to 4" in said, said
    assert "ran with 1 torch thread(s) and goes on with 2" in said and "--threads 1" in said, said
    info = json.loads((interrupted / "run.json").read_text())
    assert info["torch_threads"] == [1, 2]
    assert "sessions ran with 1 and 2 torch threads" in info["threads_note"]
    assert info["epochs_note"].startswith("the fit began with 3 epochs and went on to 4")


def test_a_resume_that_changes_neither_says_nothing_of_them(interrupted):
    resumed = run("fit", "--out", interrupted, "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert "goes on" not in resumed.stderr and "torch threads" not in resumed.stderr, resumed.stderr
    info = json.loads((interrupted / "run.json").read_text())
    assert info["torch_threads"] == [1, 1] and "threads_note" not in info and "epochs_note" not in info


def test_a_fit_records_the_threads_it_ran_with_when_none_were_asked_for(tmp_path, data_file):
    out = tmp_path / "run"
    assert run("fit", "--data", data_file, "--out", out, *OPTIONS, "--quiet").exit_code == 0
    assert json.loads((out / "run.json").read_text())["torch_threads"] == [torch.get_num_threads()]
    linear = tmp_path / "pca"
    assert run("fit", "--model", "pca", "--data", data_file, "--out", linear, "--quiet").exit_code == 0
    assert "torch_threads" not in json.loads((linear / "run.json").read_text())


def test_a_run_begun_before_threads_were_recorded_keeps_one_entry_per_session(interrupted):
    """Resumed from a run.json of the previous version, the list read [2] for two sessions: all on 2 threads."""
    info = json.loads((interrupted / "run.json").read_text())
    del info["torch_threads"]
    (interrupted / "run.json").write_text(json.dumps(info))
    assert run("fit", "--out", interrupted, "--resume", "--threads", 2, "--quiet").exit_code == 0
    info = json.loads((interrupted / "run.json").read_text())
    assert info["torch_threads"] == [None, 2] and "a count not recorded" in info["threads_note"]


def test_a_resume_to_fewer_epochs_than_have_run_does_not_say_training_goes_on(interrupted):
    """'goes on to 50' where 147 epochs had run and nothing more was trained."""
    resumed = run("fit", "--out", interrupted, "--resume", "--epochs", 1, "--quiet")
    said = " ".join(resumed.stderr.split())
    assert resumed.exit_code == 0 and "began with 3 epochs and now ends at 1: at once where" in said, said
    assert "goes on" not in said
