"""Linear baselines, the floor of every identifiability study, in the deep models' estimator API.

Thin wrappers around scikit-learn (nothing is re-implemented):

- ``PCA``: ``sklearn.decomposition.PCA``; transform = the (whitened) principal scores;
  score = the probabilistic-PCA log-likelihood.
- ``FastICA``: ``sklearn.decomposition.FastICA`` with unit-variance sources; no likelihood.
- ``GMMBaseline``: a ``sklearn.mixture.GaussianMixture`` fitted on x itself (predict = its component,
  score = its log-likelihood) and, separately, a whitened PCA giving transform's latent coordinates.

Same contract as ``LatentModel``: ``fit(X, u=None)``, ``transform`` (float32), ``predict`` (int64),
``predict_proba``, ``score``/``score_samples``, ``weights_``/``means_``/``covariances_`` (the latent
distribution the model implies), ``save``/``load``. A saved model is a folder with ``config.json``
(class, params, n_features_in, fitted scalars, versions; ``checkpoint``'s model format) and
``arrays.npz`` (the fitted scikit-learn attributes, read back without pickle).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn import decomposition, mixture
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import TransformerTags
from sklearn.utils.metaestimators import available_if

from latentid import checkpoint as ckpt
from latentid._random import numpy_rng
from latentid._warnings import caller_stacklevel
from latentid.data.io import refuse_identical_rows, validate_matrix
from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError, NotFittedError
from latentid.models import params as P
from latentid.models.base import REFINE_SAMPLES, has_clusters, refuse_aux
from latentid.models.feature_names import (
    check_names,
    check_saved_names,
    names_out,
    remember_names,
    restore_names,
    saved_names,
)
from latentid.models.saved_params import fitted_latent_dim, params_to_save, remember_fit_params, snapshot_params

ARRAYS_NAME = ckpt.ARRAYS_NAME
SEED_CONSTRAINT = [P.SEED, P.NONE]
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
RANK_TOL = 1e-10  # a principal variance below this fraction of the largest is rounding noise (float64 data)
GMM_REG_COVAR = 1e-6  # scikit-learn's default reg_covar, here in units of the data's mean variance


def _scales_note(X: np.ndarray, latent_dim: int) -> str:
    """Where X's (n, n_features) varying columns differ in sd by more than the rounding a rank check allows (the
    small ones' variance is then lost below the large ones'), and standardised they span ``latent_dim``
    dimensions: which columns, and the fix; '' otherwise (then the scales are not what stands in the way)."""
    sds = X.std(axis=0)
    varying = np.flatnonzero(sds > 0)
    if varying.size < 2:
        return ""
    big, small = varying[np.argmax(sds[varying])], varying[np.argmin(sds[varying])]
    if sds[small] ** 2 > RANK_TOL * sds[big] ** 2:
        return ""
    scaled = (X[:, varying] - X[:, varying].mean(axis=0)) / sds[varying]
    singular = np.linalg.svd(scaled, compute_uv=False)
    if int(np.sum(singular**2 > RANK_TOL * singular[0] ** 2)) < latent_dim:
        return ""
    return (
        f"Its columns' scales differ too much: column {big}'s sd is {sds[big]:.3g}, column {small}'s {sds[small]:.3g} "
        "(other units?). Standardise the columns, or rescale the large ones, first."
    )


def _draw_seed(rng: np.random.Generator) -> int:
    """An int seed for a scikit-learn estimator, drawn from ``rng``."""
    return int(rng.integers(0, 2**31 - 1))


def _restore(value: np.ndarray) -> Any:
    """An array read from ``arrays.npz`` as scikit-learn stored it: 0-d arrays become Python scalars."""
    return value.item() if value.ndim == 0 else value


def _has_likelihood(model: LinearModel) -> bool:
    """``score``/``score_samples`` exist only where the model has a likelihood (not FastICA), so that code
    written for scikit-learn, which asks ``hasattr(model, "score")``, does not call one that cannot answer."""
    if model._score_samples is None:
        raise AttributeError(
            f"{type(model).__name__} has no likelihood, so score/score_samples are undefined. "
            "Use PCA or GMMBaseline for a likelihood."
        )
    return True


class LinearModel(TransformerMixin, BaseEstimator):
    """Base of the linear baselines (not used directly).

    A subclass declares ``_parameter_constraints``, ``_parts`` ({attribute: fitted scikit-learn
    attributes to save}) and fills ``_make_parts``, ``_transform`` and, where it has them,
    ``_predict_proba``, ``_score_samples`` and ``_latent_prior``.
    """

    _parameter_constraints: ClassVar[dict[str, list[P.Constraint]]] = {}
    _parts: ClassVar[dict[str, tuple[str, ...]]] = {}
    _HAS_CLUSTERS: ClassVar[bool] = False  # GMMBaseline's mixture has; see models.base.has_clusters

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=["float32"])  # transform returns float32
        return tags

    # ------------------------------------------------------------------ hooks
    def _make_parts(self, rng: np.random.Generator) -> dict[str, BaseEstimator]:
        """Unfitted scikit-learn estimators keyed like ``_parts``, seeded from ``rng``."""
        raise NotImplementedError

    def _new_parts(self, rng: np.random.Generator) -> dict[str, BaseEstimator]:
        """``_make_parts``, each pinned to numpy output: scikit-learn's global ``transform_output="pandas"`` would
        otherwise make them return frames indexed 0..n-1, and ours would lose the index of the X it was given."""
        parts = self._make_parts(rng)
        for est in parts.values():
            if hasattr(est, "set_output"):
                est.set_output(transform="default")
        return parts

    def _min_samples(self) -> int:
        return max(2, self.latent_dim)

    def _fit_to_scale(self, parts: dict[str, BaseEstimator], X: np.ndarray) -> None:
        """Set what in ``parts`` depends on the units of X (n_samples, n_features) before they are fitted."""

    def _transform(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        """One component: every sample belongs to it; shape (n_samples, 1)."""
        return np.ones((X.shape[0], 1))

    _score_samples: Callable[[np.ndarray], np.ndarray] | None = None  # log p(x) (n_samples,); None: no likelihood

    def _latent_prior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights (K,), means (K, m), covariances (K, m, m)); default: one N(0, I) component."""
        m = fitted_latent_dim(self)
        return np.ones(1), np.zeros((1, m)), np.eye(m)[None]

    # ------------------------------------------------------------------ fit
    def _validate_params(self) -> None:
        P.validate_params(type(self).__name__, self.get_params(deep=False), self._parameter_constraints)

    def _check_fit_data(self, X: np.ndarray) -> None:
        name = type(self).__name__
        n, n_features = X.shape
        P.check_latent_dim(name, self.latent_dim, n_features)
        need = self._min_samples()
        if n < need:
            raise InvalidDataError(
                f"{name} needs at least {need} samples (latent_dim={self.latent_dim}, "
                f"n_components={getattr(self, 'n_components', 1)}); X has {n}. "
                "Pass more samples or lower latent_dim / n_components."
            )
        refuse_identical_rows(X, name)

    def fit(self, X, y=None, u=None) -> LinearModel:
        """Fit on X (n_samples, n_features); ``y`` is ignored and ``u`` refused (one signature with scikit-learn and the
        deep models). Returns self. A fit refused part-way (rank, non-finite components, Ctrl-C) leaves the model as
        it was, fitted or not."""
        refuse_aux(self, u)
        self._validate_params()
        before = dict(vars(self))
        try:
            self._fit(X)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
        return self

    def _fit(self, X) -> None:
        params = snapshot_params(self)
        remember_fit_params(self, params)  # first, as in LatentModel: fit() restores the old ones if it stops
        frame = X
        X = validate_matrix(X, "X", dtype=np.float64)
        self._check_fit_data(X)
        remember_names(self, frame)
        parts = self._new_parts(numpy_rng(self.random_state))
        self._fit_to_scale(parts, X)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            for est in parts.values():
                try:
                    # numpy's arithmetic warnings (FastICA whitening a constant column) would be raised inside the
                    # fit under PYTHONWARNINGS=error; the fitted arrays are checked for finiteness after
                    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                        est.fit(X)
                except (ValueError, np.linalg.LinAlgError) as exc:  # scikit-learn's word for degenerate data
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise InvalidDataError(
                        f"{type(self).__name__} could not be fitted on X ({reason.rstrip('.')}): X may have constant "
                        "or duplicate columns or rows. Drop them, or lower latent_dim / n_components."
                    ) from exc
        self._set_fitted(parts, X.shape[1])
        self._check_rank(X)
        self.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        for w in caught:  # anything else is passed on as it came
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if not self.converged_:
            limit = getattr(self, "max_iter", None)
            warnings.warn(
                f"{type(self).__name__} did not converge"
                + (f" within max_iter={limit} iterations" if limit else "")
                + "; its components may be unreliable.",
                ConvergenceWarning,
                stacklevel=caller_stacklevel(),
            )
        bad = [key for key, value in self._arrays().items() if not np.all(np.isfinite(value))]
        if bad:
            raise InvalidDataError(
                f"{type(self).__name__} fit gave non-finite {bad[0]}; X may have constant or duplicate columns. "
                "Drop them or lower latent_dim."
            )

    def _principal_variances(self) -> np.ndarray | None:
        """Variances (up to one common factor) along the fitted principal axes, largest first; None: no axes."""
        pca = getattr(self, "pca_", None)
        return None if pca is None else np.asarray(pca.explained_variance_, dtype=np.float64)

    def _check_rank(self, X: np.ndarray) -> None:
        """Refuse principal axes with (next to) no variance: scores along them are rounding noise divided by a
        near-zero singular value. X (n, n_features) names columns of very different scales as the cause."""
        variances = self._principal_variances()
        if variances is None or variances.size == 0:
            return
        rank = int(np.sum(variances > RANK_TOL * variances.max()))
        if rank < self.latent_dim:
            raise InvalidDataError(
                f"{type(self).__name__}: X (centred) spans only {rank} dimension(s) above rounding, fewer than "
                f"latent_dim={self.latent_dim}. "
                + (
                    _scales_note(X, self.latent_dim)
                    or f"Lower latent_dim to {max(rank, 1)}, or pass more varied samples."
                )
            )

    def fit_transform(self, X, y=None, u=None) -> np.ndarray:
        """Fit, then return ``transform(X)``; shape (n_samples, latent_dim). A ``u`` is refused, as by ``fit``."""
        return self.fit(X, u=u).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of ``transform``'s columns, '<class><i>' (latent_dim,); what ``set_output(transform="pandas")``
        labels them with."""
        self._check_fitted()
        return names_out(self, input_features)

    @available_if(has_clusters)
    def fit_predict(self, X, y=None, u=None) -> np.ndarray:
        """Fit, then return ``predict(X)``; shape (n_samples,). A ``u`` is refused, as by ``fit``."""
        return self.fit(X, u=u).predict(X)

    def _set_fitted(self, parts: dict[str, BaseEstimator], n_features: int) -> None:
        for attr, est in parts.items():
            setattr(self, attr, est)
        self.n_features_in_ = n_features
        self.n_iter_ = int(max(getattr(est, "n_iter_", 0) for est in parts.values()))

    # ------------------------------------------------------------------ fitted API
    def _check_fitted(self) -> None:
        if not all(hasattr(self, attr) for attr in self._parts):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' (or load a saved model) first."
            )

    def _prepare(self, X) -> np.ndarray:
        """Validated float64 X (n_samples, n_features) with the fitted number of columns."""
        self._check_fitted()
        check_names(self, X)
        X = validate_matrix(X, "X", min_samples=1, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise InvalidDataError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features "
                "as input (those it was fitted with). Pass data with the same columns as at fit."
            )
        return X

    def transform(
        self, X, refine: bool | None = None, n_samples: int = REFINE_SAMPLES, random_state=None
    ) -> np.ndarray:
        """Latent coordinates of X (n_samples, n_features) -> ndarray (n_samples, latent_dim), float32.

        Deterministic; ``n_samples`` and ``random_state`` are ignored. ``refine`` may be None or False only.
        """
        if refine not in (None, False):
            raise InvalidParameterError(
                f"refine applies only to deep models; {type(self).__name__} has no posterior to refine. "
                "Pass refine=None or False."
            )
        z = self._transform(self._prepare(X))
        largest = float(np.max(np.abs(z))) if z.size else 0.0
        if not largest <= np.finfo(np.float32).max:  # float32 would hold inf, with only numpy's overflow warning
            raise InvalidDataError(
                f"the latents of X reach |z| = {largest:.3g}, beyond float32's range: X lies far outside the data "
                f"{type(self).__name__} was fitted on (or is in other units). Rescale X as the fitted data was."
            )
        return z.astype(np.float32)

    @available_if(has_clusters)
    def predict_proba(self, X) -> np.ndarray:
        """Component probabilities; ndarray (n_samples, n_components) (GMMBaseline only: PCA and FastICA have no
        clusters, so no ``predict``/``predict_proba``)."""
        return self._predict_proba(self._prepare(X))

    @available_if(has_clusters)
    def predict(self, X) -> np.ndarray:
        """The most probable component; ndarray (n_samples,) int64."""
        return self.predict_proba(X).argmax(axis=1).astype(np.int64)

    @available_if(_has_likelihood)
    def score_samples(self, X, random_state=None) -> np.ndarray:
        """Per-sample log-likelihood log p(x) in the data's units; ndarray (n_samples,). ``random_state`` unused."""
        return self._score_samples(self._prepare(X))

    @available_if(_has_likelihood)
    def score(self, X, y=None) -> float:
        """Mean log-likelihood per sample of X (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    @property
    def weights_(self) -> np.ndarray:
        """Weights of the latent distribution the model implies, shape (n_components,)."""
        self._check_fitted()
        return self._latent_prior()[0]

    @property
    def means_(self) -> np.ndarray:
        """Component means in latent space, shape (n_components, latent_dim)."""
        self._check_fitted()
        return self._latent_prior()[1]

    @property
    def covariances_(self) -> np.ndarray:
        """Component covariances in latent space, shape (n_components, latent_dim, latent_dim)."""
        self._check_fitted()
        return self._latent_prior()[2]

    # ------------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        """The fitted scikit-learn attributes, keyed 'part.attribute' (e.g. 'pca_.components_')."""
        return {
            f"{part}.{attr}": np.asarray(getattr(getattr(self, part), attr))
            for part, attrs in self._parts.items()
            for attr in attrs
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write a folder with ``arrays.npz`` then ``config.json`` (each atomically); returns the folder."""
        self._check_fitted()
        directory = Path(path).expanduser()
        if directory.exists() and not directory.is_dir():
            raise DataFileError(f"{directory}: exists and is not a folder. Choose another path to save the model.")
        params = params_to_save(self)
        directory.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **self._arrays())
        config = {
            "format": ckpt.MODEL_FORMAT,
            "format_version": ckpt.FORMAT_VERSION,
            "class": type(self).__name__,
            "params": params,
            "n_features_in": self.n_features_in_,
            "feature_names_in": saved_names(self),
            "latent_dim": params["latent_dim"],
            "fitted": {"n_iter_": self.n_iter_},
            "arrays": ARRAYS_NAME,
            ckpt.WEIGHTS_DIGEST_KEY: hashlib.sha256(buffer.getvalue()).hexdigest(),
            "versions": ckpt.versions(),
        }
        # Made before anything is written, so that a model saved here before stays whole if this fails.
        text = json.dumps(ckpt.sealed(config), indent=2) + "\n"
        ckpt.commit_weights(directory / ARRAYS_NAME, buffer.getvalue(), directory / ckpt.CONFIG_NAME, text)
        (directory / ckpt.WEIGHTS_NAME).unlink(missing_ok=True)  # a deep model saved here before: no stale weights
        return directory

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> LinearModel:
        """Rebuild a fitted estimator from a folder written by ``save`` (no refit, no pickle).

        On ``LinearModel`` it returns whichever baseline the folder holds; on a subclass it refuses another class.
        ``device`` is accepted, so that code loading any model passes it alike, and ignored: a linear baseline
        runs on the CPU.
        """
        path = Path(path).expanduser()
        config = ckpt.read_run_config(path)
        name = config.get("class")
        target = LINEAR_MODELS.get(name)
        if target is None:
            raise DataFileError(
                f"{path}: holds a {name!r} model, not a linear baseline ({', '.join(LINEAR_MODELS)}). "
                "Load deep models with latentid.models.load_model()."
            )
        if cls is not LinearModel and target is not cls:
            raise InvalidParameterError(
                f"{path} holds a {name} model, not a {cls.__name__}. Load it with {name}.load() or load_linear()."
            )
        try:
            model = target(**config["params"])
            model._validate_params()
            n_features = int(config["n_features_in"])
        except (TypeError, KeyError, ValueError) as exc:
            raise DataFileError(
                f"{path}: config.json does not describe a {name} ({exc}). Save the model again."
            ) from exc
        digest = ckpt.checked_digest(config.get(ckpt.WEIGHTS_DIGEST_KEY), path / ckpt.CONFIG_NAME)
        ckpt.check_digest(path / ARRAYS_NAME, digest)
        arrays = _read_arrays(path / ARRAYS_NAME)
        parts = model._new_parts(numpy_rng(0))  # seeds only matter at fit
        for part, attrs in model._parts.items():
            for attr in attrs:
                key = f"{part}.{attr}"
                if key not in arrays:
                    raise DataFileError(f"{path / ARRAYS_NAME}: has no array {key!r}. Save the model again.")
                setattr(parts[part], attr, _restore(arrays[key]))
        model._set_fitted(parts, n_features)
        remember_fit_params(model, snapshot_params(model))
        fitted = config.get("fitted")
        if isinstance(fitted, dict) and isinstance(fitted.get("n_iter_"), int):
            model.n_iter_ = fitted["n_iter_"]
        model._check_loaded(path, n_features)
        check_saved_names(config.get("feature_names_in"), n_features, path)
        restore_names(model, config.get("feature_names_in"))
        return model

    def _check_loaded(self, path: Path, n_features: int) -> None:
        """One trial row through transform and predict_proba: arrays of the wrong shape fail here, in one line."""
        try:
            row = np.zeros((1, n_features))
            z, proba = self.transform(row), self._predict_proba(self._prepare(row))
        except Exception as exc:  # whatever numpy/scikit-learn raise on mismatched arrays
            raise DataFileError(
                f"{path / ARRAYS_NAME}: does not match config.json ({type(exc).__name__}). Save the model again."
            ) from exc
        if z.shape != (1, self.latent_dim) or not (np.isfinite(z).all() and np.isfinite(proba).all()):
            raise DataFileError(
                f"{path / ARRAYS_NAME}: gives latents of shape {z.shape} (expected (1, {self.latent_dim})) "
                "or non-finite values. Save the model again."
            )


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file, read without pickle; one-line DataFileError if missing or unreadable."""
    if not path.is_file():
        raise DataFileError(f"{path}: no such file. Pass the folder given to save().")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(f"{path}: unreadable ({type(exc).__name__}). Save the model again.") from exc


def _ppca_score_samples(pca: decomposition.PCA, X: np.ndarray) -> np.ndarray:
    """Probabilistic-PCA log p(x) of X (n, d) -> (n,).

    scikit-learn's ``PCA.score_samples`` mis-scales the covariance when ``whiten=True``
    (scikit-learn issue #13898); whitening only rescales the latent, so score an unwhitened copy.
    """
    plain = copy.copy(pca)
    plain.whiten = False
    return plain.score_samples(X)


def _whitened_projection(pca: decomposition.PCA) -> np.ndarray:
    """The linear map A (m, d) of ``pca.transform``: z = A (x - mean_)."""
    if pca.whiten:
        return pca.components_ / np.sqrt(pca.explained_variance_)[:, None]
    return pca.components_


def _full_covariances(gmm: mixture.GaussianMixture) -> np.ndarray:
    """A fitted GaussianMixture's covariances as (K, d, d) whatever its covariance_type."""
    k, d = gmm.means_.shape
    cov = np.asarray(gmm.covariances_)
    if gmm.covariance_type == "full":
        return cov
    if gmm.covariance_type == "tied":
        return np.broadcast_to(cov, (k, d, d)).copy()
    if gmm.covariance_type == "diag":
        return np.einsum("kd,de->kde", cov, np.eye(d))
    return cov[:, None, None] * np.eye(d)  # spherical


class PCA(LinearModel):
    """Principal component analysis (``sklearn.decomposition.PCA``).

    transform: the first ``latent_dim`` principal scores, divided by their standard deviations when
    ``whiten`` (then unit variance). score: probabilistic-PCA log-likelihood (Tipping & Bishop).
    No ``predict``: nothing to cluster. Latent distribution: one component N(0, I) (whiten) or
    N(0, diag(explained_variance_)).

    Fitted: ``pca_`` (the scikit-learn estimator), ``n_features_in_``, ``n_iter_`` (0).
    """

    _parameter_constraints = {
        "latent_dim": [P.Interval(int, 1)],
        "whiten": [P.BOOL],
        "random_state": SEED_CONSTRAINT,
    }
    _parts = {
        "pca_": (
            "components_",
            "explained_variance_",
            "explained_variance_ratio_",
            "singular_values_",
            "mean_",
            "noise_variance_",
            "n_components_",
            "n_samples_",
            "n_features_in_",
        )
    }

    def __init__(self, latent_dim: int = 2, *, whiten: bool = True, random_state=None) -> None:
        self.latent_dim = latent_dim
        self.whiten = whiten
        self.random_state = random_state

    def _make_parts(self, rng: np.random.Generator) -> dict[str, BaseEstimator]:
        pca = decomposition.PCA(n_components=self.latent_dim, whiten=bool(self.whiten), random_state=_draw_seed(rng))
        return {"pca_": pca}

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.transform(X)

    def _score_samples(self, X: np.ndarray) -> np.ndarray:
        return _ppca_score_samples(self.pca_, X)

    def _latent_prior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = fitted_latent_dim(self)
        cov = np.eye(m) if self.pca_.whiten else np.diag(self.pca_.explained_variance_)
        return np.ones(1), np.zeros((1, m)), cov[None]


class FastICA(LinearModel):
    """Independent component analysis (``sklearn.decomposition.FastICA``, whiten='unit-variance').

    transform: the estimated sources (zero mean, unit variance on the training data), up to
    permutation and sign. No likelihood, so no score/score_samples, and nothing to cluster, so no predict
    (``hasattr`` is False for each). Latent distribution: one component N(0, I) (the sources' first two moments).

    Fitted: ``ica_`` (the scikit-learn estimator), ``n_features_in_``, ``n_iter_``.
    """

    _parameter_constraints = {
        "latent_dim": [P.Interval(int, 1)],
        "max_iter": [P.Interval(int, 1)],
        "tol": [P.Interval(float, 0.0, None, "neither")],
        "random_state": SEED_CONSTRAINT,
    }
    _parts = {"ica_": ("components_", "mixing_", "mean_", "whitening_", "n_iter_", "n_features_in_")}

    def __init__(self, latent_dim: int = 2, *, max_iter: int = 1000, tol: float = 1e-4, random_state=None) -> None:
        self.latent_dim = latent_dim
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _make_parts(self, rng: np.random.Generator) -> dict[str, BaseEstimator]:
        ica = decomposition.FastICA(
            n_components=self.latent_dim,
            whiten="unit-variance",
            max_iter=self.max_iter,
            tol=float(self.tol),
            random_state=_draw_seed(rng),
        )
        return {"ica_": ica}

    def _principal_variances(self) -> np.ndarray:
        # whitening_ (latent_dim, n_features) holds each principal axis divided by its singular value
        return 1.0 / np.maximum(np.sum(np.square(self.ica_.whitening_), axis=1), np.finfo(np.float64).tiny)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return self.ica_.transform(X)


class GMMBaseline(LinearModel):
    """A Gaussian mixture on x for clustering, and a whitened PCA for the latent coordinates.

    predict / predict_proba / score: ``sklearn.mixture.GaussianMixture`` (``n_components``,
    ``covariance``, ``n_init``) fitted on x itself, in the data's units. transform: a separate
    whitened ``sklearn.decomposition.PCA`` to ``latent_dim`` (the same as ``PCA(latent_dim)``).
    Latent distribution: the GMM carried through that projection z = A (x - mean), i.e. weights
    pi_k, means A (mu_k - mean), covariances A Sigma_k A^T, shapes (K,), (K, m), (K, m, m).

    Fitted: ``gmm_``, ``pca_`` (the scikit-learn estimators), ``n_features_in_``, ``n_iter_`` (the GMM's).
    """

    _HAS_CLUSTERS = True

    _parameter_constraints = {
        "latent_dim": [P.Interval(int, 1)],
        "n_components": [P.Interval(int, 1)],
        "covariance": [P.Options(COVARIANCE_TYPES)],
        "n_init": [P.Interval(int, 1)],
        "random_state": SEED_CONSTRAINT,
    }
    _parts = {
        "pca_": PCA._parts["pca_"],
        "gmm_": (
            "weights_",
            "means_",
            "covariances_",
            "precisions_",
            "precisions_cholesky_",
            "converged_",
            "n_iter_",
            "lower_bound_",
            "n_features_in_",
        ),
    }

    def __init__(
        self,
        latent_dim: int = 2,
        n_components: int = 4,
        *,
        covariance: str = "full",
        n_init: int = 5,
        random_state=None,
    ) -> None:
        self.latent_dim = latent_dim
        self.n_components = n_components
        self.covariance = covariance
        self.n_init = n_init
        self.random_state = random_state

    def _min_samples(self) -> int:
        return max(2, self.latent_dim, self.n_components)

    def _make_parts(self, rng: np.random.Generator) -> dict[str, BaseEstimator]:
        pca = decomposition.PCA(n_components=self.latent_dim, whiten=True, random_state=_draw_seed(rng))
        gmm = mixture.GaussianMixture(
            n_components=self.n_components,
            covariance_type=self.covariance,
            n_init=self.n_init,
            random_state=_draw_seed(rng),
        )
        return {"pca_": pca, "gmm_": gmm}

    def _fit_to_scale(self, parts: dict[str, BaseEstimator], X: np.ndarray) -> None:
        # scikit-learn adds reg_covar to every variance in the data's units: 1e-6 swamps data of scale 1e-4
        # (one cluster) and is nothing to data of scale 1e8 (a singular covariance). Relative to the data's
        # mean variance, the fit is the same in any units.
        scale = float(np.mean(np.var(X, axis=0)))
        parts["gmm_"].reg_covar = GMM_REG_COVAR * scale if scale > 0 else GMM_REG_COVAR

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.transform(X)

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.gmm_.predict_proba(X)

    def _score_samples(self, X: np.ndarray) -> np.ndarray:
        return self.gmm_.score_samples(X)

    def _latent_prior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = _whitened_projection(self.pca_)  # (m, d)
        means = (self.gmm_.means_ - self.pca_.mean_) @ a.T  # (K, m)
        covs = np.einsum("md,kde,ne->kmn", a, _full_covariances(self.gmm_), a)  # (K, m, m)
        return np.asarray(self.gmm_.weights_, dtype=np.float64), means, covs


LINEAR_MODELS: dict[str, type[LinearModel]] = {"PCA": PCA, "FastICA": FastICA, "GMMBaseline": GMMBaseline}


def load_linear(path: str | os.PathLike) -> LinearModel:
    """Load any saved linear baseline from its folder (dispatches on config.json's "class")."""
    return LinearModel.load(path)
