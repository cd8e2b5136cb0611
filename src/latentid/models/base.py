"""The estimator base class: scikit-learn's contract around a torch latent-variable model.

``LatentModel`` owns the whole procedure (validation, data split, standardisation, restarts,
warm start, the one loop in ``latentid.training``, checkpoints and resume, best-restart choice)
and the fitted API (transform, predict, score, sample, save, load). A model fills a few hooks:

- ``_make_prior(n_aux, generator)`` -> a ``Prior`` object (required; ``n_aux`` columns of u, 0 for none);
- ``_init_prior(module, z, seed, aux)`` -> initialise the prior from encoder means after pretraining;
- ``_loss(module, x, generator)`` -> per-sample negative ELBO (default: ``elbo.elbo``);
- ``_param_groups(module)`` -> Adam groups (default: the prior at ``prior_lr`` when the model has one);
- ``_aux_matrix(u, n_rows, fitting)`` -> u as a float32 matrix (n_rows, n_aux), or None for a model
  without an auxiliary variable (the default refuses a u that is given);
- ``_epoch_start(epoch, n_epochs)`` -> called before every training epoch (schedules such as KL warm-up).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import TransformerTags
from sklearn.utils.metaestimators import available_if

from latentid import checkpoint as ckpt
from latentid._random import numpy_rng
from latentid._warnings import caller_stacklevel
from latentid.checkpoint import jsonable
from latentid.data.io import dense_array, refuse_identical_rows, validate_matrix
from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError, LatentIDWarning, NotFittedError
from latentid.metrics.activity import inactive_dimensions, latent_signal_to_noise
from latentid.models import params as P
from latentid.models.elbo import elbo, iw_bound, q_c_log_probs
from latentid.models.feature_names import (
    check_names,
    check_saved_names,
    names_out,
    remember_names,
    restore_names,
    saved_names,
)
from latentid.models.fit_memory import check_fit_memory, fit_memory_need
from latentid.models.fitting import (
    fit_restarts,
    own_torch_defaults,
    resolve_batch_size,
    standardizes,
    tensor_of,
    torch_threads,
)
from latentid.models.likelihoods import make_likelihood
from latentid.models.networks import ACTIVATIONS, GaussianEncoder, LatentModule, build_decoder, default_decoder_widths
from latentid.models.priors import Prior
from latentid.models.refined import laplace_posterior_mean, refined_iw_loss
from latentid.models.saved_params import params_to_load, params_to_save, remember_fit_params, snapshot_params
from latentid.training import SCHEDULES

logger = logging.getLogger(__name__)

EVAL_BATCH = 8192
SCORE_SAMPLES = 10  # reparameterised draws per sample in score()/score_samples()
REFINE_SAMPLES = 256  # importance samples per point in transform(refine=True)
ACTIVITY_ROWS = 2048  # training rows read for the inactive-dimension warning at the end of fit
# rows whose median standardised root-mean-square reaches this are far from the training rows' (about 1 on average;
# a rare far cluster of training rows reaches 15 at 40 sds out): data in other units (x100, x1000) reach hundreds
OFF_SCALE_SDS = 30.0  # for a model saved before row_scale_ was kept
ROW_SCALE_QUANTILES = (0.001, 0.5, 0.999)
OFF_SCALE_ROWS = 10_000  # rows the off-scale check reads, spread over the data
# Posterior means beyond this many times the data's largest value (as the model sees x: standardised, or not) are no
# fit: lr 1 and 10 on the default synthetic setting reached 3e5 to 8e9 with a finite loss, saved without a word.
RUNAWAY_LATENT_SCALE = 1e4
# device='auto' takes a GPU only for networks this large: below, a step is bound by kernel launches there, and
# the CPU is as fast or faster (benchmarks/device_crossover.py on an H200: tied at 283k weights, the GPU 4x
# ahead at 1.9M; the paper's synthetic networks, ~1k weights, trained 2x slower on the GPU).
AUTO_GPU_MIN_WEIGHTS = 500_000


def has_clusters(model) -> bool:
    """Whether ``model``'s prior is a mixture whose components ``predict`` assigns samples to: the VAE's single
    N(0, I) and iVAE's p(z | u) have none, so those models have no ``predict``/``predict_proba`` (``hasattr``
    says so), rather than answering 0 for every sample."""
    return type(model)._HAS_CLUSTERS


COMMON_CONSTRAINTS: dict[str, list[P.Constraint]] = {
    "latent_dim": [P.Interval(int, 1)],
    "hidden_dims": [P.IntSequence(1, P.MAX_LAYERS), P.NONE],
    "encoder_dims": [P.IntSequence(1, P.MAX_LAYERS), P.NONE],
    "activation": [P.Options(tuple(ACTIVATIONS))],
    "slope": [P.Interval(float, 0.0, 1.0, "left")],
    "likelihood": [P.Options(("gaussian", "bernoulli"))],
    "noise_scale": [P.Interval(float, 0.0, None, "neither"), P.NONE],
    "elbo": [P.Options(("mean_field", "vade", "marginal"))],
    "inference": [P.Options(("amortized", "refined"))],
    "refine_steps": [P.Interval(int, 0)],
    "iw_samples": [P.Interval(int, 1)],
    "epochs": [P.Interval(int, 1)],
    "batch_size": [P.Interval(int, 1), P.Options(("auto",))],
    "lr": [P.Interval(float, 0.0, None, "neither")],
    "lr_schedule": [P.Options(SCHEDULES)],
    "pretrain_epochs": [P.Interval(int, 0)],
    "n_restarts": [P.Interval(int, 1)],
    "patience": [P.Interval(int, 1), P.NONE],
    "tol": [P.Interval(float, 0.0)],
    "validation_fraction": [P.Interval(float, 0.0, 1.0, "left")],
    "standardize": [P.BOOL],
    "device": [P.DEVICE],
    "threads": [P.Interval(int, 1), P.NONE],
    "checkpoint_dir": [P.PATH, P.NONE],
    "resume": [P.BOOL],
    "pretrained": [P.PATH, P.NONE],
    "callback": [P.CALLABLE, P.NONE],
    "random_state": [P.SEED, P.NONE],
}
# Parameters that steer a run without changing its result; a resumed run may change them.
PATH_PARAMS = ("checkpoint_dir", "pretrained")
RUN_CONTROL = ("epochs", "checkpoint_dir", "resume", "callback", "threads", "device", "pretrained")


MIN_SAMPLES_SET_BY = (("n_components", "n_components"), ("facets", "a facet's components"))


def refuse_aux(model, u) -> None:
    """A one-line error when ``u`` is given to a model that reads x alone."""
    if u is not None:
        raise InvalidParameterError(
            f"{type(model).__name__} reads x alone and takes no auxiliary variable u; drop u= (only IVAE uses u)."
        )


MAX_DRAWS = 1_000_000  # importance draws per row: beyond this the Monte Carlo error no longer matters


def _check_draws(n_samples) -> None:
    """``n_samples`` of a Monte Carlo estimate: an int in [1, MAX_DRAWS], else a one-line error."""
    if not P.Interval(int, 1).accepts(n_samples) or n_samples > MAX_DRAWS:
        raise InvalidParameterError(f"n_samples must be an int in [1, {MAX_DRAWS:,}]. Got {n_samples!r} instead.")


def probabilities(log_p: torch.Tensor) -> np.ndarray:
    """Rows of log-probabilities (n, K), computed in float32, as float64 probabilities that sum to 1 in float64
    (renormalised there: exp of the float32 values summed to 1 only within 2e-7, which numpy's choice refuses)."""
    return torch.softmax(log_p.double(), dim=1).cpu().numpy()


FITTED_RANGE_PER_SD = 6.0  # a column's range over its sd, about, for data of a few hundred rows or more


class LatentModel(TransformerMixin, BaseEstimator):
    """Base of every latentid estimator (not used directly). See the module docstring for the hooks."""

    _parameter_constraints: ClassVar[dict[str, list[P.Constraint]]] = COMMON_CONSTRAINTS
    _registry: ClassVar[dict[str, type[LatentModel]]] = {}
    _HAS_CLUSTERS: ClassVar[bool] = True  # see has_clusters

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        LatentModel._registry[cls.__name__] = cls

    def __sklearn_tags__(self):
        # A transformer whose outputs are float32 whatever X's dtype, and whose score_samples is a Monte Carlo
        # estimate (one row's value depends on the draws the rows before it used), hence non-deterministic.
        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])
        tags.non_deterministic = True
        return tags

    # ------------------------------------------------------------------ hooks
    def _make_prior(self, n_aux: int, generator: torch.Generator) -> Prior:
        raise NotImplementedError

    def _aux_matrix(self, u, n_rows: int, fitting: bool) -> np.ndarray | None:
        """u as the float32 matrix (n_rows, n_aux) the model reads beside x; None: the model has no u (and a u
        given to it is refused: silently ignored, it would let a user believe the fit used it)."""
        refuse_aux(self, u)
        return None

    def _epoch_start(self, epoch: int, n_epochs: int) -> None:
        """Called before each training epoch (0-based ``epoch``); default: nothing."""

    def _init_prior(self, module: LatentModule, z: np.ndarray, seed: int, aux: np.ndarray | None = None) -> None:
        """Initialise the prior from encoder means z (n, latent_dim) of the training rows, whose u (n, aux_dim)
        is ``aux`` for a model with an observed u (else None); default: leave it as built."""

    def _loss(self, module: LatentModule, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-sample training loss of a standardised batch x (b, n_features) -> (b,), in nats.

        'amortized': the negative ELBO of the encoder's q, or with ``iw_samples`` > 1 the negative
        importance-weighted bound (IWAE) with the encoder as proposal. 'refined': the negative
        importance-weighted bound around each sample's refined posterior mode (``models.refined``).
        """
        if self.inference == "refined":
            return refined_iw_loss(module, x, generator, self.iw_samples, self.refine_steps)
        if self.iw_samples > 1:
            return -iw_bound(module, x, generator, self.iw_samples)
        return -elbo(module, x, generator, self.elbo)

    def _param_groups(self, module: LatentModule) -> list[dict]:
        prior_params = list(module.prior.parameters())
        ids = {id(p) for p in prior_params}
        groups = [{"params": [p for p in module.parameters() if id(p) not in ids], "lr": self.lr}]
        if prior_params:
            groups.append({"params": prior_params, "lr": getattr(self, "prior_lr", None) or self.lr})
        return groups

    # ------------------------------------------------------------------ building blocks
    def _build(
        self, n_features: int, generator: torch.Generator, noise_scale: float | None = None, n_aux: int = 0
    ) -> LatentModule:
        """A fresh module for data with ``n_features`` columns and ``n_aux`` columns of u (weights drawn
        from ``generator``)."""
        hidden, enc_hidden = self._network_widths(n_features)
        slope = float(self.slope)
        encoder = GaussianEncoder(n_features + n_aux, self.latent_dim, enc_hidden, self.activation, slope, generator)
        decoder = build_decoder(self.latent_dim, n_features, hidden, self.activation, slope, generator)
        likelihood = make_likelihood(self.likelihood, noise_scale)
        return LatentModule(encoder, decoder, self._make_prior(n_aux, generator), likelihood, n_aux)

    def _network_widths(self, n_features: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The hidden widths the networks are built with for ``n_features`` columns: (decoder, latent to data;
        encoder, data to latent). No widths given means the default decoder and an encoder that mirrors it."""
        hidden = (
            tuple(self.hidden_dims)
            if self.hidden_dims is not None
            else default_decoder_widths(self.latent_dim, n_features)
        )
        return hidden, tuple(self.encoder_dims) if self.encoder_dims is not None else tuple(reversed(hidden))

    def _validate_params(self) -> None:
        P.validate_params(type(self).__name__, self.get_params(deep=False), self._parameter_constraints)

    def _min_train_samples(self) -> int:
        return max(2, getattr(self, "n_components", 1))

    def _split_sizes(self, n: int) -> tuple[int, int]:
        n_val = int(round(n * self.validation_fraction))
        if self.validation_fraction > 0:
            n_val = max(n_val, 1)
        return n - n_val, n_val

    def _check_fit_data(self, X: np.ndarray) -> None:
        name = type(self).__name__
        n, n_features = X.shape
        P.check_latent_dim(name, self.latent_dim, n_features)
        n_train, _ = self._split_sizes(n)
        need = self._min_train_samples()
        if n_train < need:
            params = self.get_params(deep=False)  # what sets the need: a mixture's components, a facet's, or none
            why, lower = next(
                ((f" ({key}={params[key]})", f"{what} / ") for key, what in MIN_SAMPLES_SET_BY if key in params),
                ("", ""),
            )
            if params.get("n_components") == 1:  # at its least already: lowering it is no way out
                lower = ""
            raise InvalidDataError(
                f"{name} needs at least {need} training samples{why}; X has {n} samples, {n_train} after holding "
                f"out validation_fraction={self.validation_fraction}. Pass more samples or lower "
                f"{lower}validation_fraction."
            )
        self._check_range(X)
        if self.resume and self.checkpoint_dir is None:
            raise InvalidParameterError(
                f"The 'resume' parameter of {name} is True but 'checkpoint_dir' is None. "
                "Pass the checkpoint_dir of the run to resume, or resume=False."
            )
        if self.checkpoint_dir is not None and Path(self.checkpoint_dir).exists():
            if not Path(self.checkpoint_dir).is_dir():
                raise InvalidParameterError(
                    f"The 'checkpoint_dir' parameter of {name} must be a folder. Got the file {self.checkpoint_dir}."
                )

    def _check_range(self, X: np.ndarray) -> None:
        if self.likelihood == "bernoulli" and (X.min() < 0.0 or X.max() > 1.0):
            raise InvalidDataError(
                f"likelihood='bernoulli' needs X in [0, 1]; got values in [{X.min():g}, {X.max():g}]. "
                "Rescale X (e.g. x / 255) or use likelihood='gaussian'."
            )

    def _resolve_device(self, device: str | None = None, n_weights: int | None = None) -> torch.device:
        """The torch device of ``device`` (None: the estimator's). 'auto' takes a GPU that torch sees only for
        networks of at least ``AUTO_GPU_MIN_WEIGHTS`` weights (``n_weights``; None: any size)."""
        device = self.device if device is None else device
        if device == "auto":
            large = n_weights is None or n_weights >= AUTO_GPU_MIN_WEIGHTS
            return torch.device("cuda" if large and torch.cuda.is_available() else "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidParameterError(
                f"The 'device' parameter of {type(self).__name__} is {device!r}, but torch sees no CUDA device. "
                "Use device='auto' or 'cpu'."
            )
        try:
            return torch.device(device)
        except RuntimeError:  # 'tpu', 'gpu': torch's own message is a list of every backend it knows
            raise InvalidParameterError(
                f"The 'device' of {type(self).__name__} must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
            ) from None

    def _resume_config(self) -> dict[str, Any]:
        params = {k: jsonable(v) for k, v in self.get_params(deep=False).items() if k not in RUN_CONTROL}
        return {"class": type(self).__name__, **params}

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, u=None) -> LatentModel:
        """Fit the model to X (n_samples, n_features); ``u`` is the auxiliary variable of a model that
        reads one (iVAE: labels (n_samples,) or a matrix (n_samples, aux_dim)), refused by the others
        (InvalidParameterError); ``y`` is ignored (scikit-learn's pipelines pass it).

        Returns self. Raises InvalidParameterError / InvalidDataError on bad input,
        TrainingDivergedError if the loss stops being finite.
        """
        self._validate_params()
        # A fit that stops part-way (Ctrl-C, divergence, a refusal, a callback's error) leaves the model as it
        # was, fitted or not: it sets names, u's categories and sizes before the networks, which paired with the
        # previous fit's networks gave wrong latents.
        before = dict(vars(self))
        try:
            with own_torch_defaults(gradients=True):
                self._fit(X, u)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    def _fit(self, X, u) -> None:
        params = snapshot_params(self)
        # first: during the fit the fitted parameters are the ones it runs with (fit() restores them if it stops)
        remember_fit_params(self, params)
        frame = X
        X = validate_matrix(X, "X")
        self._check_fit_data(X)
        refuse_identical_rows(X, type(self).__name__)
        U = self._aux_matrix(u, X.shape[0], fitting=True)
        remember_names(self, frame)
        device = self._resolve_device(n_weights=self._weight_count(X.shape[1], U))
        if device.type == "cpu":
            self._check_memory(X.shape, 0 if U is None else U.shape[1])
        with torch_threads(self.threads):
            fit_restarts(self, X, device, U)
            self._remember_row_scales(X)
            self._warn_inactive_dimensions(X, u)

    def _check_memory(self, shape: tuple[int, int], n_aux: int) -> None:
        """Refuse, before the networks are built, a fit on X of ``shape`` that needs more memory than is free."""
        n_train, _ = self._split_sizes(shape[0])
        hidden, enc_hidden = self._network_widths(shape[1])
        rows = min(n_train, resolve_batch_size(self.batch_size, n_train))
        samples = max(1, int(getattr(self, "iw_samples", 1) or 1))
        need = fit_memory_need(shape[1], n_aux, self.latent_dim, hidden, enc_hidden, rows, samples)
        check_fit_memory(type(self).__name__, *need, data_values=shape[0] * (shape[1] + n_aux))

    def _weight_count(self, n_features: int, U: np.ndarray | None) -> int | None:
        """The networks' weight count, which 'auto' places by; None where it would not change the choice."""
        if self.device != "auto" or not torch.cuda.is_available():
            return None
        n_aux = 0 if U is None else U.shape[1]
        module = self._build(n_features, torch.Generator(), self.noise_scale, n_aux)
        return sum(p.numel() for p in module.parameters())

    def _warn_inactive_dimensions(self, X: np.ndarray, u) -> None:
        """Warn when the fit leaves latent dimensions (nearly) unused: their posterior means vary over the
        data less than the encoder's posterior sd (``metrics.activity``), read on up to 2,048 of the rows X
        (n, n_features) it was fitted on."""
        rows = slice(0, ACTIVITY_ROWS)
        # X: the array fit validated, its own training rows (not checked for scale: sorted data may lead with its tail)
        x = self._tensor_of(X[rows], None if u is None else dense_array(u, "u")[rows], check_scale=False)
        means = self._batched(lambda b: self.module_.encoder(b)[0], x).cpu().double().numpy()
        sds = self._batched(lambda b: (0.5 * self.module_.encoder(b)[1]).exp(), x).cpu().double().numpy()
        reach = float(np.abs(means).max(initial=0.0))
        data_reach = float(x.abs().max()) if x.numel() else 0.0  # x as the model sees it (standardised or not)
        if not reach < RUNAWAY_LATENT_SCALE * max(1.0, data_reach):  # finite (no divergence caught), but no fit
            warnings.warn(
                f"{type(self).__name__}'s posterior means reach {reach:.3g}, against data reaching {data_reach:.3g} "
                "as the model sees them: training ran away, though the loss stayed finite. Fit again with a lower "
                f"learning rate (lr={self.lr:g} now).",
                LatentIDWarning,
                stacklevel=caller_stacklevel(),
            )
        snr = latent_signal_to_noise(means, sds)
        inactive = inactive_dimensions(snr)
        if inactive:
            listed = ", ".join(f"{j} ({snr[j]:.2f})" for j in inactive)
            warnings.warn(
                f"{type(self).__name__} left latent dimension(s) {listed} inactive: their posterior means vary over "
                f"the data less than the posterior's own sd (signal-to-noise in brackets), so the fit uses "
                f"{len(snr) - len(inactive)} of its {len(snr)} dimensions. More epochs, a smaller batch size or fewer "
                "latent dimensions may help.",
                LatentIDWarning,
                stacklevel=caller_stacklevel(),
            )

    def fit_transform(self, X, y=None, u=None) -> np.ndarray:
        """Fit, then return ``transform(X)``, the posterior means; shape (n_samples, latent_dim)."""
        return self.fit(X, u=u).transform(X, u=u)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of ``transform``'s columns, '<class><i>' (latent_dim,); what ``set_output(transform="pandas")``
        labels them with."""
        self._check_fitted()
        return names_out(self, input_features)

    @available_if(has_clusters)
    def fit_predict(self, X, y=None, u=None) -> np.ndarray:
        """Fit, then return ``predict(X)``: shape (n_samples,), or (n_samples, J) for MFC-VAE's J facets."""
        return self.fit(X, u=u).predict(X, u=u)

    # ------------------------------------------------------------------ fitted API
    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' (or load a saved model) first."
            )

    def _prepare(self, X, u=None) -> torch.Tensor:
        """Validated, standardised X as a tensor on the model's device; (n, n_features), with the
        model's encoding of u appended, (n, n_features + n_aux), for a model that reads u."""
        self._check_fitted()
        check_names(self, X)
        return self._tensor_of(X, u)

    def _tensor_of(self, X, u=None, check_scale: bool = True) -> torch.Tensor:
        """``_prepare`` without the column-names check: for arrays fit itself passes (n, n_features).
        ``check_scale``: warn when the rows lie far from the training data (``_warn_off_scale``)."""
        # rounding to float32 is judged against the data the model was fitted on, not the rows given: a batch of
        # near-identical rows (finite differences, one row's neighbours) was refused, with advice to centre them.
        # Their spread is known only where they were standardised (x_scale, an sd: about a sixth of a range).
        spread = FITTED_RANGE_PER_SD * float(self.module_.x_scale) if standardizes(self) else None
        X = validate_matrix(X, "X", min_samples=1, fitted_spread=spread)
        if X.shape[1] != self.n_features_in_:
            raise InvalidDataError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features "
                "as input (those it was fitted with). Pass data with the same columns as at fit."
            )
        self._check_range(X)
        module = self.module_
        x = module.standardize(tensor_of(X).to(module.x_shift.device))
        if check_scale:
            self._warn_off_scale(x)
        U = self._aux_matrix(u, X.shape[0], fitting=False)
        return x if U is None else torch.cat([x, tensor_of(U).to(x.device)], dim=1)

    @staticmethod
    def _row_scales(x: torch.Tensor) -> torch.Tensor:
        """The root-mean-square of each of at most OFF_SCALE_ROWS rows spread over x (n, n_features), x as the
        networks see it (standardised where the model standardises), in its own precision: a float64 copy of a
        million MNIST rows took gigabytes."""
        rows = x[:: max(1, x.shape[0] // OFF_SCALE_ROWS)]
        return torch.linalg.vector_norm(rows, dim=1) / rows.shape[1] ** 0.5

    def _remember_row_scales(self, X: np.ndarray) -> None:
        """``row_scale_``: the (0.1%, 50%, 99.9%) quantiles of the training rows' root-mean-square, as the networks
        see them: what ``_warn_off_scale`` compares new rows with."""
        rows = X[:: max(1, X.shape[0] // OFF_SCALE_ROWS)]  # X: the array fit validated, thinned before it is copied
        scales = self._row_scales(self.module_.standardize(tensor_of(rows).to(self.module_.x_shift.device)))
        scales = scales.double().cpu()
        self.row_scale_ = [float(q) for q in torch.quantile(scales, torch.tensor(ROW_SCALE_QUANTILES).double())]

    def _warn_off_scale(self, x: torch.Tensor) -> None:
        """Warn when the rows x (n, n_features), as the networks see them, lie far from the training rows: their
        median root-mean-square beyond the training rows' 0.1% to 99.9% quantiles (``row_scale_``; for a model saved
        before it was kept, at least OFF_SCALE_SDS in standardised units). Data in other units, or not
        preprocessed as at fit: every latent and cluster then comes from far outside what the model saw."""
        if not x.numel():
            return
        typical = float(self._row_scales(x).median())
        known = getattr(self, "row_scale_", None)
        if isinstance(known, list) and len(known) == len(ROW_SCALE_QUANTILES):
            low, middle, high = known
            off = typical > high or typical < low
            training = f"where the training rows' median is {middle:.3g} (99.8% of them within {low:.3g}-{high:.3g})"
        else:
            off = standardizes(self) and typical >= OFF_SCALE_SDS
            training = "where the training rows' is about 1"
        if off:
            warnings.warn(
                f"X lies far from the data {type(self).__name__} was fitted on: its rows' median root-mean-square is "
                f"{typical:.3g} as the model sees them, {training}. Scaled or shifted differently from the training "
                "data (other units, another preprocessing)? The latents and clusters of such rows say little.",
                LatentIDWarning,
                stacklevel=caller_stacklevel(),
            )

    def _generator(self, random_state) -> torch.Generator:
        """A generator on the model's device from ``random_state`` (None: the estimator's own seed)."""
        source = self.random_state if random_state is None else random_state
        seed = int(numpy_rng(source).integers(0, 2**63 - 1))
        gen = torch.Generator(device=self.module_.x_shift.device)
        gen.manual_seed(seed)
        return gen

    @torch.no_grad()
    def _batched(self, fn, x: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
        self.module_.eval()
        return torch.cat([fn(x[i : i + batch]) for i in range(0, x.shape[0], batch)], dim=0)

    def transform(
        self, X, refine: bool | None = None, n_samples: int = REFINE_SAMPLES, random_state=None, u=None
    ) -> np.ndarray:
        """Posterior means of z given X (n_samples, n_features) -> ndarray (n_samples, latent_dim), float32.

        ``refine=False``: the encoder mean E_q[z|x] (never a sample). ``refine=True``: E[z|x] under the fitted
        model: the posterior mode found by damped Gauss-Newton from the encoder mean, then self-normalised
        importance sampling with ``n_samples`` Student-t draws around it (``models.refined``); seeded by
        ``random_state`` (default: the estimator's). ``None`` (default): refine when the model was trained
        with ``inference='refined'`` (its encoder only proposes), else not. ``u``: see ``fit``.
        """
        if refine is not None and not isinstance(refine, (bool, np.bool_)):
            raise InvalidParameterError(f"refine must be True, False or None. Got {refine!r} instead.")
        if refine:
            _check_draws(n_samples)
        x = self._prepare(X, u)
        if refine is None:
            refine = getattr(self, "inference", "amortized") == "refined"
        if not refine:
            out = self._batched(lambda b: self.module_.encoder(b)[0], x)
        else:
            seed = self._generator(random_state).initial_seed()

            def refined(rows: torch.Tensor) -> torch.Tensor:  # every batch the same draws: a row's mean is its own
                gen = torch.Generator(device=self.module_.x_shift.device).manual_seed(seed)
                return laplace_posterior_mean(self.module_, rows, gen, n_samples)

            with own_torch_defaults(gradients=True):  # its Gauss-Newton steps differentiate, in float32
                out = self._batched(refined, x, self._draw_batch(n_samples))
        return out.cpu().numpy().astype(np.float32)

    def _draw_batch(self, n_samples: int) -> int:
        """Rows per batch when each row takes ``n_samples`` draws: about 2**22 draws' worth of memory at once."""
        return max(
            1,
            min(EVAL_BATCH, 2**22 // (int(n_samples) * max(self.n_features_in_, self.module_.decoder[0].in_features))),
        )

    def posterior_sd(self, X, u=None) -> np.ndarray:
        """The encoder's posterior standard deviations sd_q[z|x] of X (n_samples, n_features) -> ndarray
        (n_samples, latent_dim), float32, in the units of ``transform``'s means. ``u``: see ``fit``."""
        x = self._prepare(X, u)
        return self._batched(lambda b: (0.5 * self.module_.encoder(b)[1]).exp(), x).cpu().numpy().astype(np.float32)

    @available_if(has_clusters)
    def predict_proba(self, X, u=None) -> np.ndarray:
        """p(c | z) at the encoder's posterior mean z = E_q[z|x]; ndarray (n_samples, n_components)."""
        x = self._prepare(X, u)
        return probabilities(self._batched(lambda b: q_c_log_probs(self.module_, b), x))

    @available_if(has_clusters)
    def predict(self, X, u=None) -> np.ndarray:
        """The most probable component argmax_c p(c | E_q[z|x]); ndarray (n_samples,) int64."""
        return self.predict_proba(X, u).argmax(axis=1).astype(np.int64)

    def score_samples(self, X, random_state=None, u=None) -> np.ndarray:
        """Per-sample ELBO, a lower bound on log p(x) in the data's units; ndarray (n_samples,).

        Uses the training estimator with SCORE_SAMPLES reparameterised draws, seeded by ``random_state``
        (default: the estimator's), so it is deterministic for an estimator seeded by an int (a RandomState or a
        Generator is drawn from at each call, as in scikit-learn; ``save`` records the int the fit drew from it).
        """
        x = self._prepare(X, u)
        gen = self._generator(random_state)
        batch = max(1, min(EVAL_BATCH, 2**22 // (SCORE_SAMPLES * self.n_features_in_)))  # bounded memory
        out = self._batched(lambda b: elbo(self.module_, b, gen, self.elbo, SCORE_SAMPLES), x, batch)
        log_jacobian = self.n_features_in_ * torch.log(self.module_.x_scale)  # x_model = (x - shift) / scale
        return (out - log_jacobian).cpu().double().numpy()

    def iw_bound_samples(self, X, n_samples: int = REFINE_SAMPLES, random_state=None, u=None) -> np.ndarray:
        """Per-row importance-weighted bound on log p(x) (``n_samples`` draws from the encoder per row), data
        units; shape (n_rows,), one value per row of X.

        Tighter than ``score_samples`` (the ELBO) and non-decreasing in ``n_samples`` in expectation;
        the gap to the true log p(x) is what the encoder's amortisation costs.
        """
        _check_draws(n_samples)
        x = self._prepare(X, u)
        gen = self._generator(random_state)
        out = self._batched(lambda b: iw_bound(self.module_, b, gen, n_samples), x, self._draw_batch(n_samples))
        return (out - self.n_features_in_ * torch.log(self.module_.x_scale)).cpu().double().numpy()

    def score(self, X, y=None, u=None) -> float:
        """Mean ELBO per sample of X (higher is better)."""
        return float(np.mean(self.score_samples(X, u=u)))

    @torch.no_grad()
    def sample(self, n_samples: int = 1, random_state=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw from the fitted generative model: x (n, n_features), z (n, latent_dim), c (n,) int64."""
        self._check_fitted()
        if not P.Interval(int, 1).accepts(n_samples):
            raise InvalidParameterError(f"n_samples must be an int >= 1. Got {n_samples!r} instead.")
        gen = self._generator(random_state)
        module = self.module_
        z, c = module.prior.sample(int(n_samples), gen)
        x = module.unstandardize(module.likelihood.sample(module.decoder(z), gen))
        return x.cpu().numpy().astype(np.float32), z.cpu().numpy().astype(np.float32), c.cpu().numpy().astype(np.int64)

    # ------------------------------------------------------------------ fitted prior, for reporting
    @property
    def weights_(self) -> np.ndarray:
        """Fitted mixture weights, shape (n_components,)."""
        self._check_fitted()
        return self.prior_.weights

    @property
    def means_(self) -> np.ndarray:
        """Fitted component means, shape (n_components, latent_dim)."""
        self._check_fitted()
        return self.prior_.means

    @property
    def covariances_(self) -> np.ndarray:
        """Fitted component covariances, shape (n_components, latent_dim, latent_dim)."""
        self._check_fitted()
        return self.prior_.covariances

    @property
    def noise_scale_(self) -> float | None:
        """The Gaussian noise scale in the data's units (None for a Bernoulli likelihood)."""
        self._check_fitted()
        scale = getattr(self.module_.likelihood, "scale", None)
        return None if scale is None else float(scale().detach() * self.module_.x_scale)

    # ------------------------------------------------------------------ persistence
    _FITTED_SCALARS = (
        "n_iter_",
        "best_epoch_",
        "best_restart_",
        "restart_scores_",
        "elbo_history_",
        "val_elbo_history_",
        "batch_size_",
        "row_scale_",
    )

    def save(self, path: str | os.PathLike) -> Path:
        """Write a folder with ``config.json`` and ``model.pt`` (state dict only); returns the folder."""
        self._check_fitted()
        path = Path(path).expanduser()  # '~/models/x' as a shell reads it, not a folder named '~' here
        params = params_to_save(self)
        if isinstance(self.random_state, (np.random.RandomState, np.random.Generator)):
            # JSON cannot hold the generator (it was saved as null: a loaded model's scores were never the same
            # twice); an int from the fit's root seed makes the loaded model's scores repeat. A refit with it is
            # another fit: the root seed is drawn from the int, not the int itself.
            params["random_state"] = int(getattr(self, "root_seed_", 0)) % 2**32
        for key in PATH_PARAMS:  # absolute, so that the saved config means the same from any folder
            if params.get(key) is not None:
                params[key] = str(Path(params[key]).resolve())
        config = {
            "class": type(self).__name__,
            "params": params,
            "n_features_in": self.n_features_in_,
            "feature_names_in": saved_names(self),
            "n_aux": self.module_.n_aux,
            "latent_dim": params.get("latent_dim", jsonable(self.latent_dim)),  # MFC-VAE: the sum of its facets'
            "fitted": {k: jsonable(getattr(self, k, None)) for k in self._FITTED_SCALARS},
        }
        return ckpt.write_run(path, config, self.module_.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> LatentModel:
        """Rebuild a fitted estimator from a folder written by ``save`` (no pickle).

        ``device``: where to place it ('cpu', 'cuda', 'cuda:1', or 'auto'); None is 'auto', as a fit's default: a
        GPU torch sees for networks of at least 500,000 weights, else the CPU.

        Called on the base class it returns whichever model the folder holds; called on a model class
        it refuses a folder holding another class.
        """
        with own_torch_defaults():  # the networks in float32, as they were fitted, whatever the caller's default
            return cls._load(Path(path).expanduser(), device)

    @classmethod
    def _load(cls, path: Path, device: str | None) -> LatentModel:
        """``load``'s work, under latentid's torch defaults."""
        config = ckpt.read_run_config(path)
        name = config.get("class")
        target = LatentModel._registry.get(name)
        if target is None and name in ("PCA", "FastICA", "GMMBaseline"):  # a linear baseline, not a deep model
            raise InvalidParameterError(
                f"{path} holds a {name} model, not a {cls.__name__}. Load it with {name}.load() or load_model()."
            )
        if target is None:
            raise DataFileError(
                f"{path}: holds an unknown model class {name!r}. Upgrade latentid or re-save the model."
            )
        if cls is not LatentModel and target is not cls:
            raise InvalidParameterError(
                f"{path} holds a {name} model, not a {cls.__name__}. Load it with {name}.load() or load_model()."
            )
        try:
            model = target(**params_to_load(config["params"]))
            model._validate_params()  # a value of the wrong type (a slope as text) loaded, or failed deep inside
            n_features = int(config["n_features_in"])
            n_aux = int(config.get("n_aux", 0))
            if not isinstance(config.get("fitted", {}), dict):
                raise ValueError("'fitted' is not an object")
        except (TypeError, KeyError, ValueError) as exc:
            reason = " ".join(str(exc).split()).rstrip(".")
            raise DataFileError(
                f"{path}: config.json does not describe a {name} ({reason}). Save the model again."
            ) from exc
        check_saved_names(config.get("feature_names_in"), n_features, path)
        for key, value in config.get("fitted", {}).items():
            if key in target._FITTED_SCALARS:
                setattr(model, key, value)
        module = model._build(n_features, torch.Generator().manual_seed(0), model.noise_scale, n_aux)
        n_weights = sum(p.numel() for p in module.parameters())
        dev = model._resolve_device("auto" if device is None else device, n_weights)  # placement only
        try:
            module.load_state_dict(ckpt.read_state(path))
        except RuntimeError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(exc).__name__
            raise DataFileError(f"{path}: model.pt does not match config.json ({detail.rstrip('.')}).") from exc
        model._set_fitted(module.to(dev), n_features)
        remember_fit_params(model, snapshot_params(model))
        restore_names(model, config.get("feature_names_in"))
        return model

    def _set_fitted(self, module: LatentModule, n_features: int) -> None:
        module.eval()
        self.module_ = module
        self.encoder_ = module.encoder
        self.decoder_ = module.decoder
        self.prior_ = module.prior
        self.n_features_in_ = n_features
        self.device_ = str(module.x_shift.device)
