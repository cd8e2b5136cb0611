"""The fitting procedure every estimator shares: seeds, split, standardisation, restarts, warm start,
resume checks and the choice of the best restart. The optimisation itself is ``latentid.training``.

Randomness: one root seed (from ``random_state``, or from the checkpoint when resuming) is spread by
``numpy.random.SeedSequence`` into the split seed and, per restart, the torch generator (weights,
batch order, reparameterisation noise), the GMM seed and the validation-noise seed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from latentid._atomic import atomic_path
from latentid._random import numpy_rng
from latentid._warnings import caller_stacklevel
from latentid.checkpoint import load_checkpoint, read_state, versions
from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError, LatentIDWarning
from latentid.models.networks import LatentModule
from latentid.training import TrainConfig, TrainResult, train

if TYPE_CHECKING:  # pragma: no cover
    from latentid.models.base import LatentModel

logger = logging.getLogger(__name__)

LOG_NAME = "train_log.jsonl"
EVAL_BATCH = 8192
# What each pretraining record's train_loss is (per sample, standardised data): not the model's bound.
PRETRAIN_OBJECTIVES = {
    "autoencoder": "autoencoder reconstruction error (warm start, standardised data)",
    "vae": "vanilla VAE negative ELBO (warm start, standardised data)",
    "annealed_vae": "vanilla VAE negative ELBO, KL term weighted 0 -> 1 over the first half (warm start)",
    "refined": "vanilla VAE negative refined bound (warm start, standardised data)",
    "pca": "squared error of the encoder to whitened PCA latents and of x decoded from them (warm start)",
}


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch.set_num_threads(n) for the duration of a fit, then restore."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def own_torch_defaults(gradients: bool = False) -> Iterator[None]:
    """float32 as torch's default dtype (and with ``gradients``, autograd on) while latentid builds or fits a
    model, whatever the caller set: under ``torch.set_default_dtype(torch.float64)`` a seeded fit gave another
    model, and under ``torch.no_grad()`` it failed with torch's 'element 0 of tensors does not require grad'.
    The caller's settings are back afterwards."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        if gradients:
            with torch.inference_mode(False), torch.enable_grad():
                yield
        else:
            yield
    finally:
        torch.set_default_dtype(dtype)


def data_fingerprint(X: np.ndarray) -> str:
    """A short SHA-256 of the array's shape and bytes (to refuse resuming on other data)."""
    digest = hashlib.sha256(str(X.shape).encode())
    digest.update(np.ascontiguousarray(X).tobytes())
    return digest.hexdigest()[:16]


def _checkpoint_path(directory: Path, restart: int) -> Path:
    """The checkpoint of restart ``restart`` (1-based, as in the log and the progress bar)."""
    return directory / f"restart-{restart}.pt"


def _pretrain_path(directory: Path, restart: int) -> Path:
    """The pretraining checkpoint of restart ``restart`` (1-based), written each pretraining epoch."""
    return directory / f"pretrain-{restart}.pt"


def _check_resume(state: dict, config: dict, fingerprint: str, path: Path) -> None:
    old = state.get("config", {})
    for key in sorted(set(old) | set(config)):
        if old.get(key) != config.get(key):
            raise InvalidParameterError(
                f"{path} was written with {key}={old.get(key)!r}, but this fit has {key}={config.get(key)!r}. "
                "Resume with the same hyper-parameters, or use another checkpoint_dir."
            )
    if state.get("fingerprint") != fingerprint:
        raise InvalidDataError(
            f"{path} was written for other data (fingerprint {state.get('fingerprint')} vs {fingerprint}). "
            "Resume with the same X, or use another checkpoint_dir."
        )


def standardizes(model: LatentModel) -> bool:
    """Whether the model standardises x before its networks (a Gaussian likelihood with ``standardize``)."""
    return model.likelihood == "gaussian" and bool(model.standardize)


def _standardization(model: LatentModel, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-feature shift and one global scale (so isotropic noise stays isotropic)."""
    if not standardizes(model):
        return np.zeros(x.shape[1], dtype=np.float32), 1.0
    shift = x.mean(axis=0, dtype=np.float64)
    deviations = x - shift  # float64, twice x: squared in place rather than into a third array
    deviations **= 2
    scale = float(np.sqrt(np.mean(deviations)))
    return shift.astype(np.float32), scale if scale > 0 and math.isfinite(scale) else 1.0


@torch.no_grad()
def encoder_means(module: LatentModule, x: torch.Tensor) -> torch.Tensor:
    """E_q[z|x] for a standardised x (n, n_features) -> (n, latent_dim), in batches."""
    return torch.cat([module.encoder(x[i : i + EVAL_BATCH])[0] for i in range(0, x.shape[0], EVAL_BATCH)])


def _load_pretrained(module: LatentModule, path: str) -> None:
    state = read_state(path)
    for part in ("encoder", "decoder"):
        sub = {k[len(part) + 1 :]: v for k, v in state.items() if k.startswith(part + ".")}
        if not sub:
            raise DataFileError(
                f"{path}: holds no {part} weights. Pass a saved model folder or a pretrained-*.pt file."
            )
        try:
            getattr(module, part).load_state_dict(sub)
        except RuntimeError as exc:
            raise InvalidParameterError(
                f"The 'pretrained' weights in {path} do not fit this model's {part} "
                f"({str(exc).splitlines()[-1].strip()}). Use the same latent_dim, widths and data."
            ) from exc


PRIOR_INIT_STAGE = "prior init"  # the callback's stage while the prior is set from the warm start's latents


def warm_start(
    model: LatentModel,
    module: LatentModule,
    x_train: torch.Tensor,
    generator: torch.Generator,
    seed: int,
    directory: Path | None = None,
    **train_kwargs: Any,
) -> list[dict]:
    """Pretraining (or explicit ``pretrained`` weights), then the model's prior init.

    Pretraining minimises the likelihood's reconstruction error of decoder(encoder mean)
    (``pretrain_objective='autoencoder'``), a vanilla VAE's negative ELBO ('vae'), or the regression of
    the encoder onto the whitened PCA latents of x and of x onto them by the decoder ('pca'); with a
    checkpoint_dir the pretrained weights are written to ``pretrained-<restart>.pt`` there (1-based), to be
    reused only when passed back explicitly as ``pretrained=``. ``train_kwargs`` go to the pretraining's
    ``train`` (``checkpoint_path``/``resume_state``: the per-epoch ``pretrain-<restart>.pt`` and its
    resume). Returns the pretraining history; its ``train_loss`` is the warm start's own objective (named
    in each record's ``objective``).
    """
    history: list[dict] = []
    warmed = model.pretrained is not None or model.pretrain_epochs > 0
    if model.pretrained is not None:
        _load_pretrained(module, str(model.pretrained))
        logger.info("warm start from explicit pretrained weights %s", model.pretrained)
    elif model.pretrain_epochs > 0:
        objective = restart_objective(
            getattr(model, "pretrain_objective", "autoencoder"), train_kwargs.get("event_extra", {}).get("restart", 1)
        )
        params = [*module.encoder.parameters(), *module.decoder.parameters()]
        if objective in ("vae", "annealed_vae"):
            params += list(module.likelihood.parameters())
        refined_vae = objective in ("vae", "annealed_vae") and model.inference == "refined"
        if refined_vae:
            # The unfitted mixture prior is N(0, I) (equal components at 0, unit covariances) and is not
            # trained here, so the model's own refined objective is a vanilla VAE's, without its encoder bias.
            loss = lambda xb, gen: model._loss(module, xb, gen)  # noqa: E731
        elif objective == "pca":
            loss = _pca_regression_loss(module, x_train)
        elif objective == "annealed_vae":
            weight, hook = _kl_annealing(x_train.shape[0], model.batch_size_, model.pretrain_epochs)
            loss = _vae_loss(module, weight)
            train_kwargs = {**train_kwargs, "epoch_hook": hook}
        else:
            loss = _vae_loss(module) if objective == "vae" else _autoencoder_loss(module)
        config = TrainConfig(
            model.pretrain_epochs,
            model.batch_size_,
            lr_schedule="constant",
            stage="pretrain",
            objective=PRETRAIN_OBJECTIVES["refined" if refined_vae else objective],
        )
        history = train(
            module, loss, [{"params": params, "lr": model.lr}], x_train, config, generator, **train_kwargs
        ).history
        if directory is not None:
            restart = train_kwargs.get("event_extra", {}).get("restart", 1)
            state = {k: v for k, v in module.state_dict().items() if k.split(".")[0] in ("encoder", "decoder")}
            with atomic_path(Path(directory) / f"pretrained-{restart}.pt") as tmp:
                torch.save(state, tmp)
    z = encoder_means(module, x_train)
    # The PCA start leaves the noise at its initial (large) scale: measured on the iVAE comparison's data
    # (m = 2, seeds 0-4), fits then ended higher (strong MCC 0.833 against 0.800) than with the residuals'.
    pca_start = model.pretrained is None and getattr(model, "pretrain_objective", None) == "pca"
    if warmed and not pca_start:
        with torch.no_grad():
            head = slice(0, EVAL_BATCH)  # a noise-scale estimate needs no more rows than this
            x_obs, _ = module.observed_and_prior(x_train[head])
            module.likelihood.init_from_residuals(x_obs, module.decoder(z[head]))
    aux = x_train[:, x_train.shape[1] - module.n_aux :].cpu().double().numpy() if module.n_aux else None
    # An event before and after: a mixture of many full components on wide latents (K = 500, m = 100) is fitted
    # for minutes to hours, and the progress bar showed nothing (a callback needs no new key to read it).
    from latentid.models.base import LatentModel  # here: base imports this module

    callback = train_kwargs.get("callback")
    if type(model)._init_prior is LatentModel._init_prior:  # a VAE's N(0, I): nothing to set, no stage to show
        callback = None

    def report(epoch: int, seconds: float) -> None:
        if callback is not None:
            fields = {"loss": None, "val_elbo": None, "lr": None, "seconds": seconds, "elapsed": seconds, "eta": None}
            callback(
                {
                    "stage": PRIOR_INIT_STAGE,
                    "epoch": epoch,
                    "n_epochs": 1,
                    **fields,
                    **train_kwargs.get("event_extra", {}),
                }
            )

    tic = time.perf_counter()
    report(0, 0.0)
    model._init_prior(module, z.cpu().double().numpy(), seed, aux=aux)
    report(1, time.perf_counter() - tic)
    return history


def restart_objective(objective: str, restart: int) -> str:
    """The warm start restart ``restart`` (1-based) runs: ``objective`` itself, except that 'alternate' means
    'vae' for odd restarts and 'annealed_vae' for even ones, so that the held-out bound, which picks the best
    restart, also picks between the two (README, the quality section: measured, it did not pick the better one
    reliably, so it is an option)."""
    if objective != "alternate":
        return objective
    return "vae" if restart % 2 == 1 else "annealed_vae"


def _autoencoder_loss(module: LatentModule):
    """Reconstruction error of decoder(encoder mean), per sample: the classic VaDE warm start."""

    def loss(xb: torch.Tensor, _gen: torch.Generator) -> torch.Tensor:
        x_obs, _ = module.observed_and_prior(xb)
        return module.likelihood.reconstruction_loss(x_obs, module.decoder(module.encoder(xb)[0]))

    return loss


def _pca_regression_loss(module: LatentModule, x_train: torch.Tensor):
    """A linear warm start, per sample: the encoder mean regressed onto the whitened PCA scores t(x) of the
    training rows, and x onto decoder(t(x)), so that training begins from latents that are an affine map of
    x, on PCA's axes (README: where that helps iVAE and where it hurts)."""
    with torch.no_grad():
        x_obs, _ = module.observed_and_prior(x_train)
        centre = x_obs.mean(0)
        _, sing, vh = torch.linalg.svd(x_obs - centre, full_matrices=False)
        m = module.decoder[0].in_features
        sd = (sing[:m] / math.sqrt(max(x_obs.shape[0] - 1, 1))).clamp_min(1e-6)
        projection = vh[:m].T / sd  # (n_features, m): x -> unit-variance scores

    def loss(xb: torch.Tensor, _gen: torch.Generator) -> torch.Tensor:
        x_b, _ = module.observed_and_prior(xb)
        target = (x_b - centre) @ projection
        encoder_error = 0.5 * (module.encoder(xb)[0] - target).pow(2).sum(-1)
        return encoder_error + module.likelihood.reconstruction_loss(x_b, module.decoder(target))

    return loss


def _vae_loss(module: LatentModule, kl_weight: Callable[[], float] | None = None):
    """Negative ELBO of a vanilla VAE (N(0, I) prior, analytic KL) on the same encoder, decoder and noise.

    A warm start that keeps the latent space regular: on the default simulation it left VaDE at a
    higher ELBO and affine R^2 than the autoencoder warm start (benchmarks/vade_quality.py).
    ``kl_weight``: called once per training batch, the KL term's weight for it (``_kl_annealing``).
    """

    def loss(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x_obs, _ = module.observed_and_prior(xb)
        mean, logvar = module.encoder(xb)
        eps = torch.randn(mean.shape, generator=gen, device=mean.device, dtype=mean.dtype)
        recon = module.likelihood.log_prob(x_obs, module.decoder(mean + (0.5 * logvar).exp() * eps))
        kl = 0.5 * (logvar.exp() + mean.pow(2) - 1.0 - logvar).sum(-1)
        weight = 1.0 if kl_weight is None or not module.training else kl_weight()
        return weight * kl - recon

    return loss


def _kl_annealing(n_train: int, batch_size: int, epochs: int):
    """KL annealing (Bowman et al. 2016) for a warm start of ``epochs`` epochs over ``n_train`` rows: the weight
    of batch t (counted from 1) is min(1, t / T), T the batches of the first half. Returns (weight, epoch_hook);
    the hook puts the count at the epoch's first batch, so a resumed warm start goes on with the same weights.
    It keeps more latent dimensions alive than the plain VAE warm start, which can leave some at the prior
    (``metrics.activity``; README, the quality section)."""
    per_epoch = math.ceil(n_train / batch_size)
    ramp = max(1, per_epoch * epochs // 2)
    step = [0]

    def weight() -> float:
        step[0] += 1
        return min(1.0, step[0] / ramp)

    def hook(epoch: int, _n_epochs: int) -> None:
        step[0] = epoch * per_epoch

    return weight, hook


def _score_fn(model: LatentModel, module: LatentModule, seed: int, offset: float = 0.0):
    """Mean held-out bound per sample in the data's units (``offset``: n_features log(scale), the
    standardisation's Jacobian), the same bound the model trains on (the ELBO, or the IW / refined bound,
    so epochs compare like with like), with the same noise draws every epoch (common random numbers)."""

    def score(x: torch.Tensor) -> float:
        gen = torch.Generator(device=x.device)
        gen.manual_seed(seed)
        batches = (model._loss(module, x[i : i + EVAL_BATCH], gen) for i in range(0, len(x), EVAL_BATCH))
        return -sum(float(b.sum()) for b in batches) / x.shape[0] - offset

    return score


def training_objective(model: LatentModel) -> str:
    """What a training record's ``train_loss`` is: the negative of the bound the model maximises."""
    if model.inference == "refined":
        bound = f"refined importance-weighted bound ({model.iw_samples} draws)"
    elif model.iw_samples > 1:
        bound = f"importance-weighted bound ({model.iw_samples} draws)"
    else:
        bound = "ELBO"
    return f"negative {bound}, nats per sample, data units"


AUTO_BATCH_MAX, AUTO_BATCH_MIN = 256, 32
MIN_STEPS_PER_EPOCH = 20  # batch_size='auto' keeps at least this many optimiser steps in an epoch


def resolve_batch_size(batch_size: int | str, n_train: int) -> int:
    """The minibatch size for ``n_train`` training rows: ``batch_size`` itself, or for 'auto' 256, lowered
    (not below 32) so that an epoch takes at least 20 steps. On small data a fixed 256 gave a few hundred
    Adam steps in all, which left latent dimensions collapsed (README: "Small data")."""
    if batch_size != "auto":
        return int(batch_size)
    return int(min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, n_train // MIN_STEPS_PER_EPOCH)))


def _restart_generators(seed: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """One restart's (training generator on ``device``, generator its weights are drawn with).

    torch's initialisers draw on the CPU and refuse a CUDA generator, so on a GPU the weights come from a
    CPU generator of the same seed (the same starting weights as on the CPU); on the CPU one generator
    serves both, as it always has, so CPU fits are unchanged.
    """
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    if generator.device.type == "cpu":
        return generator, generator
    return generator, torch.Generator().manual_seed(seed)


def tensor_of(arr: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``arr``'s memory, also for a read-only array (np.load(mmap_mode='r'), joblib's memmaps
    in GridSearchCV): latentid only reads it, so torch's warning about writing to it would only alarm."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


def fit_restarts(model: LatentModel, X: np.ndarray, device: torch.device, U: np.ndarray | None = None) -> None:
    """Run ``n_restarts`` fits of ``model`` on validated X (n, n_features); keep the best on held-out ELBO.

    ``U`` (n, n_aux): the auxiliary variable of a model that reads one, appended to every standardised row.
    """
    n, n_features = X.shape
    n_aux = 0 if U is None else U.shape[1]
    directory = Path(model.checkpoint_dir) if model.checkpoint_dir is not None else None
    fingerprint = data_fingerprint(X if U is None else np.hstack([X, U]))
    config = model._resume_config()
    # Restart 1's training checkpoint, else its pretraining checkpoint (a fit stopped while pretraining).
    first = None
    if directory is not None:
        first = next((p for p in (_checkpoint_path(directory, 1), _pretrain_path(directory, 1)) if p.exists()), None)
    resuming = bool(model.resume) and first is not None
    if resuming:
        root_seed = int(load_checkpoint(first)["root_seed"])
    else:
        root_seed = int(numpy_rng(model.random_state).integers(0, 2**63 - 1))
        if first is not None:
            warnings.warn(  # a warning, not a log record: a notebook shows it once, and filters silence it
                f"{directory} holds checkpoints of an earlier run; resume=False, so they are overwritten",
                LatentIDWarning,
                stacklevel=caller_stacklevel(),
            )
    model.root_seed_ = root_seed  # what save() records for a random_state JSON cannot hold (a RandomState, a Generator)
    split_seq, *restart_seqs = np.random.SeedSequence(root_seed).spawn(1 + model.n_restarts)
    n_train, _ = model._split_sizes(n)
    model.batch_size_ = resolve_batch_size(model.batch_size, n_train)
    order = np.random.default_rng(split_seq).permutation(n)
    train_idx = torch.from_numpy(np.sort(order[:n_train])).to(device)
    val_idx = torch.from_numpy(np.sort(order[n_train:])).to(device)
    shift, scale = _standardization(model, X[order[:n_train]])
    x_all = tensor_of(X).to(device)
    u_all = None if U is None else tensor_of(U).to(device)
    noise = None if model.noise_scale is None else float(model.noise_scale) / scale
    log_path = directory / LOG_NAME if directory is not None else None
    log_records: list[dict] = []
    best: tuple[float, int, LatentModule, TrainResult, list[dict]] | None = None
    scores = []
    offset = n_features * math.log(scale)  # bounds are logged and reported in the data's units, like score()
    for r, seq in enumerate(restart_seqs, start=1):  # restarts are numbered from 1 in files, log and progress
        torch_seed, gmm_seed, eval_seed = (int(s) for s in seq.generate_state(3, dtype=np.uint32))
        generator, build_generator = _restart_generators(torch_seed, device)
        module = model._build(n_features, build_generator, noise, n_aux).to(device)
        module.x_shift.copy_(torch.from_numpy(shift))
        module.x_scale.fill_(scale)
        x_std = module.standardize(x_all)
        if u_all is not None:
            x_std = torch.cat([x_std, u_all], dim=1)
        x_train, x_val = x_std[train_idx], x_std[val_idx]
        del x_std  # a third copy of X through training otherwise
        path = _checkpoint_path(directory, r) if directory is not None else None
        state = load_checkpoint(path) if resuming and path is not None and path.exists() else None
        extra = {"restart": r, "n_restarts": model.n_restarts}  # r is 1-based
        common = {"callback": model.callback, "event_extra": extra, "log_path": log_path}
        if state is not None:
            _check_resume(state, config, fingerprint, path)
            pretrain_history = list(state.get("pretrain_history", []))
        else:
            # Pretraining writes its own checkpoint each epoch, so that a fit stopped while pretraining
            # continues from its last epoch rather than starting over.
            pre_path = _pretrain_path(directory, r) if directory is not None else None
            pre_state = load_checkpoint(pre_path) if resuming and pre_path is not None and pre_path.exists() else None
            if pre_state is not None:
                _check_resume(pre_state, config, fingerprint, pre_path)
            pretrain_checkpoint = {
                "checkpoint_path": pre_path,
                "checkpoint_extra": {
                    "config": config,
                    "fingerprint": fingerprint,
                    "root_seed": root_seed,
                    "restart": r,
                    "versions": versions(),
                },
                "resume_state": pre_state,
            }
            pretrain_history = warm_start(
                model,
                module,
                x_train,
                generator,
                gmm_seed,
                directory=directory,
                log_prefix=log_records,
                **pretrain_checkpoint,
                **common,
            )
        train_config = TrainConfig(
            epochs=model.epochs,
            batch_size=model.batch_size_,
            lr_schedule=model.lr_schedule,
            patience=model.patience,
            tol=model.tol,
            objective=training_objective(model),
            loss_offset=offset,
        )
        checkpoint_extra = {
            "config": config,
            "fingerprint": fingerprint,
            "root_seed": root_seed,
            "restart": r,
            "pretrain_history": pretrain_history,
            "versions": versions(),
        }
        result = train(
            module,
            lambda xb, gen, module=module: model._loss(module, xb, gen),
            model._param_groups(module),
            x_train,
            train_config,
            generator,
            x_val=x_val if x_val.shape[0] > 0 else None,
            score_fn=_score_fn(model, module, eval_seed, offset),
            checkpoint_path=path,
            checkpoint_extra=checkpoint_extra,
            resume_state=state,
            log_prefix=[*log_records, *pretrain_history],
            epoch_hook=model._epoch_start,
            **common,
        )
        log_records += [*pretrain_history, *result.history]
        scores.append(result.best_score)
        if best is None or result.best_score > best[0]:
            best = (result.best_score, r, module, result, pretrain_history)
    _, best_r, module, result, pretrain_history = best
    logger.info(
        "%s fitted: restart %d of %d kept, %d epochs, best epoch %d",
        type(model).__name__,
        best_r,
        model.n_restarts,
        result.n_epochs,
        result.best_epoch,
    )
    model._set_fitted(module, n_features)
    # The log's numbers, as they are: per-sample bounds in the data's units.
    model.elbo_history_ = [-h["train_loss"] for h in result.history]
    model.val_elbo_history_ = [h["val_elbo"] for h in result.history]
    model.pretrain_history_ = pretrain_history
    model.n_iter_ = result.n_epochs
    model.best_epoch_ = result.best_epoch
    model.best_restart_ = best_r - 1  # index into restart_scores_; the run's restart number is best_r
    model.restart_scores_ = list(scores)
