"""iVAE (Khemakhem et al. 2020): the prior is conditioned on an *observed* auxiliary variable u.

p(z | u) = N(mu(u), diag lambda(u)) (``ConditionalGaussianPrior``), q(z | x, u) a Gaussian encoder of
[x, u], the same leaky-ReLU decoder, likelihoods, ELBO and loop as VaDE. The upper-bound baseline of
the paper: identifiable up to permutation and coordinate-wise maps given enough variation of u, which
VaDE is meant to match without u.

u is either labels (n_samples,) of integers, one-hot encoded over the categories seen at fit (the
prior is then a table of one mean and variance vector per category), or a continuous matrix
(n_samples, aux_dim) (the prior is then an MLP of u).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch

from latentid._memory import check_memory
from latentid._warnings import caller_stacklevel
from latentid.data.io import dense_array, validate_matrix
from latentid.errors import InvalidDataError, InvalidParameterError, LatentIDWarning
from latentid.models import params as P
from latentid.models.base import COMMON_CONSTRAINTS, REFINE_SAMPLES, LatentModel
from latentid.models.conditional_prior import ConditionalGaussianPrior
from latentid.models.priors import Prior

MANY_LABELS = 50  # above this many labels, and over half the rows, u looks continuous: a warning says so
RARE_LABEL_ROWS = 5  # a label with fewer rows gives its prior row almost nothing to learn from: a warning says so
RARE_LABEL_WARNING = f"u has labels with fewer than {RARE_LABEL_ROWS} rows:"
NO_MIXTURE = (
    "an iVAE has no {}: its prior p(z | u) is a Gaussian per u, not a mixture. Read its means and variances for "
    "given u with prior_parameters(u)."
)
CONTINUOUS_PRIOR_DEPTH = 2  # hidden layers of the prior network of a continuous u (default prior_dims)


def _check_label_count(name: str, labels: np.ndarray) -> None:
    """Refuse labels (n,) whose one-hot codes would not fit in memory; warn when nearly every row has its own
    label (a time index or an id given as labels), where each label's prior row rests on one or two rows, and
    when a few labels have under ``RARE_LABEL_ROWS`` rows."""
    values, counts = np.unique(labels, return_counts=True)
    n_rows, n_labels = len(labels), len(values)
    check_memory(
        4.0 * n_rows * n_labels,
        f"{name}'s one-hot u ({n_rows:,} rows x {n_labels:,} distinct labels)",
        "Pass a continuous u as a 2-D array (n_samples, 1), or group the labels.",
    )
    if n_labels == 1:
        warnings.warn(
            "u takes one value on every row: the prior is then one Gaussian, the same for all rows, and iVAE is a "
            "VAE with a learned Gaussian prior (identified up to rotation at best). Pass a u that varies.",
            LatentIDWarning,
            stacklevel=caller_stacklevel(),
        )
    elif n_labels > max(MANY_LABELS, n_rows // 2):
        warnings.warn(
            f"u gives {n_labels:,} distinct labels to {n_rows:,} rows, so most labels' prior means and variances "
            "rest on one or two rows. If u is continuous (a time or an id), pass it as a 2-D array (n_samples, 1).",
            LatentIDWarning,
            stacklevel=caller_stacklevel(),
        )
    elif (counts < RARE_LABEL_ROWS).any():
        few = counts < RARE_LABEL_ROWS
        rare = [f"{v} ({n} row{'s' if n > 1 else ''})" for v, n in zip(values[few], counts[few], strict=True)]
        shown = ", ".join(rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
        warnings.warn(
            f"{RARE_LABEL_WARNING} {shown}: each one's prior mean and variance rest on those rows alone, and a "
            "label whose rows all fall among the validation rows is never trained (its prior row stays as it "
            "started), while 'explain' counts it among the components. Group rare labels, or leave out their rows.",
            LatentIDWarning,
            stacklevel=caller_stacklevel(),
        )


def _one_hot(categories: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels (n,) -> one-hot codes (n, K) over the sorted categories (K,) seen at fit; an unseen label refused."""
    index = np.searchsorted(categories, labels).clip(0, len(categories) - 1)
    unknown = categories[index] != labels
    if unknown.any():
        shown = lambda v: repr(str(v)) if isinstance(v, str) else str(int(v))  # noqa: E731
        raise InvalidDataError(
            f"u holds label {shown(labels[unknown][0])}, not seen at fit "
            f"(the labels were {', '.join(shown(v) for v in categories.tolist())})."
        )
    onehot = np.zeros((len(labels), len(categories)), dtype=np.float32)  # not eye(K)[index]: K^2 for many labels
    onehot[np.arange(len(labels)), index] = 1.0
    return onehot


def _numbers_as_objects(arr: np.ndarray) -> bool:
    """An object array that holds only numbers (None and NaN count as missing numbers), not class names."""
    return arr.dtype.kind == "O" and all(v is None or isinstance(v, numbers.Number) for v in arr.tolist())


class IVAE(LatentModel):
    """Identifiable VAE: prior N(mu(u), diag lambda(u)) given an observed u, encoder q(z | x, u).

    Parameters
    ----------
    latent_dim : int, dimension m of z.
    prior_dims : list of int or None, hidden widths of the network u -> (mu, log lambda). None: linear
        for labels (a lookup table), two layers of width max(16, 2 m) for a continuous u.
    pretrain_epochs : int, epochs of a warm start; 0 (default): a random start.
    pretrain_objective : the warm start's objective when pretrain_epochs > 0. 'pca' (default) regresses the
        encoder onto the whitened PCA latents of x and x onto them by the decoder, then sets the prior table of
        labels to each label's mean and variance of those latents: training starts from an affine map of x on
        PCA's axes. 'autoencoder' pretrains by reconstruction. A warm start is off by default: the PCA start
        lifted strong MCC where PCA's axes lie near the true ones and lowered it where they do not (README,
        the iVAE comparison).
    n_restarts : int, whole fits from different seeds, the best held-out ELBO kept; default 1 (VaDE's is 3).
    Every other parameter is VaDE's (see ``VaDE``); inference is 'amortized' only.

    Fitted attributes: as VaDE's but for the mixture's ``weights_``, ``means_`` and ``covariances_`` (p(z | u)
    is no mixture: ``prior_parameters(u)`` gives its means and variances), plus ``aux_categories_`` (the labels
    seen at fit, None for a continuous u) and ``aux_dim_`` (columns of u as the model reads it). ``fit``,
    ``transform``, ``score`` ... take u.
    """

    _HAS_CLUSTERS = False  # no mixture: no predict / predict_proba

    _parameter_constraints = {
        **COMMON_CONSTRAINTS,
        "inference": [P.Options(("amortized",))],
        "prior_dims": [P.IntSequence(1, P.MAX_LAYERS), P.NONE],
        "pretrain_objective": [P.Options(("pca", "autoencoder"))],
    }
    _FITTED_SCALARS = (*LatentModel._FITTED_SCALARS, "aux_categories_", "aux_dim_")

    def __init__(
        self,
        latent_dim: int = 2,
        *,
        prior_dims=None,
        hidden_dims=None,
        encoder_dims=None,
        activation: str = "leaky_relu",
        slope: float = 0.2,
        likelihood: str = "gaussian",
        noise_scale: float | None = None,
        elbo: str = "mean_field",
        inference: str = "amortized",
        refine_steps: int = 3,
        iw_samples: int = 1,
        epochs: int = 200,
        batch_size: int | str = "auto",
        lr: float = 1e-3,
        lr_schedule: str = "cosine",
        pretrain_epochs: int = 0,
        pretrain_objective: str = "pca",
        n_restarts: int = 1,
        patience: int | None = 30,
        tol: float = 0.0,
        validation_fraction: float = 0.1,
        standardize: bool = True,
        device: str = "auto",
        threads: int | None = None,
        checkpoint_dir=None,
        resume: bool = False,
        pretrained=None,
        callback=None,
        random_state=None,
    ) -> None:
        self.latent_dim = latent_dim
        self.prior_dims = prior_dims
        self.hidden_dims = hidden_dims
        self.encoder_dims = encoder_dims
        self.activation = activation
        self.slope = slope
        self.likelihood = likelihood
        self.noise_scale = noise_scale
        self.elbo = elbo
        self.inference = inference
        self.refine_steps = refine_steps
        self.iw_samples = iw_samples
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_objective = pretrain_objective
        self.n_restarts = n_restarts
        self.patience = patience
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.device = device
        self.threads = threads
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.pretrained = pretrained
        self.callback = callback
        self.random_state = random_state

    def fit(self, X, y=None, u=None) -> IVAE:
        """Fit to X (n_samples, n_features) given u by name (``fit(X, u=labels)``); ``y`` is ignored. Returns self."""
        if u is None and y is not None:
            raise InvalidDataError(
                f"{type(self).__name__}.fit got a second positional argument, which is scikit-learn's y (ignored), "
                "and no u. Pass the auxiliary variable by name: fit(X, u=labels)."
            )
        return super().fit(X, u=u)

    def _aux_matrix(self, u, n_rows: int, fitting: bool) -> np.ndarray:
        """Labels (n,) -> one-hot (n, n_categories); a matrix (n, d) -> itself, float32. Checked against X."""
        name = type(self).__name__
        if u is None:
            raise InvalidDataError(
                f"{name} needs the auxiliary variable u beside X: pass u= (labels (n_samples,) or a matrix "
                "(n_samples, aux_dim)); at the command line, --aux c uses the data set's labels."
            )
        arr = dense_array(u, "u")
        if arr.dtype == bool:  # two labels, as the metrics read them
            arr = arr.astype(np.int64)
        if arr.ndim not in (1, 2) or arr.shape[0] != n_rows:
            raise InvalidDataError(f"u must have {n_rows} rows, one per row of X; got shape {arr.shape}.")
        if arr.ndim == 1 and arr.dtype.kind in "USO" and not _numbers_as_objects(arr):
            return self._text_label_codes(arr, n_rows, fitting)
        if arr.ndim == 1:
            if arr.dtype.kind == "O":
                arr = arr.astype(np.float64)  # numbers held as objects (a pandas column of ints and NaN)
            if not np.issubdtype(arr.dtype, np.integer):
                numeric = np.issubdtype(arr.dtype, np.number) and np.all(np.isfinite(arr))
                if not numeric or np.any(arr != np.round(arr)):
                    raise InvalidDataError(
                        f"u given as one column must hold integer labels (whole numbers, no NaN); got {arr.dtype} "
                        "values that are not. "
                        "Pass a continuous u as a 2-D array (n_samples, aux_dim)."
                    )
            beyond = arr.dtype.kind == "u" and arr.max(initial=0) > np.iinfo(np.int64).max
            beyond |= arr.dtype.kind == "f" and arr.size > 0 and np.abs(arr).max() >= 2.0**63
            if beyond:  # astype(int64) would wrap them, into one value or another's
                raise InvalidDataError(
                    "u holds labels beyond the int64 range (up to ±9.2e18); renumber them, e.g. "
                    "numpy.unique(u, return_inverse=True)[1]."
                )
            labels = arr.astype(np.int64)
            if fitting:
                self.aux_categories_ = [int(v) for v in np.unique(labels)]
                self.aux_dim_ = len(self.aux_categories_)
                _check_label_count(name, labels)
            fitted = getattr(self, "aux_categories_", None) or []
            if any(isinstance(v, str) for v in fitted):
                raise InvalidDataError(
                    f"this {name} was fitted with text labels as u ({fitted[0]!r}, ...); pass those."
                )
            categories = np.asarray(fitted, dtype=np.int64)
            if len(categories) == 0:
                raise InvalidDataError(f"this {name} was fitted with a continuous u (a matrix); pass one again.")
            return _one_hot(categories, labels)
        matrix = validate_matrix(arr, "u", min_samples=1)
        if fitting:
            self.aux_categories_ = None
            self.aux_dim_ = matrix.shape[1]
            note = labels_as_continuous_u(matrix)
            if note:
                warnings.warn(note, LatentIDWarning, stacklevel=caller_stacklevel())
        elif getattr(self, "aux_categories_", None) is not None:
            raise InvalidDataError(f"this {name} was fitted with labels as u; pass labels (n_samples,) again.")
        elif matrix.shape[1] != self.aux_dim_:
            raise InvalidDataError(f"u has {matrix.shape[1]} column(s), but {name} was fitted with {self.aux_dim_}.")
        return matrix

    def _text_label_codes(self, arr: np.ndarray, n_rows: int, fitting: bool) -> np.ndarray:
        """Class names as u (n,) -> one-hot (n, n_categories) over the names seen at fit, in sorted order."""
        name = type(self).__name__
        missing = [i for i, v in enumerate(arr.tolist()) if v is None or (isinstance(v, float) and v != v)]
        if missing:
            raise InvalidDataError(f"u has no label at row {missing[0]} (counted from 0); give every row one.")
        labels = arr.astype(str)
        if fitting:
            self.aux_categories_ = [str(v) for v in np.unique(labels)]
            self.aux_dim_ = len(self.aux_categories_)
            _check_label_count(name, labels)
        fitted = getattr(self, "aux_categories_", None)
        if fitted is None:
            raise InvalidDataError(f"this {name} was fitted with a continuous u (a matrix); pass one again.")
        if not all(isinstance(v, str) for v in fitted):
            raise InvalidDataError(f"this {name} was fitted with integer labels as u; pass those, not text.")
        return _one_hot(np.asarray(fitted, dtype=str), labels)

    def sample(self, n_samples: int = 1, random_state=None):
        """Refused: iVAE models p(x | u), with no distribution of u to draw u, and so (x, z) from."""
        raise InvalidParameterError(
            f"{type(self).__name__}.sample is not available: the model is p(x | u) with u observed, and it has no "
            "distribution of u to draw from."
        )

    def transform(
        self, X, refine: bool | None = None, n_samples: int = REFINE_SAMPLES, random_state=None, u=None
    ) -> np.ndarray:
        """The encoder's posterior means E_q[z | x, u] (n_samples, latent_dim). ``refine=True`` is refused:
        the refined posterior of ``models.refined`` needs an unconditional mixture prior."""
        if refine:
            raise InvalidParameterError(
                "refining the posterior (refine=True, --refine) is not available for iVAE: its prior p(z|u) "
                "depends on u. Drop it to use the encoder's posterior means."
            )
        return super().transform(X, refine=False, n_samples=n_samples, random_state=random_state, u=u)

    def _make_prior(self, n_aux: int, generator: torch.Generator) -> Prior:
        if self.prior_dims is not None:
            hidden = tuple(self.prior_dims)
        elif getattr(self, "aux_categories_", None) is not None:
            hidden = ()
        else:
            hidden = (max(16, 2 * self.latent_dim),) * CONTINUOUS_PRIOR_DEPTH
        return ConditionalGaussianPrior(n_aux, self.latent_dim, hidden, self.activation, float(self.slope), generator)

    @torch.no_grad()
    def _init_prior(self, module, z: np.ndarray, seed: int, aux: np.ndarray | None = None) -> None:
        """After a warm start, with labels as u and a lookup-table prior: each label's row of the table becomes
        the mean and log variance of the encoder means z (n, latent_dim) of its training rows (aux
        (n, n_labels), one-hot); a label with fewer than two rows keeps its drawn row. Otherwise (a random
        start, a continuous u, a prior network) the prior stays as built: set from a random encoder's means,
        the table lowered strong MCC on the comparison's data (0.662 against 0.753 over 5 seeds)."""
        warmed = self.pretrain_epochs > 0 or self.pretrained is not None
        table = module.prior.net[0]
        if not warmed or aux is None or getattr(self, "aux_categories_", None) is None or len(module.prior.net) != 1:
            return
        labels = aux.argmax(axis=1)
        weight = table.weight.detach().cpu().double().numpy().copy()  # (2 m, n_labels): [mean; log variance]
        m = self.latent_dim
        for k in range(aux.shape[1]):
            rows = z[labels == k]
            if len(rows) >= 2:
                weight[:m, k] = rows.mean(axis=0)
                weight[m:, k] = np.log(np.maximum(rows.var(axis=0), 1e-6))
        table.weight.copy_(torch.as_tensor(weight, dtype=table.weight.dtype))
        table.bias.zero_()

    # p(z | u) is no mixture: the mixture attributes are absent (AttributeError), so hasattr and dir() work
    @property
    def weights_(self):
        raise AttributeError(NO_MIXTURE.format("weights_"))

    @property
    def means_(self):
        raise AttributeError(NO_MIXTURE.format("means_"))

    @property
    def covariances_(self):
        raise AttributeError(NO_MIXTURE.format("covariances_"))

    @torch.no_grad()
    def prior_parameters(self, u) -> tuple[np.ndarray, np.ndarray]:
        """The fitted p(z | u): means (n, latent_dim) and variances (n, latent_dim) for u (n,) or (n, aux_dim)."""
        self._check_fitted()
        n_rows = len(np.asarray(u))
        U = torch.from_numpy(self._aux_matrix(u, n_rows, fitting=False)).to(self.module_.x_shift.device)
        prior = self.module_.prior.given(U)
        return prior.loc.cpu().double().numpy(), prior.var.cpu().double().numpy()


def labels_as_continuous_u(u: np.ndarray) -> str | None:
    """A warning when u (n, d) looks like labels: one column of few whole numbers. It is fitted as a continuous u
    (an MLP prior of u), where labels given as one label per row (n,), or ``--aux c`` at the command line, are
    one-hot encoded (a table of one mean and variance per label): the fits differ."""
    if u.shape[1] != 1 or not np.all(u == np.round(u)):
        return None
    distinct = np.unique(u).size
    if distinct > min(CONTINUOUS_U_LABELS, len(u) // 2):
        return None
    return (
        f"u has one column of {distinct} whole-number values, fitted as a continuous u (the prior an MLP of u). If "
        "they are labels, pass them as one label per row (u=labels, shape (n_samples,)); at the command line, store "
        "them as 'c' and use --aux c: one mean and variance per label."
    )


CONTINUOUS_U_LABELS = 1000  # more distinct whole numbers than this in one column read as a measurement
