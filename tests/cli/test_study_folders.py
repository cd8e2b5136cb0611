"""The folder of `latentid experiment consistency` (and `mnist`, which shares it) as a user meets it: a bad
--device writes nothing, a second study on a busy folder is refused, a stopped seed points to the study's own
command, and Ctrl-C says how to continue."""

import json

import pytest
import torch
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.runs import fit_lock

runner = CliRunner()
STUDY = ["--model", "vae", "--epochs", 1, "--seeds", 2, "--device", "cpu", "--quiet"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, seed=1).build()
    save_simulation(path, gen, gen.sample(300))
    return path


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_torch_cannot_use_writes_nothing(tmp_path, data_file):
    out = tmp_path / "study"
    args = ["experiment", "consistency", "--data", data_file, "--model", "vade", "--epochs", 1, "--quiet"]
    one_line_error(run(*args, "--device", "cuda", "--out", out), "CUDA")
    assert not out.exists()


def test_a_second_study_on_a_busy_folder_is_refused(tmp_path, data_file):
    out = tmp_path / "busy"
    out.mkdir()
    with fit_lock(out):  # what a study holds while it fits
        one_line_error(
            run("experiment", "consistency", "--data", data_file, *STUDY, "--out", out), "another latentid study"
        )
    assert list(out.iterdir()) == []
    assert run("experiment", "consistency", "--data", data_file, *STUDY, "--out", out).exit_code == 0


def test_a_stopped_seed_points_to_the_study_command_not_to_fit(tmp_path, data_file):
    out = tmp_path / "study"
    assert run("experiment", "consistency", "--data", data_file, *STUDY, "--out", out).exit_code == 0
    seed = out / "vae" / "seed-1"
    for name in ("run.json", "metrics.json"):  # as the seed was before it finished: checkpoints only
        (seed / name).unlink()
    (seed / "restart-1.pt").write_bytes(b"")
    for command in (("evaluate", "--run", seed, "--data", data_file), ("fit", "--out", seed, "--resume")):
        one_line_error(run(*command), "interrupted fit of a study seed", "Run the same 'latentid experiment")
    assert json.loads((out / "study.json").read_text())["models"]["vae"]


def test_ctrl_c_in_a_study_says_how_to_continue(tmp_path, data_file, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("latentid.cli.experiment.run_study", interrupted)
    result = run("experiment", "consistency", "--data", data_file, *STUDY, "--out", tmp_path / "s")
    assert result.exit_code == 130
    assert result.stderr.startswith("interrupted: the finished seeds are kept in") and "same command" in result.stderr


def test_ctrl_c_in_any_other_command_is_one_line(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("latentid.cli.simulate.save_simulation", interrupted)
    result = run("simulate", "--samples", 50, "--out", tmp_path / "d.npz")
    assert result.exit_code == 130 and result.stderr == "error: interrupted.\n"


@pytest.mark.parametrize("command", ["results", "report"])
def test_a_folder_given_as_the_store_is_named_as_a_folder(tmp_path, command):
    """results said 'no such results store' of a path that exists, as a folder."""
    extra = ("--out", tmp_path / "report") if command == "report" else ()
    result = run(command, tmp_path, *extra)
    assert result.exit_code == 2 and "is a folder, not a results store" in result.stderr, result.output


def test_a_study_refuses_a_seed_folder_a_fit_begun_outside_it_is_writing(tmp_path, data_file):
    """The study locked its own folder only: a `latentid fit --out study/vae/seed-1` begun before it had its
    checkpoints taken as the study's, and a sessions.json left among its files."""
    out = tmp_path / "study"
    assert run("experiment", "consistency", "--data", data_file, *STUDY, "--out", out).exit_code == 0  # seeds 0-1
    seed = out / "vae" / "seed-2"
    seed.mkdir(parents=True)
    (seed / "restart-1.pt").write_bytes(b"the user's fit")
    with fit_lock(seed):  # what that fit holds, while the study is run again with a third seed
        one_line_error(
            run("experiment", "consistency", "--data", data_file, *STUDY, "--seeds", 3, "--out", out),
            "a latentid fit started outside this study is writing into the seed folder now",
        )
    assert sorted(p.name for p in seed.iterdir()) == ["restart-1.pt"]
    assert (seed / "restart-1.pt").read_bytes() == b"the user's fit"
