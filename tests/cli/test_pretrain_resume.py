"""A fit stopped while pretraining resumes from its last pretraining epoch (pretrain-<r>.pt), not from the start,
and ends where an uninterrupted fit ends."""

import contextlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
PRETRAIN = 4
OPTIONS = ["--epochs", "2", "--pretrain-epochs", PRETRAIN, "--restarts", "2", "--batch-size", "64", "--seed", "3"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, obs_dim=5, seed=6).build()
    save_simulation(path, gen, gen.sample(300))
    return path


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data_file):
    out = tmp_path_factory.mktemp("straight") / "run"
    result = run("fit", "--data", data_file, "--out", out, *OPTIONS, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def _pretrain_records(folder, restart):
    records = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    return [r for r in records if r["stage"] == "pretrain" and r.get("restart") == restart]


@contextlib.contextmanager
def _watching(monkeypatch, stop=None):
    """Replace the CLI's progress bar by a callback that records every event and, at ``stop`` = (restart,
    pretraining epoch), raises KeyboardInterrupt as Ctrl-C would (after that epoch's checkpoint is on disk)."""
    import latentid.cli.fit as fit_module

    seen = []

    @contextlib.contextmanager
    def progress(_enabled=True):
        def callback(event):
            seen.append((event["stage"], event.get("restart"), event["epoch"]))
            if stop is not None and (event["stage"], event.get("restart"), event["epoch"]) == ("pretrain", *stop):
                raise KeyboardInterrupt

        yield callback

    with monkeypatch.context() as patch:
        patch.setattr(fit_module, "training_progress", progress)
        yield seen


@pytest.mark.parametrize(("restart", "epoch"), [(1, 2), (2, 3)])
def test_an_interrupted_pretraining_continues_from_its_last_epoch(
    monkeypatch, tmp_path, data_file, straight, restart, epoch
):
    out = tmp_path / "run"
    with _watching(monkeypatch, stop=(restart, epoch)):
        stopped = run("fit", "--data", data_file, "--out", out, *OPTIONS)
    assert stopped.exit_code != 0
    assert (out / f"pretrain-{restart}.pt").is_file()
    before = _pretrain_records(out, restart)
    assert [r["epoch"] for r in before] == list(range(1, epoch + 1))

    with _watching(monkeypatch) as seen:
        resumed = run("fit", "--out", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    pretrain_epochs = [e for stage, r, e in seen if stage == "pretrain" and r == restart]
    assert pretrain_epochs == list(range(epoch + 1, PRETRAIN + 1))  # continued, not started over
    after = _pretrain_records(out, restart)
    assert [r["epoch"] for r in after] == list(range(1, PRETRAIN + 1))
    assert after[:epoch] == before  # the records written before the interrupt are kept as they were
    np.testing.assert_allclose(np.load(out / "latents.npy"), np.load(straight / "latents.npy"), rtol=0, atol=1e-5)
    for r in (1, 2):  # what the README lists stays in the folder
        assert (out / f"pretrain-{r}.pt").is_file() and (out / f"pretrained-{r}.pt").is_file()
