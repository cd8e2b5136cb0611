"""Prior recovery: does the learned Gaussian mixture equal the true one up to the fitted affine map?

Level 1 of the hierarchy says mu_k = A mu'_k + b and Sigma_k = A Sigma'_k A^T with weights permuted,
where z_true ~ A z_hat + b. We carry the learned mixture through the fitted (A, b), match components
by the Hungarian algorithm on the distances between means, and report how far apart the matched
components are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from latentid.errors import InvalidDataError, InvalidParameterError


@dataclass(frozen=True)
class _Mixture:
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d)
    covariances: np.ndarray  # (K, d, d)


def _get(prior, key: str, name: str):
    if isinstance(prior, dict):
        if key not in prior:
            raise InvalidDataError(f"{name} has no '{key}' key; it needs 'weights', 'means' and 'covariances'.")
        return prior[key]
    if not hasattr(prior, key) and hasattr(prior, f"{key}_"):  # a fitted estimator: VaDE, GMMBaseline, ...
        return getattr(prior, f"{key}_")
    if not hasattr(prior, key):
        raise InvalidDataError(
            f"{name} ({type(prior).__name__}) has no '{key}' attribute; pass a fitted mixture model, or an object "
            "or dict with 'weights' (K,), 'means' (K, m) and 'covariances' (K, m, m)."
        )
    return getattr(prior, key)


def _as_mixture(prior, name: str) -> _Mixture:
    """Validate a prior and return it as float64 arrays; diagonal covariances (K, m) are expanded."""
    raw = {key: _get(prior, key, name) for key in ("weights", "means", "covariances")}
    try:
        weights, means, covs = (np.asarray(raw[key], dtype=np.float64) for key in ("weights", "means", "covariances"))
    except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: e.g. a torch tensor that requires grad
        raise InvalidDataError(f"{name} must hold numeric arrays (numpy, or detached CPU tensors); {exc}") from exc
    if means.ndim != 2:
        raise InvalidDataError(f"{name}.means must have shape (K, m); got {means.shape}.")
    k, d = means.shape
    if weights.shape != (k,):
        raise InvalidDataError(
            f"{name}.weights must have shape ({k},) to match means {means.shape}; got {weights.shape}."
        )
    if covs.shape == (k, d):
        covs = np.einsum("kd,de->kde", covs, np.eye(d))
    if covs.shape != (k, d, d):
        raise InvalidDataError(
            f"{name}.covariances must have shape ({k}, {d}, {d}) (or ({k}, {d}) for diagonal); got {covs.shape}."
        )
    for arr, part in ((weights, "weights"), (means, "means"), (covs, "covariances")):
        if not np.all(np.isfinite(arr)):
            raise InvalidDataError(f"{name}.{part} contains NaN or infinite values.")
    if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-4:
        raise InvalidDataError(
            f"{name}.weights must be non-negative and sum to 1; got sum {weights.sum():.6g}. Normalise them."
        )
    return _Mixture(weights / weights.sum(), means, covs)


def _as_affine(alignment) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) from a fitted alignment (``coef_``, ``intercept_``) or a pair; A (m, m_hat), b (m,)."""
    if hasattr(alignment, "coef_") and hasattr(alignment, "intercept_"):
        a, b = alignment.coef_, alignment.intercept_
    elif isinstance(alignment, (tuple, list)) and len(alignment) == 2:
        a, b = alignment
    else:
        raise InvalidParameterError(
            "alignment must be a fitted AffineAlignment (coef_, intercept_) or a pair (A, b) with "
            f"z_true ~ A z_hat + b; got {type(alignment).__name__}. Fit one with AffineAlignment().fit(z_true, z_hat)."
        )
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.shape != (a.shape[0],):
        raise InvalidParameterError(f"alignment A must be (m, m_hat) and b (m,); got A {a.shape} and b {b.shape}.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InvalidParameterError(
            "alignment A and b must be finite; got NaN or inf. Fit the alignment again on finite latents."
        )
    return a, b


def prior_recovery(true_prior, learned_prior, alignment) -> dict:
    """Compare a learned Gaussian-mixture prior with the true one through a fitted affine alignment.

    Parameters
    ----------
    true_prior, learned_prior : objects or dicts with ``weights`` ndarray of shape (K,), ``means`` of
        shape (K, m) and ``covariances`` of shape (K, m, m) (or (K, m) for diagonal ones), or fitted
        estimators with ``weights_``, ``means_`` and ``covariances_`` (a VaDE, a GMM baseline). The learned
        prior lives in the learned latent space (dimension m_hat) and may have a different K.
    alignment : a fitted :class:`~latentid.metrics.alignment.AffineAlignment` (any alignment with
        ``coef_`` (m, m_hat) and ``intercept_`` (m,)), or a pair (A, b), with z_true ~ A z_hat + b.

    Returns
    -------
    dict with
      ``mean_error`` -- mean Euclidean distance between matched true means and carried learned means A mu + b;
      ``mean_error_relative`` -- mean_error over the spread of the true means (root-mean-square distance of the
        true means to their centroid; NaN when that spread is 0, e.g. a single component);
      ``covariance_error`` -- mean over matched pairs of ||A S A^T - Sigma||_F / ||Sigma||_F;
      ``weight_tv`` -- total variation between the weight vectors on matched components, unmatched
        components' weights counted in full (0 = same weights, 1 = disjoint);
      ``matching`` -- list of [true_component, learned_component]; ``per_component_mean_error`` and
        ``per_component_covariance_error`` in that order; ``n_components_true``, ``n_components_learned``.
    Components are matched 1:1 by the Hungarian algorithm on mean distances; min(K_true, K_learned) pairs.
    """
    true = _as_mixture(true_prior, "true_prior")
    learned = _as_mixture(learned_prior, "learned_prior")
    a, b = _as_affine(alignment)
    if a.shape != (true.means.shape[1], learned.means.shape[1]):
        raise InvalidParameterError(
            f"alignment A has shape {a.shape} but the priors need ({true.means.shape[1]}, {learned.means.shape[1]}) "
            "(true latent dim, learned latent dim); fit the alignment on the same latents."
        )
    carried_means = learned.means @ a.T + b  # (K_l, m)
    carried_covs = np.einsum("ij,kjl,ml->kim", a, learned.covariances, a)  # A S A^T, (K_l, m, m)
    distances = cdist(true.means, carried_means)  # (K_t, K_l)
    rows, cols = linear_sum_assignment(distances)
    mean_err = distances[rows, cols]
    diff = np.linalg.norm(carried_covs[cols] - true.covariances[rows], axis=(1, 2))
    cov_err = diff / np.linalg.norm(true.covariances[rows], axis=(1, 2))
    spread = float(np.sqrt(np.mean(np.sum((true.means - true.means.mean(axis=0)) ** 2, axis=1))))
    matched_tv = np.abs(true.weights[rows] - learned.weights[cols]).sum()
    unmatched = np.delete(true.weights, rows).sum() + np.delete(learned.weights, cols).sum()
    return {
        "mean_error": float(mean_err.mean()),
        "mean_error_relative": float(mean_err.mean() / spread) if spread > 0 else float("nan"),
        "covariance_error": float(cov_err.mean()),
        "weight_tv": float(0.5 * (matched_tv + unmatched)),
        "matching": [[int(r), int(c)] for r, c in zip(rows, cols, strict=True)],
        "per_component_mean_error": mean_err.tolist(),
        "per_component_covariance_error": cov_err.tolist(),
        "n_components_true": int(true.means.shape[0]),
        "n_components_learned": int(learned.means.shape[0]),
    }
