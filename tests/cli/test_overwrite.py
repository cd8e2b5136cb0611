"""One overwrite policy: every command that writes refuses an existing output (exit 2, one line naming the
path and --force, the file unchanged byte for byte) and replaces it with --force."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
SIM = ["--samples", "50", "--depth", "2", "--obs-dim", "4"]
TINY_VADE = ["--epochs", "1", "--pretrain-epochs", "1", "--restarts", "1", "--batch-size", "64", "--quiet"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_refused(result, path):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    assert str(path) in result.stderr and "--force" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, obs_dim=4, seed=3).build()
    save_simulation(path, gen, gen.sample(200))
    return path


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory, data_file):
    out = tmp_path_factory.mktemp("runs") / "gmm"
    assert run("fit", "--model", "gmm", "--data", data_file, "--out", out).exit_code == 0
    return out


def test_simulate_refuses_an_existing_file_and_replaces_it_with_force(tmp_path):
    out = tmp_path / "d.npz"
    out.write_bytes(b"mine")
    assert_refused(run("simulate", *SIM, "--out", out), out)
    assert out.read_bytes() == b"mine"
    assert run("simulate", *SIM, "--out", out, "--force").exit_code == 0
    assert np.load(out)["x"].shape == (50, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # no temporary file left beside it


@pytest.mark.parametrize("command", ["transform", "predict"])
def test_transform_and_predict_refuse_an_existing_npy_and_replace_it_with_force(tmp_path, gmm_run, data_file, command):
    out = tmp_path / "z.npy"
    out.write_bytes(b"mine")
    assert_refused(run(command, "--run", gmm_run, "--data", data_file, "--out", out), out)
    assert out.read_bytes() == b"mine"
    assert run(command, "--run", gmm_run, "--data", data_file, "--out", out, "--force").exit_code == 0
    assert np.load(out).shape[0] == 200


@pytest.mark.parametrize("command", ["transform", "predict"])
def test_a_runs_own_files_are_refused_as_out_even_with_force(gmm_run, data_file, command):
    """transform --out <run>/latents.npy --force put other data's latents where run.json says the fit's are."""
    before = (gmm_run / "latents.npy").read_bytes()
    for out, says in (
        (gmm_run / "latents.npy", "the run folder's own latents.npy"),
        (gmm_run / "model" / "z.npy", "model/"),
    ):
        result = run(command, "--run", gmm_run, "--data", data_file, "--out", out, "--force")
        assert result.exit_code == 2 and says in result.stderr, result.output
    assert (gmm_run / "latents.npy").read_bytes() == before and not (gmm_run / "model" / "z.npy").exists()


def test_transform_seed_without_refine_is_refused_and_a_negative_one_is_one_clean_line(gmm_run, data_file, tmp_path):
    """--seed without --refine was accepted and unused; a negative one named numpy Generators to a shell user."""
    base = ("transform", "--run", gmm_run, "--data", data_file, "--out", tmp_path / "z.npy")
    assert "--seed does not apply to a gmm run: it draws nothing" in run(*base, "--seed", 3).stderr
    assert run(*base, "--seed", -5).stderr == "error: --seed must be a non-negative int. Got -5 instead.\n"
    assert not (tmp_path / "z.npy").exists()


def test_fit_refuses_a_finished_run_and_force_replaces_only_latentids_files(tmp_path, data_file):
    out = tmp_path / "run"
    assert run("fit", "--data", data_file, "--out", out, *TINY_VADE).exit_code == 0
    assert (out / "restart-1.pt").exists() and (out / "pretrained-1.pt").exists()
    (out / "notes.txt").write_text("my notes")
    (out / "model" / "extra.txt").write_text("mine too")
    (out / "model" / "model.pt.new").write_bytes(b"the staged weights of a save stopped before its config")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert_refused(run("fit", "--model", "pca", "--data", data_file, "--out", out), out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # A bad setting is refused before the old run is deleted.
    result = run("fit", "--data", data_file, "--out", out, "--force", "--batch-size", "0", "--quiet")
    assert result.exit_code == 2, result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    result = run("fit", "--model", "pca", "--data", data_file, "--out", out, "--force")
    assert result.exit_code == 0, result.output
    names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert names == {"run.json", "latents.npy", "notes.txt", "model/extra.txt", "model/config.json", "model/arrays.npz"}
    info = json.loads((out / "run.json").read_text())
    assert info["model"] == "pca" and "resumed" not in info and info["options"]["model"] == "pca"


def test_a_refused_out_folder_comes_before_any_note(gmm_run, data_file):
    """--threads 1000 onto a finished run printed the oversubscription note, then the refusal."""
    result = run("fit", "--model", "gmm", "--data", data_file, "--out", gmm_run, "--threads", 1000)
    assert result.exit_code == 2 and result.stderr.startswith("error:") and "note:" not in result.stderr


def test_fit_force_and_resume_contradict(tmp_path, data_file):
    result = run("fit", "--data", data_file, "--out", tmp_path / "r", "--force", "--resume")
    assert result.exit_code == 2 and "--force" in result.stderr and "--resume" in result.stderr


def test_demo_refuses_a_folder_holding_a_demo_and_runs_with_force(tmp_path, monkeypatch):
    import latentid.cli.demo as demo_module

    out = tmp_path / "demo"
    out.mkdir()
    (out / "results.json").write_text("[]")
    calls = []
    monkeypatch.setattr(demo_module, "run_demo", lambda out, config, **kw: calls.append(out) or [])
    assert_refused(run("demo", "--out", out, "--quiet"), out)
    assert (out / "results.json").read_text() == "[]" and calls == []
    assert run("demo", "--out", out, "--quiet", "--force").exit_code == 0
    assert calls == [out]
    # A folder without a demo in it (here: empty) needs no --force.
    assert run("demo", "--out", tmp_path / "empty", "--quiet").exit_code == 0


def test_fit_refuses_an_interrupted_run_and_force_replaces_it(tmp_path, data_file):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"status": "running", "model": "vade"}))
    (out / "restart-1.pt").write_bytes(b"old checkpoint")
    (out / "pretrain-2.pt").write_bytes(b"old pretraining checkpoint")
    result = run("fit", "--model", "pca", "--data", data_file, "--out", out)
    assert_refused(result, out)
    assert "--resume" in result.stderr and (out / "restart-1.pt").read_bytes() == b"old checkpoint"
    assert run("fit", "--model", "pca", "--data", data_file, "--out", out, "--force").exit_code == 0
    assert not (out / "restart-1.pt").exists() and not (out / "pretrain-2.pt").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


@pytest.mark.parametrize("user_file", ["latents.npy", "train_log.jsonl", "model/model.pt", "restart-1.pt"])
def test_fit_refuses_a_folder_whose_files_only_share_a_run_s_names(tmp_path, data_file, user_file):
    """Without run.json no run owns them: a user's latents.npy (from transform --out), log or weights were
    overwritten by a fit with exit 0 and no --force."""
    out = tmp_path / "results"
    (out / user_file).parent.mkdir(parents=True)
    (out / user_file).write_bytes(b"the user's")
    result = run("fit", "--model", "pca", "--data", data_file, "--out", out)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "not a latentid run" in result.stderr and f"in place of your {user_file.split('/')[0]}" in result.stderr
    assert (out / user_file).read_bytes() == b"the user's" and not (out / "run.json").exists()


def test_fit_refuses_a_folder_of_other_files_and_writes_beside_them_with_force(tmp_path, data_file):
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run("fit", "--model", "pca", "--data", data_file, "--out", out)
    assert result.exit_code == 2 and "not a latentid run (e.g. 'notes.txt')" in result.stderr, result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # nothing written
    assert run("fit", "--model", "pca", "--data", data_file, "--out", out, "--force").exit_code == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "run.json").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("fit", "--model", "pca", "--data", data_file, "--out", empty).exit_code == 0  # needs no --force


def test_an_output_another_command_writes_meanwhile_is_kept_not_replaced(tmp_path, gmm_run, data_file, monkeypatch):
    """The 'already exists' check and the rename were two steps: two `simulate --out sim.npz` (or a transform and
    a predict to one --out) started together both passed the check, both said 'Wrote', and one output was lost."""
    import latentid.cli.fit as fit_command
    import latentid.cli.simulate as simulate_command

    def written_meanwhile(module, name):
        real = getattr(module, name)

        def write(path, *args, **kwargs):
            path.write_bytes(b"the other command's")  # it finished between this command's check and its write
            return real(path, *args, **kwargs)

        monkeypatch.setattr(module, name, write)

    written_meanwhile(simulate_command, "save_simulation")
    written_meanwhile(fit_command, "save_array")
    for args in (
        ["simulate", *SIM, "--out", tmp_path / "sim.npz"],
        ["transform", "--run", gmm_run, "--data", data_file, "--out", tmp_path / "z.npy"],
        ["predict", "--run", gmm_run, "--data", data_file, "--out", tmp_path / "labels.npy"],
    ):
        out = args[-1]
        result = run(*args)
        assert_refused(result, out)
        assert "written since this command began" in result.stderr, result.stderr
        assert out.read_bytes() == b"the other command's"
        assert run(*args, "--force").exit_code == 0 and out.read_bytes() != b"the other command's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.npy", "sim.npz", "z.npy"]


def test_a_file_exists_error_of_another_kind_is_not_called_a_racing_output(tmp_path, gmm_run, data_file, monkeypatch):
    import errno

    import latentid.cli.fit as fit_command

    def taken_elsewhere(path, *args, **kwargs):
        raise FileExistsError(errno.EEXIST, "File exists", str(tmp_path / "elsewhere"))

    monkeypatch.setattr(fit_command, "save_array", taken_elsewhere)
    result = run("transform", "--run", gmm_run, "--data", data_file, "--out", tmp_path / "z.npy")
    assert result.exit_code == 2 and "elsewhere" in result.stderr, result.output
    assert "written since this command began" not in result.stderr
