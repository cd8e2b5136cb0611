"""A fit whose training diverges: a one-line error that promises nothing that is not there, run.json marked
failed (not resumable), and a run that --force was replacing put back untouched."""

import json

from typer.testing import CliRunner

from latentid.cli import app

runner = CliRunner()
TINY_VAE = ["--model", "vae", "--epochs", "2", "--batch-size", "64", "--threads", "1", "--quiet"]
DIVERGES = ["--noise-scale", "1e-30"]  # the Gaussian log-likelihood overflows in the first batch


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def files_of(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_a_fit_diverging_in_a_new_folder_leaves_nothing_and_names_no_checkpoint(tmp_path, small_simulation):
    out = tmp_path / "run"
    result = run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, *DIVERGES)
    assert_one_line_error(result, "diverged at epoch 1", "--noise-scale")
    assert "checkpoint" not in result.stderr and not out.exists()
    assert "standardise" not in result.stderr  # --standardize is on (the default): no use offering it


def test_a_failed_fit_is_recorded_and_refused_by_name_until_force_replaces_it(tmp_path, small_simulation):
    out = tmp_path / "run"
    out.mkdir()
    assert_one_line_error(run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, *DIVERGES), "diverged")
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and "diverged at epoch 1" in info["error"]
    # Fitting again, resuming, and reading the folder all name the failure; none offers --resume.
    for result in (
        run("fit", "--data", small_simulation, "--out", out, *TINY_VAE),
        run("fit", "--out", out, "--resume", "--quiet"),
        run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy"),
    ):
        assert_one_line_error(result, str(out), "its fit failed", "diverged", "--force")
        assert "--resume" not in result.stderr
    result = run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, "--force")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_a_replacing_fit_that_fails_puts_the_replaced_run_back(tmp_path, small_simulation):
    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, *TINY_VAE).exit_code == 0
    (out / "notes.txt").write_text("mine")
    before = files_of(out)
    assert_one_line_error(
        run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, *DIVERGES, "--force"), "diverged"
    )
    assert files_of(out) == before  # the finished run, byte for byte, and nothing set aside left over
    assert run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy").exit_code == 0
    result = run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, "--epochs", "3", "--force")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "run.json").read_text())["params"]["epochs"] == 3
    assert not (out / ".replaced-run").exists() and (out / "notes.txt").read_text() == "mine"


def test_a_second_force_after_an_interrupted_one_keeps_the_finished_run_not_the_unfinished_one(
    tmp_path, small_simulation
):
    """Run A finished; a --force fit B was interrupted, so A waits in .replaced-run. The messages on the folder
    said only 'delete the folder' or 'add --force', and a second --force deleted A; when that one then failed,
    B's unfinished files were what came back."""
    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, *TINY_VAE).exit_code == 0
    finished = files_of(out)
    aside = out / ".replaced-run"  # the state an interrupted `fit --force` leaves (test_run_folders makes it for real)
    for name in finished:
        (aside / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).replace(aside / name)
    (out / "run.json").write_text(json.dumps({"status": "running", "model": "vae"}))
    (out / "restart-1.pt").write_bytes(b"the unfinished fit's checkpoint")
    refused = run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy")
    assert refused.exit_code == 2 and f"The run it replaces waits in {aside}" in refused.stderr, refused.output
    assert_one_line_error(
        run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, *DIVERGES, "--force"), "diverged"
    )
    assert files_of(out) == finished  # A is back, byte for byte; B's files are gone


def test_ctrl_c_in_a_replacing_linear_fit_puts_the_replaced_run_back(tmp_path, small_simulation, monkeypatch):
    """A linear model has nothing to resume: the finished run stayed hidden in .replaced-run while every message
    said 'continue with --resume', which linear models refuse."""
    import latentid.models.linear as linear

    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, "--model", "pca", "--latent-dim", "2").exit_code == 0
    before = files_of(out)

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(linear.GMMBaseline, "fit", interrupted)
    stopped = run("fit", "--data", small_simulation, "--out", out, "--model", "gmm", "--components", "3", "--force")
    assert stopped.exit_code == 130 and "--resume" not in stopped.output, stopped.output
    assert files_of(out) == before  # the finished PCA run, byte for byte
    fresh = tmp_path / "fresh"
    fresh.mkdir()  # an empty folder given to --out: no 'running' record is left in it either
    gmm = ("--model", "gmm", "--components", "3")
    assert run("fit", "--data", small_simulation, "--out", fresh, *gmm).exit_code == 130
    assert not (fresh / "run.json").exists()


def test_a_force_killed_while_setting_the_old_run_aside_loses_none_of_it(tmp_path, small_simulation, monkeypatch):
    """The old run's files went into .replaced-run one by one, run.json first: a --force killed after two of them
    left a folder that the next --force took for an interrupted replacement, deleting the files not yet moved, and
    when that fit failed only run.json came back, still saying 'finished'."""
    from pathlib import Path

    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, *TINY_VAE).exit_code == 0
    finished = files_of(out)
    moving = out / ".replaced-run.moving"  # the state a kill after two of the moves leaves
    for name in ("run.json", "latents.npy"):
        moving.mkdir(exist_ok=True)
        (out / name).replace(moving / name)
    assert_one_line_error(
        run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, *DIVERGES, "--force"), "diverged"
    )
    assert files_of(out) == finished  # the whole run is back, byte for byte

    for name in ("run.json", "latents.npy"):  # and a command that only reads the folder finds the whole run
        moving.mkdir(exist_ok=True)
        (out / name).replace(moving / name)
    assert run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy").exit_code == 0
    assert files_of(out) == finished

    # Ctrl-C part-way through the moves: the run is whole at once
    moves = []
    real_replace = Path.replace

    def stopped_after_two(self, target):
        if ".replaced-run" in str(target) and len(moves) == 2:
            raise KeyboardInterrupt
        moves.append(target) if ".replaced-run" in str(target) else None
        return real_replace(self, target)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "replace", stopped_after_two)
        stopped = run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, "--force")
    assert stopped.exit_code == 130 and len(moves) == 2
    assert files_of(out) == finished


def test_a_reader_leaves_a_part_way_set_aside_to_the_fit_that_holds_the_folder(tmp_path, small_simulation, monkeypatch):
    """The undo ran outside the folder's lock: a reader could move files back while a fit --force set them aside
    under the lock, and its rmtree then deleted what that fit had just moved (run.json and latents.npy lost)."""
    import latentid.runs as runs_module
    from latentid.runs import fit_lock, read_run_info

    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, *TINY_VAE).exit_code == 0
    finished = files_of(out)
    moving = out / ".replaced-run.moving"
    moving.mkdir()
    (out / "latents.npy").replace(moving / "latents.npy")
    with fit_lock(out):  # a fit holds the folder: the reader changes nothing in it
        read_run_info(out)
        assert (moving / "latents.npy").is_file() and not (out / "latents.npy").exists()
    locked = []
    real_undo = runs_module.undo_interrupted_set_aside

    def watched(folder):
        locked.append(runs_module.fit_in_progress(folder))  # True while a handle holds the folder's lock
        real_undo(folder)

    monkeypatch.setattr(runs_module, "undo_interrupted_set_aside", watched)
    assert read_run_info(out)["status"] == "finished" and files_of(out) == finished
    assert locked == [True]  # the reader undid it holding the lock, so no fit could be setting aside meanwhile


def test_no_file_is_moved_or_written_through_a_linked_folder_of_a_run(tmp_path, small_simulation):
    """A shared or downloaded run folder whose set-aside folder or model/ was a symbolic link: transform, a read,
    moved every file the link pointed at into the run folder, and fit --force replaced the model it pointed at."""
    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, "--model", "pca").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "secret.txt").write_text("a")
    (elsewhere / "sub" / "key").write_text("b")
    before = files_of(elsewhere)
    (out / ".replaced-run.moving").symlink_to(elsewhere)
    assert run("transform", "--run", out, "--data", small_simulation, "--out", tmp_path / "z.npy").exit_code == 0
    assert files_of(elsewhere) == before and not (out / "secret.txt").exists()
    (out / ".replaced-run.moving").unlink()

    linked = tmp_path / "linked"
    linked.mkdir()
    for name in ("run.json", "latents.npy"):
        (linked / name).write_bytes((out / name).read_bytes())
    (linked / "model").symlink_to(out / "model")  # the model of another run
    model_files = files_of(out / "model")
    forced = run("fit", "--data", small_simulation, "--out", linked, "--model", "pca", "--latent-dim", 1, "--force")
    assert_one_line_error(forced, "model: is a symbolic link")
    assert files_of(out / "model") == model_files


def test_a_replacing_fit_that_fails_with_any_error_puts_the_replaced_run_back_alone(
    tmp_path, small_simulation, monkeypatch
):
    """Not only latentid's own errors: a torch RuntimeError (out of memory, a bug) in a --force fit left the finished
    run in .replaced-run, for the next finished fit to delete. And the failed fit's own files (its log) stayed
    beside the restored run where that run had none of that name (a pca run replaced by a vae)."""
    from pathlib import Path

    from latentid.models import VAE

    out = tmp_path / "run"
    assert run("fit", "--data", small_simulation, "--out", out, "--model", "pca", "--latent-dim", "2").exit_code == 0
    before = files_of(out)
    assert "train_log.jsonl" not in before

    def broken(self, *args, **kwargs):
        Path(self.checkpoint_dir, "train_log.jsonl").write_text("{}\n")  # trained a little, then failed
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(VAE, "fit", broken)
    assert run("fit", "--data", small_simulation, "--out", out, *TINY_VAE, "--force").exit_code != 0
    assert files_of(out) == before and not (out / ".replaced-run").exists()


def test_ctrl_c_before_the_run_is_recorded_offers_no_resume(tmp_path, small_simulation, monkeypatch):
    """Interrupted while the data file was hashed (before run.json exists), the fit said 'continue with --resume',
    which had nothing to continue."""
    import latentid.runs

    def interrupted(data):
        raise KeyboardInterrupt

    monkeypatch.setattr(latentid.runs, "data_provenance", interrupted)
    out = tmp_path / "run"
    result = run("fit", "--data", small_simulation, "--out", out, *TINY_VAE)
    assert result.exit_code == 130 and "--resume" not in result.output, result.output
    assert not (out / "run.json").exists()
