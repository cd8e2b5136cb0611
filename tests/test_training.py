"""The one training loop: checkpoints, resume, logging, progress events, divergence, schedules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from latentid.checkpoint import load_checkpoint
from latentid.errors import InvalidDataError, InvalidParameterError, TrainingDivergedError
from latentid.models import VaDE
from latentid.training import TrainConfig, schedule_factor, train

FAST = {"n_restarts": 1, "epochs": 4, "pretrain_epochs": 1, "n_init": 1, "batch_size": 64, "random_state": 0}


class Interrupt(Exception):
    pass


def _stop_after(epoch: int):
    def callback(event: dict) -> None:
        if event["stage"] == "train" and event["epoch"] == epoch:
            raise Interrupt

    return callback


def test_resume_equals_uninterrupted(gmm_data, tmp_path):
    x = gmm_data[0]
    straight = VaDE(**FAST).fit(x)
    interrupted = VaDE(checkpoint_dir=tmp_path, callback=_stop_after(2), **FAST)
    with pytest.raises(Interrupt):
        interrupted.fit(x)
    assert load_checkpoint(tmp_path / "restart-1.pt")["epoch"] == 2
    resumed = VaDE(checkpoint_dir=tmp_path, resume=True, **FAST).fit(x)
    assert resumed.transform(x).tobytes() == straight.transform(x).tobytes()
    assert resumed.elbo_history_ == pytest.approx(straight.elbo_history_, rel=0, abs=0)
    for key, value in straight.module_.state_dict().items():
        assert torch.equal(value, resumed.module_.state_dict()[key]), key
    # resuming a finished run only reloads it
    again = VaDE(checkpoint_dir=tmp_path, resume=True, **FAST).fit(x)
    assert again.transform(x).tobytes() == straight.transform(x).tobytes()


def test_checkpoint_and_log_contents(gmm_data, tmp_path):
    events = []
    VaDE(checkpoint_dir=tmp_path, callback=events.append, **FAST).fit(gmm_data[0])
    lines = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in lines] == ["pretrain"] + ["train"] * 4
    assert {"epoch", "train_loss", "val_elbo", "lr", "seconds", "restart"} <= set(lines[-1])
    state = torch.load(tmp_path / "restart-1.pt", weights_only=True)  # no pickle needed
    assert state["epoch"] == 4 and state["config"]["class"] == "VaDE" and "torch" in state["versions"]
    assert {"model", "optimizer", "generator", "best", "history"} <= set(state)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left"
    train_events = [e for e in events if e["stage"] == "train"]
    assert [e["epoch"] for e in train_events] == [1, 2, 3, 4]
    assert {"n_epochs", "loss", "val_elbo", "seconds", "eta", "restart", "n_restarts"} <= set(train_events[0])
    assert train_events[-1]["eta"] == 0


def test_resume_refuses_other_settings_or_data(gmm_data, tmp_path):
    x = gmm_data[0]
    VaDE(checkpoint_dir=tmp_path, **FAST).fit(x)
    with pytest.raises(InvalidParameterError, match="written with lr=0.001, but this fit has lr=0.01"):
        VaDE(checkpoint_dir=tmp_path, resume=True, **{**FAST, "lr": 1e-2}).fit(x)
    with pytest.raises(InvalidDataError, match="written for other data"):
        VaDE(checkpoint_dir=tmp_path, resume=True, **FAST).fit(x[:-1])


def _tiny_problem():
    gen = torch.Generator().manual_seed(0)
    module = nn.Linear(3, 1)
    x = torch.randn(40, 3, generator=gen)
    return module, x, gen


def _train_tiny(module, x, gen, config, lr=0.01, **kwargs):
    """``train`` on the tiny problem: minimise the squared output of the linear module."""
    groups = [{"params": list(module.parameters()), "lr": lr}]
    return train(module, lambda b, g: module(b).squeeze(-1).pow(2), groups, x, config, gen, **kwargs)


def test_divergence_raises_and_keeps_last_good_checkpoint(tmp_path):
    module, x, gen = _tiny_problem()
    calls = {"n": 0}

    def loss_fn(batch, _gen):
        calls["n"] += 1
        out = module(batch).squeeze(-1).pow(2)
        return out * math.nan if calls["n"] > 4 else out  # 2 batches per epoch: epoch 3 diverges

    path = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingDivergedError, match="diverged at epoch 3 of 10.*Lower 'lr'") as info:
        train(
            module,
            loss_fn,
            [{"params": list(module.parameters()), "lr": 0.1}],
            x,
            TrainConfig(10, 20),
            gen,
            checkpoint_path=path,
        )
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert load_checkpoint(path)["epoch"] == 2


def test_early_stopping_keeps_best_weights():
    module, x, gen = _tiny_problem()
    scores = iter([1.0, 3.0, 2.0, 2.5, 1.0, 0.0])
    kept = {}

    def score_fn(_x):
        value = next(scores)
        kept[value] = {k: v.clone() for k, v in module.state_dict().items()}
        return value

    result = _train_tiny(module, x, gen, TrainConfig(6, 20, patience=2), lr=0.1, x_val=x, score_fn=score_fn)
    assert result.stopped_early and result.n_epochs == 4 and result.best_epoch == 2
    for key, value in module.state_dict().items():
        assert torch.equal(value, kept[3.0][key])


def cosine(epoch, n_epochs, min_ratio):
    """lr multiplier: half a cosine period from 1 down towards min_ratio."""
    return min_ratio + (1.0 - min_ratio) * (1.0 + math.cos(math.pi * epoch / n_epochs)) / 2.0


@pytest.mark.parametrize(("n_epochs", "min_ratio"), [(10, 0.05), (7, 0.3), (4, 0.0), (2, 0.1)])
def test_cosine_schedule_follows_the_formula(n_epochs, min_ratio):
    factors = [schedule_factor("cosine", e, n_epochs, min_ratio) for e in range(n_epochs)]
    assert factors == pytest.approx([cosine(e, n_epochs, min_ratio) for e in range(n_epochs)], rel=1e-12)
    assert factors[0] == 1.0
    assert schedule_factor("cosine", n_epochs, n_epochs, min_ratio) == pytest.approx(min_ratio)
    assert schedule_factor("constant", 3, n_epochs, min_ratio) == 1.0
    assert schedule_factor("cosine", 0, 1, min_ratio) == 1.0  # a one-epoch run keeps its lr


def test_the_loop_sets_each_epochs_lr_from_the_schedule():
    module, x, gen = _tiny_problem()
    events = []
    second = nn.Parameter(torch.zeros(()))
    groups = [{"params": list(module.parameters()), "lr": 0.1}, {"params": [second], "lr": 0.02}]
    seen = []

    def loss_fn(batch, _gen):
        seen.extend(group["lr"] for group in groups)  # Adam keeps (and train() updates) these very dicts
        return module(batch).squeeze(-1).pow(2) + 0.0 * second

    result = train(module, loss_fn, groups, x, TrainConfig(6, 20, min_lr_ratio=0.1), gen, callback=events.append)
    expected = [cosine(e, 6, 0.1) for e in range(6)]
    assert [r["lr"] for r in result.history] == pytest.approx([0.1 * f for f in expected], rel=1e-12)
    assert [e["lr"] for e in events] == pytest.approx([0.1 * f for f in expected], rel=1e-12)
    # every group is scaled from its own initial lr, and the lr holds for the whole epoch (2 batches)
    assert seen == pytest.approx([lr * f for f in expected for _ in range(2) for lr in (0.1, 0.02)], rel=1e-12)
    constant = train(module, loss_fn, groups, x, TrainConfig(3, 20, lr_schedule="constant"), gen)
    assert [r["lr"] for r in constant.history] == [0.1, 0.1, 0.1]


def test_fit_leaves_global_rng_alone(gmm_data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the legacy global state on purpose
    VaDE(**FAST).fit(gmm_data[0])
    assert torch.equal(torch.rand(3), expected)
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def _constant_loss(module):
    """A per-sample loss whose value does not depend on the weights (but has a gradient path)."""
    return lambda batch, _gen: batch.sum(-1) + 0.0 * module(batch).squeeze(-1)


def test_epoch_loss_is_the_mean_over_samples_with_an_uneven_last_batch():
    from latentid.training import run_epoch

    module, x, gen = _tiny_problem()  # 40 samples
    params = list(module.parameters())
    optimizer = torch.optim.Adam(params, lr=0.0)
    loss = run_epoch(_constant_loss(module), optimizer, params, x, 7, gen)  # batches of 7, last of 5
    assert loss == pytest.approx(float(x.sum(-1).mean()), rel=1e-6)


def test_gradients_are_clipped_to_max_grad_norm():
    from latentid.training import run_epoch

    module, x, gen = _tiny_problem()
    params = list(module.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    big = lambda batch, _gen: 1e3 * module(batch).squeeze(-1).pow(2)  # noqa: E731
    run_epoch(big, optimizer, params, x, 40, gen, max_grad_norm=0.5)
    norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in params))
    assert float(norm) == pytest.approx(0.5, rel=1e-5)  # the last batch's gradient, clipped
    run_epoch(big, optimizer, params, x, 40, gen, max_grad_norm=None)
    assert float(torch.sqrt(sum(p.grad.pow(2).sum() for p in params))) > 10.0


def _scripted_train(scores, config, **kwargs):
    module, x, gen = _tiny_problem()
    values = iter(scores)
    return _train_tiny(module, x, gen, config, x_val=x, score_fn=lambda _x: next(values), **kwargs)


def test_tol_steers_patience_while_the_best_weights_are_kept():
    result = _scripted_train([1.0, 1.05, 1.2, 1.25], TrainConfig(4, 20, tol=0.1))
    assert result.best_epoch == 4 and result.best_score == 1.25, "a gain below tol still keeps the better weights"
    slow = _scripted_train([1.0, 1.05, 1.08, 1.1, 1.3], TrainConfig(5, 20, tol=0.1, patience=2))
    assert slow.stopped_early and slow.n_epochs == 3, "two gains below tol use up the patience"
    assert slow.best_epoch == 3 and slow.best_score == 1.08
    strict = _scripted_train([1.0, 1.0, 1.2, 1.25], TrainConfig(4, 20))
    assert strict.best_epoch == 4, "with tol 0 any strict improvement counts"
    equal = _scripted_train([1.0, 1.0, 0.5, 0.5], TrainConfig(4, 20))
    assert equal.best_epoch == 1, "a tie is not an improvement"


def test_patience_running_out_on_the_last_epoch_is_not_an_early_stop():
    result = _scripted_train([3.0, 2.0, 1.0], TrainConfig(3, 20, patience=2))
    assert result.n_epochs == 3 and not result.stopped_early and result.best_epoch == 1
    early = _scripted_train([3.0, 2.0, 1.0, 0.0], TrainConfig(4, 20, patience=2))
    assert early.n_epochs == 3 and early.stopped_early
    patient = _scripted_train([3.0, 2.0, 1.0, 4.0], TrainConfig(4, 20, patience=3))
    assert patient.n_epochs == 4 and patient.best_epoch == 4 and not patient.stopped_early


def test_progress_events_and_log_records(tmp_path):
    events = []
    log = tmp_path / "log.jsonl"
    prefix = [{"stage": "pretrain", "epoch": 1}]
    result = _scripted_train(
        [1.0, 2.0, 3.0],
        TrainConfig(3, 20, stage="warm"),
        callback=events.append,
        event_extra={"restart": 1, "n_restarts": 2, "extra": "x"},
        log_path=log,
        log_prefix=prefix,
    )
    assert [e["epoch"] for e in events] == [1, 2, 3] and {e["stage"] for e in events} == {"warm"}
    assert all(e["n_epochs"] == 3 and e["restart"] == 1 and e["n_restarts"] == 2 and e["extra"] == "x" for e in events)
    assert [e["val_elbo"] for e in events] == [1.0, 2.0, 3.0]
    seconds = [e["seconds"] for e in events]
    assert all(s > 0 for s in seconds)
    assert [e["elapsed"] for e in events] == pytest.approx(np.cumsum(seconds).tolist())
    assert events[0]["eta"] == pytest.approx(seconds[0] * 2) and events[-1]["eta"] == 0
    assert [e["loss"] for e in events] == [r["train_loss"] for r in result.history]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[0] == prefix[0] and records[1:] == result.history
    assert result.history[0]["restart"] == 1 and "n_restarts" not in result.history[0]
    assert [r["epoch"] for r in result.history] == [1, 2, 3] and result.history[0]["stage"] == "warm"
    assert [r["seconds"] for r in result.history] == seconds


def test_without_held_out_data_the_score_is_minus_the_training_loss():
    module, x, gen = _tiny_problem()
    result = _train_tiny(module, x, gen, TrainConfig(3, 20, patience=1), score_fn=lambda _x: 1.0)  # no x_val
    assert result.best_epoch == 3 and result.best_score == -result.history[-1]["train_loss"]
    assert [r["val_elbo"] for r in result.history] == [None, None, None] and not result.stopped_early


def test_a_non_finite_held_out_score_is_divergence_too():
    with pytest.raises(
        TrainingDivergedError, match=r"^warm diverged at epoch 2 of 5: the loss became nan\. Lower 'lr' \(now 0\.01\)"
    ):
        _scripted_train([1.0, math.nan], TrainConfig(5, 20, stage="warm"))
    with pytest.raises(TrainingDivergedError) as info:
        _scripted_train([math.inf], TrainConfig(5, 20))
    assert "checkpoint" not in str(info.value) and "standardise the data." in str(info.value)


def test_train_clips_gradients_when_asked():
    module, x, gen = _tiny_problem()
    big = lambda b, g: 1e3 * module(b).squeeze(-1).pow(2)  # noqa: E731
    train(
        module, big, [{"params": list(module.parameters()), "lr": 1e-3}], x, TrainConfig(1, 40, max_grad_norm=0.5), gen
    )
    assert float(torch.sqrt(sum(p.grad.pow(2).sum() for p in module.parameters()))) == pytest.approx(0.5, rel=1e-5)


def test_held_out_sets_of_zero_and_one_row():
    def never(_x):
        raise AssertionError("no held-out rows: the score must not be asked for")

    module, x, gen = _tiny_problem()
    groups = [{"params": list(module.parameters()), "lr": 0.01}]
    loss = lambda b, g: module(b).squeeze(-1).pow(2)  # noqa: E731
    empty = train(module, loss, groups, x, TrainConfig(2, 20), gen, x_val=x[:0], score_fn=never)
    assert empty.best_epoch == 2 and [r["val_elbo"] for r in empty.history] == [None, None]
    scores = iter([2.0, 1.0])
    one = train(module, loss, groups, x, TrainConfig(2, 20), gen, x_val=x[:1], score_fn=lambda _x: next(scores))
    assert one.best_epoch == 1 and one.best_score == 2.0


def test_resume_keeps_the_best_weights_from_before_the_interruption(tmp_path):
    from latentid.checkpoint import load_checkpoint

    module, x, gen = _tiny_problem()
    loss = lambda b, g: module(b).squeeze(-1).pow(2)  # noqa: E731
    path = tmp_path / "ckpt.pt"
    kept = {}
    scores = iter([3.0, 1.0])

    def score_first(_x):
        value = next(scores)
        kept[value] = {k: v.clone() for k, v in module.state_dict().items()}
        return value

    with pytest.raises(Interrupt):
        train(
            module,
            loss,
            [{"params": list(module.parameters()), "lr": 0.1}],
            x,
            TrainConfig(4, 20),
            gen,
            x_val=x,
            score_fn=score_first,
            checkpoint_path=path,
            callback=lambda e: (_ for _ in ()).throw(Interrupt) if e["epoch"] == 2 else None,
        )
    state = load_checkpoint(path)
    later = iter([0.5, 0.2])
    result = train(
        module,
        loss,
        [{"params": list(module.parameters()), "lr": 0.1}],
        x,
        TrainConfig(4, 20),
        gen,
        x_val=x,
        score_fn=lambda _x: next(later),
        resume_state=state,
    )
    assert result.n_epochs == 4 and result.best_epoch == 1 and result.best_score == 3.0
    for key, value in module.state_dict().items():
        assert torch.equal(value, kept[3.0][key])


def test_resuming_an_early_stopped_run_trains_no_further(tmp_path):
    from latentid.checkpoint import load_checkpoint

    path = tmp_path / "ckpt.pt"
    first = _scripted_train([3.0, 2.0, 1.0, 0.0], TrainConfig(6, 20, patience=2), checkpoint_path=path)
    assert first.stopped_early and first.n_epochs == 3
    again = _scripted_train([], TrainConfig(6, 20, patience=2), resume_state=load_checkpoint(path))
    assert again.stopped_early and again.n_epochs == 3 and again.best_epoch == 1


def test_early_stop_event_has_no_time_left_and_checkpoint_records_the_schedule(tmp_path):
    from latentid.checkpoint import load_checkpoint

    events = []
    path = tmp_path / "ckpt.pt"
    _scripted_train([3.0, 2.0, 1.0], TrainConfig(6, 20, patience=2), callback=events.append, checkpoint_path=path)
    assert [e["epoch"] for e in events] == [1, 2, 3] and events[-1]["eta"] == 0 and events[-2]["eta"] > 0
    assert load_checkpoint(path)["schedule"] == {"name": "cosine", "epoch": 3, "n_epochs": 6}


def test_divergence_in_the_first_epoch_names_no_checkpoint(tmp_path):
    module, x, gen = _tiny_problem()
    path = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingDivergedError, match="diverged at epoch 1 of 10") as info:
        train(
            module,
            lambda batch, _gen: module(batch).squeeze(-1) * math.nan,
            [{"params": list(module.parameters()), "lr": 0.1}],
            x,
            TrainConfig(10, 20),
            gen,
            checkpoint_path=path,
        )
    assert not path.exists() and "checkpoint" not in str(info.value)
