"""Corruption: a truncated, emptied or altered checkpoint, run record, saved model, results store or data file
gives one error line naming the file (exit code 2), and nothing in its folder is touched, the file included."""

import contextlib
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
TINY = ["--epochs", "3", "--pretrain-epochs", "1", "--restarts", "1", "--batch-size", "64", "--quiet"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path):
    path.write_bytes(b"")


def garbage(path):
    path.write_bytes(b"\x00\x13 this is not what latentid wrote \xff\xfe" * 8)


def flip(path):
    """Invert 64 bytes in the middle of the file (a bad sector, a bad copy)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(max(0, mid - 32), min(len(data), mid + 32)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {"truncated": truncate, "empty": empty, "garbage": garbage, "flipped": flip}
UNDETECTABLE = {(".npy", "flipped"), (".csv", "truncated")}


def snapshot(folder):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A data file, a finished run and an interrupted one (stopped after training epoch 1), made once."""
    root = tmp_path_factory.mktemp("made")
    gen = SyntheticSpec.create(depth=2, obs_dim=4, seed=8).build()
    save_simulation(root / "d.npz", gen, gen.sample(200))
    assert run("fit", "--data", root / "d.npz", "--out", root / "finished", *TINY).exit_code == 0

    import latentid.cli.fit as fit_module

    @contextlib.contextmanager
    def interrupting(_enabled=True):
        def callback(event):
            if event["stage"] == "train" and event["epoch"] == 1:
                raise KeyboardInterrupt

        yield callback

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fit_module, "training_progress", interrupting)
        assert run("fit", "--data", root / "d.npz", "--out", root / "stopped", *TINY).exit_code != 0
    assert (root / "stopped" / "restart-1.pt").is_file()
    return root


def check_refused(folder, damaged, *args):
    before = snapshot(folder)
    result = run(*args)
    assert result.exit_code == 2, (result.output, repr(result.exception))
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    assert damaged.name in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert snapshot(folder) == before  # nothing touched, the damaged file included


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_named_on_resume(tmp_path, made, damage):
    folder = shutil.copytree(made / "stopped", tmp_path / "stopped")
    DAMAGE[damage](folder / "restart-1.pt")
    check_refused(folder, folder / "restart-1.pt", "fit", "--out", folder, "--resume", "--quiet")


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("command", ["transform", "explain", "evaluate", "resume"])
def test_a_damaged_run_record_is_named(tmp_path, made, damage, command):
    source = made / ("stopped" if command == "resume" else "finished")
    folder = shutil.copytree(source, tmp_path / "run")
    DAMAGE[damage](folder / "run.json")
    args = {
        "transform": ["transform", "--run", folder, "--data", made / "d.npz", "--out", tmp_path / "z.npy"],
        "explain": ["explain", "--run", folder],
        "evaluate": ["evaluate", "--run", folder, "--data", made / "d.npz", "--no-baselines"],
        "resume": ["fit", "--out", folder, "--resume", "--quiet"],
    }[command]
    check_refused(folder, folder / "run.json", *args)
    assert not (tmp_path / "z.npy").exists()


@pytest.mark.parametrize("name", ["run.json", "model/config.json"])
def test_a_record_nested_thousands_deep_is_named_not_a_recursion_traceback(tmp_path, made, name):
    """json.loads of '[' * 200000 raised RecursionError: a 95-line traceback, exit 1."""
    folder = shutil.copytree(made / "finished", tmp_path / "run")
    (folder / name).write_text("[" * 200_000 + "]" * 200_000)
    check_refused(
        folder, folder / name, "transform", "--run", folder, "--data", made / "d.npz", "--out", tmp_path / "z.npy"
    )


def edit_run_json(folder, edit):
    info = json.loads((folder / "run.json").read_text())
    edit(info)
    (folder / "run.json").write_text(json.dumps(info))


EDITS = {
    "data-as-text": lambda info: info.update(data="x"),
    "options-data-as-number": lambda info: info["options"].update(data=5),
    "options-epochs-as-text": lambda info: info["options"].update(epochs="2"),  # was '--epochs ... Got '2''
    "model-as-list": lambda info: info.update(model=["vade"]),
    "model-of-another-class": lambda info: info.update(model="vae"),
    "model-unknown": lambda info: info.update(model="bogus"),
}


@pytest.mark.parametrize(
    ("edit", "command"),
    [
        (edit, command)
        for edit in EDITS
        for command in ("transform", "predict", "evaluate", "resume")
        if not (command == "resume" and edit.startswith("model-"))  # an interrupted run has no model/ to compare
    ],
)
def test_a_hand_edited_run_record_is_named(tmp_path, made, edit, command):
    # Before: AttributeError / TypeError tracebacks, or a VaDE run scored as the "vae" it was said to be.
    resume = command == "resume"
    folder = shutil.copytree(made / ("stopped" if resume else "finished"), tmp_path / "run")
    edit_run_json(folder, EDITS[edit])
    data = made / "d.npz"
    args = {
        "transform": ["transform", "--run", folder, "--data", data, "--out", tmp_path / "z.npy"],
        "predict": ["predict", "--run", folder, "--data", data, "--out", tmp_path / "c.npy"],
        "evaluate": ["evaluate", "--run", folder, "--data", data, "--no-baselines"],
        "resume": ["fit", "--out", folder, "--resume", "--quiet"],
    }[command]
    check_refused(folder, folder / "run.json", *args)


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("name", ["model.pt", "config.json"])
def test_a_damaged_saved_model_is_named(tmp_path, made, damage, name):
    folder = shutil.copytree(made / "finished", tmp_path / "run")
    DAMAGE[damage](folder / "model" / name)
    out = tmp_path / "z.npy"
    check_refused(folder, folder / "model" / name, "transform", "--run", folder, "--data", made / "d.npz", "--out", out)
    check_refused(folder, folder / "model" / name, "explain", "--run", folder)
    assert not out.exists()


def small_store(folder, runs: int, label_tail: str = ""):
    """A closed results store of ``runs`` finished PCA runs (keys k0, k1, ...) in ``folder``; its path."""
    from latentid.studies.store import ResultStore

    folder.mkdir()
    store = folder / "results.db"
    with ResultStore(store) as opened:
        for i in range(runs):
            config = {"study": "s", "model": "pca", "seed": i, "data": {"depth": 1}, "options": {}, "metrics": []}
            row = {"key": f"k{i}", "study": "s", "label": f"run {i}{label_tail}", "config": config}
            opened.record(
                {**row, "status": "finished", "seconds": 1.0, "metrics": {"affine_r2": 0.5}, "warnings": ["a"]}
            )
    for extra in folder.glob("results.db-*"):  # the WAL and shared-memory files of a closed store
        extra.unlink()
    return store


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_results_store_is_named(tmp_path, damage):
    folder = tmp_path / "study"
    store = small_store(folder, 40, " " + "x" * 200)
    DAMAGE[damage](store)
    check_refused(folder, store, "results", store)
    check_refused(folder, store, "report", store, "--out", tmp_path / "report")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("suffix", [".npz", ".npy", ".csv"])
def test_a_damaged_data_file_is_named(tmp_path, made, damage, suffix):
    folder = tmp_path / "data"
    folder.mkdir()
    data = folder / f"d{suffix}"
    x = np.load(made / "d.npz")["x"]
    if suffix == ".npz":
        shutil.copy(made / "d.npz", data)
    elif suffix == ".npy":
        np.save(data, x)
    else:
        np.savetxt(data, x, delimiter=",", header=",".join(f"x{i}" for i in range(x.shape[1])), comments="")
    DAMAGE[damage](data)
    before = snapshot(folder)
    result = run("fit", "--model", "pca", "--data", data, "--out", tmp_path / "run")
    if result.exit_code == 0:
        # A plain array file carries no checksum: bytes flipped inside the numbers of an .npy, or a CSV cut at
        # a line end, leave a valid file of other numbers. (An .npz is a zip: its CRC catches it.)
        assert (suffix, damage) in UNDETECTABLE, result.output
        return
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and data.name in result.stderr, result.output
    assert snapshot(folder) == before and not (tmp_path / "run").exists()
    json.dumps(result.stderr)  # plain text


def test_a_checkpoint_carries_its_checksum_and_an_older_one_without_still_loads(tmp_path):
    import torch

    from latentid.checkpoint import CHECKPOINT_FORMAT, CHECKSUM_MARK, load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "new.pt", {"epoch": 3, "w": torch.ones(2)})
    assert CHECKSUM_MARK in (tmp_path / "new.pt").read_bytes()[-100:]
    assert load_checkpoint(tmp_path / "new.pt")["epoch"] == 3
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": 1, "epoch": 2}, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")["epoch"] == 2


def test_one_bit_flipped_in_a_saved_weight_is_named(tmp_path, made):
    # A flip inside a tensor's bytes leaves model.pt a valid zip that torch reads without complaint, so only the
    # SHA-256 that config.json records at save catches it (before, transform gave other latents in silence).
    import torch

    folder = shutil.copytree(made / "finished", tmp_path / "run")
    weights = folder / "model" / "model.pt"
    state = torch.load(weights, weights_only=True)
    tensor = max(state.values(), key=lambda t: t.numel())
    data = bytearray(weights.read_bytes())
    at = bytes(data).find(tensor.numpy().tobytes())
    assert at > 0
    data[at + tensor.numel() * 2] ^= 0x10  # one bit of a weight in the middle of the largest tensor
    weights.write_bytes(bytes(data))
    assert not torch.equal(torch.load(weights, weights_only=True)[next(k for k in state if state[k] is tensor)], tensor)
    out = tmp_path / "z.npy"
    check_refused(folder, weights, "transform", "--run", folder, "--data", made / "d.npz", "--out", out)
    assert "SHA-256" in run("explain", "--run", folder).stderr


def test_a_run_without_its_record_is_named_and_a_refused_resume_writes_none(tmp_path, made):
    folder = shutil.copytree(made / "finished", tmp_path / "run")
    (folder / "run.json").unlink()
    result = run("transform", "--run", folder, "--data", made / "d.npz", "--out", tmp_path / "z.npy")
    assert result.exit_code == 2 and "but no run.json (deleted or lost)" in result.stderr, result.output
    assert "says 'running'" not in result.stderr  # before: sent to a --resume that could not work
    before = snapshot(folder)
    result = run("fit", "--out", folder, "--resume", "--data", made / "d.npz", "--restarts", 2, "--quiet")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert snapshot(folder) == before and not (folder / "run.json").exists()  # no stray "running" record


STORE_EDITS = {
    "config-a-list": "config = '[1, 2]'",
    "metrics-a-list": "metrics = '[1, 2]'",
    "metric-as-text": """metrics = '{"affine_r2": "high"}'""",
    "warnings-of-numbers": "warnings = '[1, {}]'",
    "config-parts-of-other-types": """config = '{"model": "pca", "data": [1], "options": 3}'""",
}


@pytest.mark.parametrize("edit", STORE_EDITS)
def test_a_hand_edited_results_store_is_named(tmp_path, edit):
    # Valid JSON of another shape: before, results and report ended in AttributeError/TypeError tracebacks.
    import sqlite3

    folder = tmp_path / "study"
    store = small_store(folder, 3)
    with contextlib.closing(sqlite3.connect(store)) as db, db:
        db.execute(f"UPDATE runs SET {STORE_EDITS[edit]} WHERE key = 'k1'")
    for extra in folder.glob("results.db-*"):
        extra.unlink()
    for args in (("results", store), ("results", store, "--format", "csv"), ("report", store, "--out", tmp_path / "r")):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output, repr(result.exception))
        assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
        assert "run k1:" in result.stderr and "edited or damaged" in result.stderr


def test_a_finished_run_whose_model_folder_is_gone_says_so(tmp_path, made):
    """It was 'not a latentid run folder (no run.json and model/)' beside the run.json, and --resume said
    'holds a finished run; nothing to resume'."""
    folder = shutil.copytree(made / "finished", tmp_path / "run")
    shutil.rmtree(folder / "model")
    for args in (
        ["transform", "--run", folder, "--data", made / "d.npz", "--out", tmp_path / "z.npy"],
        ["fit", "--out", folder, "--resume", "--quiet"],
    ):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 2 and "says the fit finished, but model/ is missing" in result.stderr, result.output
