"""Run folders a user can trust: provenance in run.json, --resume from the folder's own options, one
restart numbering, the log's numbers equal to the model's history, and the command line's small promises."""

import contextlib
import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.errors import InvalidParameterError
from latentid.models import PCA, VaDE

runner = CliRunner()
FAST = ["--epochs", "4", "--pretrain-epochs", "1", "--batch-size", "64", "--quiet", "--device", "auto"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, seed=4).build()
    save_simulation(path, gen, gen.sample(300))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_file):
    out = tmp_path_factory.mktemp("runs") / "vade"
    result = run("fit", "--data", data_file, "--out", out, "--restarts", 2, *FAST)
    assert result.exit_code == 0, result.output
    return out


def _interrupt_after(monkeypatch, stop_epoch: int) -> None:
    """Make the next CLI fit stop (as Ctrl-C would) once training epoch ``stop_epoch`` is checkpointed."""
    import latentid.cli.fit as fit_module

    @contextlib.contextmanager
    def interrupting(_enabled=True):
        def callback(event):
            if event["stage"] == "train" and event["epoch"] == stop_epoch:
                raise KeyboardInterrupt

        yield callback

    monkeypatch.setattr(fit_module, "training_progress", interrupting)


def test_run_json_records_provenance(finished, data_file):
    info = json.loads((finished / "run.json").read_text())
    assert info["status"] == "finished"
    assert info["command"][:2] == ["latentid", "fit"] or info["command"][0] == "latentid"
    assert info["options"]["data"] == str(data_file.resolve()) and info["options"]["restarts"] == 2
    assert info["data"]["path"] == str(data_file.resolve())
    assert info["data"]["sha256"] == hashlib.sha256(data_file.read_bytes()).hexdigest()
    assert info["device"] == "cpu"  # what was used, not "auto"
    assert info["seed"] == 0 and info["versions"]["torch"] and info["versions"]["latentid"]
    config = json.loads((finished / "model" / "config.json").read_text())
    assert config["params"]["checkpoint_dir"] == str(finished.resolve())  # absolute, not as typed


def test_restarts_are_numbered_from_one_everywhere(finished):
    info = json.loads((finished / "run.json").read_text())
    records = [json.loads(line) for line in (finished / "train_log.jsonl").read_text().splitlines()]
    assert {r["restart"] for r in records} == {1, 2}
    assert {p.name for p in finished.glob("restart-*.pt")} == {"restart-1.pt", "restart-2.pt"}
    assert {p.name for p in finished.glob("pretrained-*.pt")} == {"pretrained-1.pt", "pretrained-2.pt"}
    assert info["best_restart"] in (1, 2)


def test_the_log_and_the_saved_history_hold_the_same_numbers(finished):
    model = VaDE.load(finished / "model", device="cpu")
    kept = json.loads((finished / "run.json").read_text())["best_restart"]
    records = [json.loads(line) for line in (finished / "train_log.jsonl").read_text().splitlines()]
    train = [r for r in records if r["stage"] == "train" and r["restart"] == kept]
    assert [r["val_elbo"] for r in train] == model.val_elbo_history_
    assert [-r["train_loss"] for r in train] == model.elbo_history_
    assert all("ELBO" in r["objective"] and "data units" in r["objective"] for r in train)
    pretrain = [r for r in records if r["stage"] == "pretrain"]
    assert pretrain and all("warm start" in r["objective"] for r in pretrain)


def test_resume_takes_the_options_from_the_folder(monkeypatch, data_file, tmp_path):
    straight = tmp_path / "straight"
    assert run("fit", "--data", data_file, "--out", straight, "--seed", 5, "--lr", 0.002, *FAST).exit_code == 0

    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 2)
        stopped = run("fit", "--data", data_file, "--out", out, "--seed", 5, "--lr", 0.002, *FAST)
    assert (
        stopped.exit_code == 130
        and stopped.stderr == f"interrupted: continue with 'latentid fit --out {out} --resume'\n"
    )
    assert json.loads((out / "run.json").read_text())["status"] == "running"

    # an interrupted folder is reported as one, with the command that continues it
    assert_one_line_error(run("transform", "--run", out, "--data", data_file, "--out", tmp_path / "z.npy"), "--resume")
    assert_one_line_error(run("fit", "--data", data_file, "--out", out, *FAST), "interrupted", "--resume")
    # a flag that disagrees with the run is refused by name; --epochs may change on resume
    assert_one_line_error(run("fit", "--out", out, "--resume", "--lr", 0.01), "--lr")

    resumed = run("fit", "--out", out, "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    np.testing.assert_allclose(np.load(out / "latents.npy"), np.load(straight / "latents.npy"), rtol=0, atol=1e-5)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and len(info["resumed"]) == 1 and info["epochs_run"] == 4
    # fit_seconds counts both sessions (it counted the last one alone), and says nothing is missing from it
    first, last = info["session_seconds"]
    assert first > 0 and last > 0 and info["fit_seconds"] == pytest.approx(first + last, abs=2e-3)
    assert "fit_seconds_note" not in info


def test_an_interrupted_replacement_says_where_the_replaced_run_waits(monkeypatch, data_file, tmp_path):
    out = tmp_path / "run"
    assert run("fit", "--data", data_file, "--out", out, *FAST).exit_code == 0
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        stopped = run("fit", "--data", data_file, "--out", out, "--force", "--seed", 3, *FAST)
    assert stopped.exit_code == 130 and f"waits in {out / '.replaced-run'}" in stopped.stderr, stopped.stderr
    assert (out / ".replaced-run" / "run.json").is_file()
    assert run("fit", "--out", out, "--resume", "--quiet").exit_code == 0
    assert not (out / ".replaced-run").exists()  # deleted once the replacing fit ended, as the message said


def test_ctrl_c_after_the_fit_finished_says_the_run_is_complete(monkeypatch, data_file, tmp_path):
    import latentid.cli.fit as fit_module

    real = fit_module.fit_run

    def finish_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt  # as Ctrl-C between run.json's 'finished' and the command's last line

    monkeypatch.setattr(fit_module, "fit_run", finish_then_stop)
    out = tmp_path / "run"
    stopped = run("fit", "--data", data_file, "--out", out, *FAST)
    assert stopped.exit_code == 130, stopped.output
    assert stopped.stderr == f"interrupted after the fit finished: {out} holds the complete run\n"


def test_a_resume_that_changes_epochs_records_them(monkeypatch, data_file, tmp_path):
    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        assert run("fit", "--data", data_file, "--out", out, *FAST).exit_code != 0
    started = json.loads((out / "run.json").read_text())
    # as a session killed outright leaves it: no time recorded for it
    (out / "run.json").write_text(json.dumps({k: v for k, v in started.items() if k != "session_seconds"}))
    assert run("fit", "--out", out, "--resume", "--epochs", 3, "--quiet").exit_code == 0
    info = json.loads((out / "run.json").read_text())
    # The options a further --resume would read are the ones the run went on with; how it began is kept.
    assert info["options"]["epochs"] == 3 and started["options"]["epochs"] == 4
    assert info["command"] == started["command"]
    assert len(info["resume_commands"]) == 1  # (the command line is sys.argv: pytest's here)
    assert len(info["session_seconds"]) == 1 and info["fit_seconds_note"].startswith("the sum of 1 of the fit's 2")


def test_a_resume_follows_its_data_file_to_a_new_path_and_refuses_other_bytes(monkeypatch, data_file, tmp_path):
    moved = tmp_path / "moved.npz"
    moved.write_bytes(data_file.read_bytes())
    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        assert run("fit", "--data", moved, "--out", out, *FAST).exit_code != 0
    renamed = moved.rename(tmp_path / "renamed.npz")
    # where run.json says it was, and how to go on from where it is now
    assert_one_line_error(run("fit", "--out", out, "--resume"), "moved.npz", "is gone", "--resume --data NEW_PATH")
    other = tmp_path / "other.npz"
    with np.load(renamed) as arrays:
        np.savez(other, **{**arrays, "x": arrays["x"] + 1.0})
    assert_one_line_error(run("fit", "--out", out, "--resume", "--data", other), "other bytes", "new path")
    resumed = run("fit", "--out", out, "--resume", "--data", renamed, "--quiet")  # the same bytes: it goes on
    assert resumed.exit_code == 0, resumed.output
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["data"]["path"] == str(renamed.resolve())  # not the dead path


def test_a_refused_resume_leaves_run_json_as_it_was(monkeypatch, data_file, tmp_path):
    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        assert run("fit", "--data", data_file, "--out", out, *FAST).exit_code != 0
    before = (out / "run.json").read_bytes()
    # values refused only when the model checks its settings: that used to be after run.json took them, so a
    # plain --resume then failed on them
    for flag, value in (("--epochs", 0), ("--threads", 0), ("--device", "cuda")):
        assert_one_line_error(run("fit", "--out", out, "--resume", flag, value), flag)
        assert (out / "run.json").read_bytes() == before, flag
    # refused by the model itself, once run.json had taken the resume's session: it is put back as it was (a
    # later plain --resume continued with the refused command's options)
    with monkeypatch.context() as patch:

        def refusing(self, *args, **kwargs):
            raise InvalidParameterError("the checkpoints were made with other settings")

        patch.setattr(VaDE, "fit", refusing)
        refused = run("fit", "--out", out, "--resume", "--threads", 2)
        assert refused.exit_code == 2 and "other settings" in refused.stderr, refused.output
    assert (out / "run.json").read_bytes() == before
    assert run("fit", "--out", out, "--resume", "--quiet").exit_code == 0


def test_a_flag_typed_on_resume_with_the_value_the_run_took_by_default_is_accepted(monkeypatch, data_file, tmp_path):
    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        assert run("fit", "--data", data_file, "--out", out, *FAST).exit_code != 0
    # started without --seed, --covariance, --components, --latent-dim, --model, --lr or the network flags:
    # their defaults are what it used (5 decoder layers as wide as the 10 features)
    same = ["--seed", 0, "--covariance", "full", "--components", 4, "--latent-dim", 2, "--model", "vade"]
    same += ["--lr", 0.001, "--decoder-depth", 5, "--decoder-width", 10]
    assert run("fit", "--out", out, "--resume", *same, "--quiet").exit_code == 0
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_a_flag_typed_on_resume_with_another_value_than_the_default_the_run_took_is_refused(
    monkeypatch, data_file, tmp_path
):
    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        assert run("fit", "--data", data_file, "--out", out, *FAST).exit_code != 0
    others = (("--seed", 1), ("--covariance", "diag"), ("--components", 3), ("--lr", 0.5), ("--decoder-depth", 4))
    for flag, value in (*others, ("--model", "vae")):
        assert_one_line_error(run("fit", "--out", out, "--resume", flag, value), flag, "(its default differs)")


def test_resume_where_there_is_nothing_to_resume(data_file, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(
        run("fit", "--out", empty, "--resume", "--data", data_file), "nothing to resume", "no run.json"
    )
    assert list(empty.iterdir()) == []
    missing = tmp_path / "missing"
    assert_one_line_error(run("fit", "--out", missing, "--resume", "--data", data_file), "nothing to resume")
    assert not missing.exists()


def test_a_refused_fit_with_progress_on_prints_only_its_error(data_file, tmp_path):
    result = run("fit", "--data", data_file, "--out", tmp_path / "r", "--lr", -1)  # progress bars not --quiet
    assert result.exit_code == 2 and result.stderr.startswith("error: --lr") and result.stderr.count("\n") == 1


def test_resuming_a_finished_run_changes_nothing(finished):
    before = {p.name: p.read_bytes() for p in finished.rglob("*") if p.is_file()}
    result = run("fit", "--out", finished, "--resume", "--quiet")
    assert result.exit_code == 0 and "nothing to resume" in result.stdout, result.output
    assert {p.name: p.read_bytes() for p in finished.rglob("*") if p.is_file()} == before
    assert_one_line_error(run("fit", "--out", finished, "--resume", "--model", "vae"), "--model")


def test_resuming_a_finished_run_checks_the_adjustable_flags_and_says_it_trains_no_further(finished):
    """--epochs, --threads and --device may change on --resume, so they skip the comparison with run.json; on a
    finished run they were then not checked at all (--epochs -5 exited 0), and more epochs said only 'nothing to
    resume'."""
    assert_one_line_error(run("fit", "--out", finished, "--resume", "--epochs", -5), "--epochs", ">= 1")
    assert_one_line_error(run("fit", "--out", finished, "--resume", "--threads", 0), "--threads", ">= 1")
    more = run("fit", "--out", finished, "--resume", "--epochs", 40)
    assert more.exit_code == 0 and "not trained further" in more.stdout and "another --out" in more.stdout
    same = run("fit", "--out", finished, "--resume", "--epochs", 4)
    assert same.exit_code == 0 and "not trained further" not in same.stdout, same.output


def test_a_finished_run_fitted_at_the_default_epochs_is_told_apart_from_more_epochs(finished, tmp_path):
    """A run fitted without --epochs records none in run.json: every --epochs, even the count it ran, said 'not
    trained further. For N epochs, fit into another --out'."""
    import shutil

    out = tmp_path / "default-epochs"
    shutil.copytree(finished, out)
    info = json.loads((out / "run.json").read_text())
    del info["params"]["epochs"]
    (out / "run.json").write_text(json.dumps(info))
    ran = info["epochs_run"]
    same = run("fit", "--out", out, "--resume", "--epochs", ran)
    assert same.exit_code == 0 and "not trained further" not in same.stdout, same.output
    more = run("fit", "--out", out, "--resume", "--epochs", ran + 10)
    assert more.exit_code == 0 and "not trained further" in more.stdout, more.output


def test_fit_flags_reach_the_model(data_file, tmp_path):
    out = tmp_path / "flags"
    args = ["--elbo", "vade", "--noise-scale", 0.3, "--patience", 0, "--no-standardize", "--epochs", 1]
    result = run("fit", "--data", data_file, "--out", out, *args, *FAST[2:])
    assert result.exit_code == 0, result.output
    assert "(1 epoch," in result.stdout  # singular
    params = json.loads((out / "model" / "config.json").read_text())["params"]
    assert params["elbo"] == "vade" and params["noise_scale"] == 0.3
    assert params["patience"] is None and params["standardize"] is False
    assert_one_line_error(
        run("fit", "--data", data_file, "--out", tmp_path / "a", "--elbo", "vade", "--iw-samples", 2, *FAST), "--elbo"
    )
    assert_one_line_error(
        run("fit", "--data", data_file, "--out", tmp_path / "b", "--model", "pca", "--patience", 3), "--patience"
    )


def test_version_order_and_small_promises(tmp_path):
    from importlib import metadata

    version = run("--version")
    assert version.exit_code == 0 and version.stdout.strip() == f"latentid {metadata.version('latentid')}"
    listed = run("--help").stdout
    order = ["simulate", "explain", "fit", "transform", "predict", "evaluate", "demo"]
    positions = [listed.index(f"  {name} ") for name in order]
    assert positions == sorted(positions)
    assert run("-h").stdout == listed  # -h, as most tools take it ("No such option: -h" before)
    assert run("experiment", "run", "-h").stdout.startswith("Usage: latentid experiment run")
    assert_one_line_error(run("simulate", "--out", tmp_path / "one.npz", "--samples", 1), "--samples")
    assert not (tmp_path / "one.npz").exists()


def test_fit_transform_is_fit_then_transform():
    x = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)
    np.testing.assert_allclose(PCA(latent_dim=2).fit_transform(x), PCA(latent_dim=2).fit(x).transform(x))
    small = {"epochs": 2, "pretrain_epochs": 1, "n_restarts": 1, "n_components": 2, "random_state": 0}
    np.testing.assert_array_equal(VaDE(**small).fit_transform(x), VaDE(**small).fit(x).transform(x))


def test_resume_is_refused_for_a_linear_floor_and_a_finished_one_names_no_epochs(data_file, tmp_path):
    out = tmp_path / "pca"
    assert run("fit", "--model", "pca", "--data", data_file, "--out", out, "--quiet").exit_code == 0
    before = (out / "run.json").read_bytes()
    assert_one_line_error(run("fit", "--model", "pca", "--data", data_file, "--out", out, "--resume"), "--resume")
    again = run("fit", "--out", out, "--resume")
    assert again.exit_code == 0 and "holds a finished run (pca); nothing to resume" in again.stdout, again.output
    assert (out / "run.json").read_bytes() == before


def test_a_linked_data_file_is_read_by_the_name_typed_not_its_target(data_file, tmp_path):
    """DVC and git-annex keep data as links to content-addressed files with no suffix."""
    blob = tmp_path / "cache" / "3f9a0c"
    blob.parent.mkdir()
    blob.write_bytes(data_file.read_bytes())
    link = tmp_path / "linked.npz"
    link.symlink_to(blob)
    result = run("fit", "--model", "pca", "--data", link, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["options"]["data"] == str(link)


def test_a_run_folder_that_does_not_exist_is_named_as_such(tmp_path):
    for command in (("explain", "--run"), ("transform", "--data", "mnist", "--out", tmp_path / "z.npy", "--run")):
        assert_one_line_error(run(*command, tmp_path / "nowhere"), "nowhere: no such folder")


def test_resume_takes_the_same_facets_however_spaced(tmp_path):
    """' 2:3 , 2:4' was refused as conflicting with the run's '2:3,2:4', which fit and simulate both accept."""
    from latentid.cli._resume import options_for_resume

    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(
        json.dumps({"status": "running", "model": "mfcvae", "options": {"facets": "2:3,2:4"}})
    )
    assert options_for_resume(out, {"facets": " 2:3 , 2:4"})["facets"] == " 2:3 , 2:4"
    with pytest.raises(InvalidParameterError, match="--facets 2:3,2:5 conflicts"):
        options_for_resume(out, {"facets": "2:3,2:5"})


def test_a_run_json_without_status_is_finished_only_beside_a_saved_model(monkeypatch, data_file, finished, tmp_path):
    import shutil

    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 2)
        assert run("fit", "--data", data_file, "--out", out, *FAST).exit_code == 130
    info = json.loads((out / "run.json").read_text())
    del info["status"]  # an edit, or an older latentid's record
    (out / "run.json").write_text(json.dumps(info))
    # checkpoints and no model: an interrupted fit, continued (it was declared finished, with nothing to use)
    assert_one_line_error(run("transform", "--run", out, "--data", data_file, "--out", tmp_path / "z.npy"), "--resume")
    resumed = run("fit", "--out", out, "--resume", "--quiet")
    assert resumed.exit_code == 0 and "nothing to resume" not in resumed.output, resumed.output
    assert json.loads((out / "run.json").read_text())["status"] == "finished" and (out / "latents.npy").is_file()

    copy = tmp_path / "finished"
    shutil.copytree(finished, copy)
    info = json.loads((copy / "run.json").read_text())
    del info["status"]
    (copy / "run.json").write_text(json.dumps(info))
    result = run("fit", "--out", copy, "--resume", "--quiet")
    assert result.exit_code == 0 and "nothing to resume" in result.stdout, result.output


def test_a_fit_begun_under_another_default_resumes_with_the_value_it_began_with(monkeypatch, data_file, tmp_path):
    """A fit interrupted before an upgrade changed a default (batch size 256 -> auto) could not be resumed: without
    the flag its checkpoint named today's default as a change; with the old value typed, the flag was refused as not
    the run's. Made here by a run.json that, like an older latentid's, did not record the flag."""
    out = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 2)
        assert run("fit", "--data", data_file, "--out", out, *FAST).exit_code == 130
    info = json.loads((out / "run.json").read_text())
    del info["options"]["batch_size"]  # began with 64 "by default"
    (out / "run.json").write_text(json.dumps(info))
    saved = (out / "run.json").read_bytes()

    typed = run("fit", "--out", out, "--resume", "--quiet", "--batch-size", 32)  # another value: still refused
    assert_one_line_error(typed, "--batch-size")
    (out / "run.json").write_bytes(saved)
    import shutil

    shutil.copytree(out, tmp_path / "typed")
    same = run("fit", "--out", tmp_path / "typed", "--resume", "--quiet", "--batch-size", 64)  # the value it began with
    assert same.exit_code == 0, same.output
    resumed = run("fit", "--out", out, "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert "the default of --batch-size has changed since this fit began; it goes on with --batch-size 64" in (
        resumed.stderr
    )
    assert json.loads((out / "run.json").read_text())["params"]["batch_size"] == 64
