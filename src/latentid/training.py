"""The one training loop, shared by every model: minibatch Adam, a learning-rate schedule, early
stopping on a held-out score, best-weights restore, per-epoch checkpoints and resume, a progress
callback, and divergence detection. It knows no model by name: a model hands it a module, a
per-sample loss, parameter groups and (optionally) a validation score.

Autoencoder pretraining runs through the same loop with a reconstruction loss.
The data stay in one tensor on the device and are sliced per batch (no DataLoader); the batch
order and any noise come from one seeded torch.Generator whose state is checkpointed, so a resumed
run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from latentid._atomic import write_text_atomic
from latentid.checkpoint import save_checkpoint
from latentid.errors import TrainingDivergedError

logger = logging.getLogger(__name__)

LossFn = Callable[[Tensor, torch.Generator], Tensor]  # batch (b, n_features) -> per-sample loss (b,)
ScoreFn = Callable[[Tensor], float]  # held-out data -> mean score per sample, higher is better
Callback = Callable[[dict], Any]

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """What the loop needs to know; built by the estimator from its hyper-parameters."""

    epochs: int
    batch_size: int
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.05  # cosine decays the lr from lr to lr * min_lr_ratio
    patience: int | None = None  # epochs without a held-out improvement > tol before stopping
    tol: float = 0.0  # steers patience only: the best held-out weights are kept whatever the size of their gain
    max_grad_norm: float | None = None
    stage: str = "train"
    objective: str = "loss"  # what train_loss is, written into every log record
    loss_offset: float = 0.0  # added to the logged loss (not the optimised one) to report it in data units


@dataclass
class TrainResult:
    """Per-epoch ``history`` (dicts), the epoch whose weights were kept, and why the loop ended."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    stopped_early: bool = False

    @property
    def n_epochs(self) -> int:
        return len(self.history)


def schedule_factor(name: str, epoch: int, n_epochs: int, min_ratio: float) -> float:
    """The lr multiplier of 0-based ``epoch`` out of ``n_epochs``."""
    if name == "constant" or n_epochs <= 1:
        return 1.0
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * epoch / n_epochs))


def run_epoch(
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    params: Sequence[Tensor],
    x: Tensor,
    batch_size: int,
    generator: torch.Generator,
    max_grad_norm: float | None = None,
) -> float:
    """One pass over ``x`` (n, n_features) in shuffled minibatches; returns the mean per-sample loss."""
    n = x.shape[0]
    order = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
    total = torch.zeros((), device=x.device)
    for start in range(0, n, batch_size):
        batch = x[order[start : start + batch_size]]
        loss = loss_fn(batch, generator).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        total += loss.detach() * batch.shape[0]
    return float(total) / n  # one sync per epoch


def make_adam(param_groups: list[dict]) -> torch.optim.Adam:
    """Adam with its fused kernel: one pass over each parameter instead of a dozen, which took a third of
    a VaDE step at MNIST size on CPU (benchmarks/speed.py); the foreach kernel where fused is unsupported."""
    try:
        return torch.optim.Adam(param_groups, fused=True)
    except (RuntimeError, TypeError, ValueError):  # a device or dtype without a fused kernel
        return torch.optim.Adam(param_groups)


def _clone_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _write_log(path: Path, records: Sequence[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))


def _divergence_fixes(module: nn.Module, lr: float) -> str:
    """What to change after a divergence, offering only what applies to ``module``: the noise scale where its
    likelihood has one, standardising where the data reached it unstandardised."""
    from latentid.models.likelihoods import GaussianLikelihood  # models import this module: not at the top

    fixes = [f"Lower 'lr' (now {lr:g})"]
    if isinstance(getattr(module, "likelihood", None), GaussianLikelihood):
        fixes.append("fix 'noise_scale'")
    shift, scale = getattr(module, "x_shift", None), getattr(module, "x_scale", None)
    if shift is None or (float(scale) == 1.0 and not bool(shift.abs().max() > 0)):
        fixes.append("standardise the data")
    return ", ".join(fixes[:-1]) + f" or {fixes[-1]}" if len(fixes) > 1 else fixes[0]


def train(
    module: nn.Module,
    loss_fn: LossFn,
    param_groups: list[dict],
    x_train: Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    *,
    x_val: Tensor | None = None,
    score_fn: ScoreFn | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_extra: dict | None = None,
    resume_state: dict | None = None,
    log_path: str | Path | None = None,
    log_prefix: Sequence[dict] = (),
    callback: Callback | None = None,
    event_extra: dict | None = None,
    epoch_hook: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Optimise ``module`` and leave it holding the best weights (on ``score_fn(x_val)``, else the last).

    Parameters
    ----------
    param_groups : Adam parameter groups, each with its own ``lr`` (e.g. a separate prior lr).
    x_train, x_val : Tensor of shape (n, n_features) on the module's device.
    checkpoint_path : if given, a checkpoint is written there (atomically) after every epoch,
        holding the model, optimiser, generator and early-stopping state, the history and
        ``checkpoint_extra``. ``resume_state`` (a loaded checkpoint) continues from it.
    log_path : ``train_log.jsonl`` rewritten atomically each epoch: ``log_prefix`` then this run's history.
    callback : called after each epoch with a dict: stage, epoch, n_epochs, loss, val_elbo, lr,
        seconds, elapsed, eta, plus ``event_extra``. An exception it raises stops training after the
        epoch's checkpoint is on disk.
    epoch_hook : called as ``epoch_hook(epoch, n_epochs)`` (0-based) before every epoch, also after a
        resume, so that a schedule the model keeps (KL warm-up, facets faded in) is a function of the
        epoch alone.

    Raises
    ------
    TrainingDivergedError if a training loss or validation score is not finite.
    """
    for group in param_groups:
        group.setdefault("initial_lr", group["lr"])
    params = [p for g in param_groups for p in g["params"]]
    optimizer = make_adam(param_groups)
    use_val = x_val is not None and score_fn is not None and x_val.shape[0] > 0
    result = TrainResult()
    best_state: dict[str, Tensor] | None = None
    bad_epochs = 0
    start_epoch = 0
    if resume_state is not None:
        module.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        generator.set_state(resume_state["generator"])
        result.history = list(resume_state["history"])
        best = resume_state["best"]
        result.best_epoch, result.best_score, bad_epochs = best["epoch"], best["score"], best["bad_epochs"]
        best_state = best["model"]
        result.stopped_early = bool(resume_state["stopped_early"])
        start_epoch = int(resume_state["epoch"])
        logger.info("%s: resuming after epoch %d of %d", config.stage, start_epoch, config.epochs)
    extra = dict(event_extra or {})
    elapsed = sum(r["seconds"] for r in result.history)
    run_seconds = 0.0
    epoch = start_epoch
    while epoch < config.epochs and not result.stopped_early:
        tic = time.perf_counter()
        factor = schedule_factor(config.lr_schedule, epoch, config.epochs, config.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        if epoch_hook is not None:
            epoch_hook(epoch, config.epochs)
        module.train()
        loss = run_epoch(loss_fn, optimizer, params, x_train, config.batch_size, generator, config.max_grad_norm)
        loss += config.loss_offset
        module.eval()
        with torch.no_grad():
            val = float(score_fn(x_val)) if use_val else None
        if not math.isfinite(loss) or (val is not None and not math.isfinite(val)):
            kept = checkpoint_path is not None and Path(checkpoint_path).is_file()  # none before the first epoch ends
            where = f" The last good checkpoint is kept in {checkpoint_path}." if kept else ""
            bad = loss if not math.isfinite(loss) else val
            lr = optimizer.param_groups[0]["initial_lr"]
            raise TrainingDivergedError(
                f"{config.stage} diverged at epoch {epoch + 1} of {config.epochs}: the loss became {bad}. "
                f"{_divergence_fixes(module, lr)}.{where}"
            )
        if not use_val:  # nothing held out: the last weights are kept, scored by the training ELBO
            result.best_score, result.best_epoch = -loss, epoch + 1
        elif best_state is None or val > result.best_score:
            # any gain keeps these weights; only a gain above tol resets the patience count (scikit-learn's rule)
            bad_epochs = 0 if best_state is None or val > result.best_score + config.tol else bad_epochs + 1
            result.best_score, result.best_epoch = val, epoch + 1
            best_state = _clone_state(module)
        else:
            bad_epochs += 1
        epoch += 1
        if use_val and config.patience is not None and bad_epochs >= config.patience and epoch < config.epochs:
            result.stopped_early = True
        seconds = time.perf_counter() - tic
        elapsed += seconds
        run_seconds += seconds
        record = {
            **{k: v for k, v in extra.items() if k == "restart"},
            "stage": config.stage,
            "epoch": epoch,
            "objective": config.objective,
            "train_loss": loss,
            "val_elbo": val,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": seconds,
        }
        result.history.append(record)
        if checkpoint_path is not None:
            payload = {
                **(checkpoint_extra or {}),
                "model": module.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "epoch": epoch,
                "schedule": {"name": config.lr_schedule, "epoch": epoch, "n_epochs": config.epochs},
                "best": {
                    "epoch": result.best_epoch,
                    "score": result.best_score,
                    "bad_epochs": bad_epochs,
                    "model": best_state,
                },
                "history": result.history,
                "stopped_early": result.stopped_early,
            }
            save_checkpoint(checkpoint_path, payload)
        if log_path is not None:
            _write_log(Path(log_path), [*log_prefix, *result.history])
        remaining = config.epochs - epoch if not result.stopped_early else 0
        event = {
            "stage": config.stage,
            "epoch": epoch,
            "n_epochs": config.epochs,
            "loss": loss,
            "val_elbo": val,
            "lr": record["lr"],
            "seconds": seconds,
            "elapsed": elapsed,
            "eta": run_seconds / (epoch - start_epoch) * remaining,
            **extra,
        }
        logger.debug("%s epoch %d/%d loss %.4f val %s", config.stage, epoch, config.epochs, loss, val)
        if callback is not None:
            callback(event)
    if result.stopped_early:
        logger.info("%s: early stop after epoch %d (best epoch %d)", config.stage, epoch, result.best_epoch)
    if use_val and best_state is not None:
        module.load_state_dict(best_state)
    return result
