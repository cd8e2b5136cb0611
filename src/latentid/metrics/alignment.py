"""One alignment per level of the identifiability hierarchy, fitted on one split and scored on another.

Each level's equivalence class becomes a map from learned to true latents, z_true ~ z_hat @ coef_.T + intercept_:

- :class:`AffineAlignment` -- any affine map (levels 1 and 2; MFC-VAE),
- :class:`PermutationScalingAlignment` -- a permutation, a scale per coordinate and a translation (level 3),
- :class:`OrthogonalAlignment` -- an orthogonal map, one global scale and a translation (vanilla VAE),

and :class:`CCAAlignment` maps both sides to ``k`` canonical variates (a symmetric "weak" alignment).
Every class takes ``(z_true, z_hat)`` in that order, like the rest of :mod:`latentid.metrics`:
``fit(z_true, z_hat)`` returns self, ``transform(z_hat)`` gives the aligned latents of shape (n, m)
and ``score(z_true, z_hat)`` the coefficient of determination R^2 averaged uniformly over the true
coordinates (scikit-learn's ``r2_score`` definition). Fit on one split, score on another: an
alignment scored on the samples it was fitted on rewards over-fitting.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.metrics import r2_score

from latentid.errors import InvalidDataError, InvalidParameterError, NotFittedError
from latentid.metrics._validation import check_latents, check_same_rows
from latentid.metrics.correlation import cross_correlation, match_correlations

__all__ = ["AffineAlignment", "CCAAlignment", "OrthogonalAlignment", "PermutationScalingAlignment"]


def _column_peaks(x: np.ndarray) -> np.ndarray:
    """Largest magnitude of each column of x (n, d), 1 where a column is all zero; shape (d,).

    Dividing by it first makes the scale-free alignments (affine, permutation and scaling, CCA) indifferent to
    how differently the columns are scaled: a column 1e-7 of the others was taken for none (CCA's eigenvalue
    cut-off), and one 1e-150 of them underflowed to a zero slope.
    """
    peaks = np.abs(x).max(axis=0)
    return np.where(peaks > 0, peaks, 1.0)


class _LinearAlignment:
    """Shared plumbing: validation, ``transform`` through ``coef_``/``intercept_``, and R^2 scoring.

    Fitted attributes: ``coef_`` ndarray of shape (m, m_hat), ``intercept_`` ndarray of shape (m,),
    ``latent_dim_true_`` (m) and ``latent_dim_learned_`` (m_hat).
    """

    def fit(self, z_true, z_hat):
        """Fit the map on z_true : (n_samples, m) and z_hat : (n_samples, m_hat); return self."""
        z_true = check_latents(z_true, "z_true")
        z_hat = check_latents(z_hat, "z_hat")
        check_same_rows(z_true, z_hat, "z_true", "z_hat")
        mu_true, mu_hat = z_true.mean(axis=0), z_hat.mean(axis=0)
        coef = self._fit_centered(z_true - mu_true, z_hat - mu_hat)
        self.coef_ = coef
        self.intercept_ = mu_true - coef @ mu_hat
        self.latent_dim_true_, self.latent_dim_learned_ = coef.shape
        return self

    def _fit_centered(self, t: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Return coef of shape (m, m_hat) from column-centred t (n, m) and h (n, m_hat)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        """'AffineAlignment()' before fit, 'AffineAlignment(fitted: m_hat=3 -> m=2)' after."""
        if not hasattr(self, "coef_"):
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(fitted: m_hat={self.latent_dim_learned_} -> m={self.latent_dim_true_})"

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(z_true, z_hat) first.")

    def transform(self, z_hat) -> np.ndarray:
        """Map z_hat : (n_samples, m_hat) to the true latent space; returns ndarray of shape (n_samples, m)."""
        self._check_fitted()
        z_hat = check_latents(z_hat, "z_hat", min_samples=1, allow_constant=True)
        if z_hat.shape[1] != self.latent_dim_learned_:
            raise InvalidDataError(
                f"z_hat has {z_hat.shape[1]} columns but this {type(self).__name__} was fitted on "
                f"{self.latent_dim_learned_}; pass latents of the same model."
            )
        return z_hat @ self.coef_.T + self.intercept_

    def score(self, z_true, z_hat) -> float:
        """R^2 of ``transform(z_hat)`` against z_true : (n_samples, m), averaged uniformly over the m coordinates."""
        self._check_fitted()
        z_true = check_latents(z_true, "z_true")
        if z_true.shape[1] != self.latent_dim_true_:
            raise InvalidDataError(
                f"z_true has {z_true.shape[1]} columns but this {type(self).__name__} was fitted on "
                f"{self.latent_dim_true_}; pass the same ground truth."
            )
        pred = self.transform(z_hat)
        check_same_rows(z_true, pred, "z_true", "z_hat")
        return float(r2_score(z_true, pred, multioutput="uniform_average"))


class AffineAlignment(_LinearAlignment):
    """Least squares z_true ~ A z_hat + b: the equivalence class of levels 1 and 2.

    ``coef_`` (A) has shape (m, m_hat) and ``intercept_`` (b) shape (m,). m_hat may differ from m;
    a rank-deficient z_hat gets the minimum-norm solution.
    """

    def _fit_centered(self, t, h):
        peaks = _column_peaks(h)
        coef, *_ = linalg.lstsq(h / peaks, t, lapack_driver="gelsy")  # (m_hat, m)
        return coef.T / peaks


class PermutationScalingAlignment(_LinearAlignment):
    """Permutation, per-coordinate scale (sign included) and translation: level 3's equivalence class.

    Coordinates are matched 1:1 by the Hungarian algorithm on the absolute Pearson correlation
    (fit split), then each matched pair gets a 1-D least-squares slope and intercept. When m > m_hat
    the unmatched true coordinates are predicted by their fit-split mean (R^2 about 0 there); unmatched
    learned coordinates are ignored. Fitted: ``pairs_`` ndarray of shape (k, 2) of (true, learned)
    indices, ``scale_`` of shape (k,), plus the ``coef_`` (one non-zero per matched row) and ``intercept_``.
    """

    def _fit_centered(self, t, h):
        rows, cols = match_correlations(np.abs(cross_correlation(t, h)))
        peaks = _column_peaks(h[:, cols])
        h_matched = h[:, cols] / peaks
        scale = np.einsum("ij,ij->j", t[:, rows], h_matched) / np.einsum("ij,ij->j", h_matched, h_matched) / peaks
        coef = np.zeros((t.shape[1], h.shape[1]))
        coef[rows, cols] = scale
        self.pairs_ = np.column_stack([rows, cols])
        self.scale_ = scale
        return coef


class OrthogonalAlignment(_LinearAlignment):
    """Orthogonal map, one global scale and a translation (Procrustes): the vanilla-VAE equivalence class.

    Solves min ||s * (z_hat - mean) W - (z_true - mean)||_F over W with orthonormal columns or rows
    and a scalar s, through the SVD of the cross-product. When m_hat != m, W of shape (m_hat, m) is
    semi-orthogonal: an isometric embedding (m_hat < m) or an orthogonal projection (m_hat > m).
    Fitted: ``orthogonal_`` (W, shape (m_hat, m)) and ``scale_`` (s), plus ``coef_`` = s W^T and ``intercept_``.
    """

    def _fit_centered(self, t, h):
        u, sv, vt = linalg.svd(h.T @ t, full_matrices=False)
        w = u @ vt  # (m_hat, m)
        self.orthogonal_ = w
        self.scale_ = float(sv.sum() / np.einsum("ij,ij->", h, h))
        return self.scale_ * w.T


def _inverse_sqrt(cov: np.ndarray) -> tuple[np.ndarray, int]:
    """Symmetric (pseudo-)inverse square root of a covariance matrix of shape (d, d), and its rank."""
    evals, evecs = linalg.eigh(cov)
    keep = evals > evals.max() * 1e-12
    return (evecs[:, keep] / np.sqrt(evals[keep])) @ evecs[:, keep].T, int(keep.sum())


class CCAAlignment:
    """Canonical correlation analysis with ``n_components`` (k) canonical pairs, in closed form.

    Symmetric in its two arguments up to swapping the weights. ``fit(z_true, z_hat)`` finds weights
    ``true_weights_`` (m, k) and ``learned_weights_`` (m_hat, k) whose projections are maximally
    correlated on the fit split (``correlations_``, shape (k,), descending). ``score`` returns the
    mean *signed* correlation of the k canonical pairs on the data it is given, so a pair that does
    not generalise out of sample lowers the score. k defaults to min(m, m_hat) and is reported as
    ``n_components_``; it is capped at the smaller rank of the two sides, as collinear columns (three learned
    columns that are one direction) span fewer directions and the pairs beyond them correlate by chance.
    """

    def __init__(self, n_components: int | None = None):
        self.n_components = n_components

    def __repr__(self) -> str:
        """'CCAAlignment(n_components=None)', plus the pairs fitted and their correlations after fit."""
        text = f"CCAAlignment(n_components={self.n_components!r}"
        if hasattr(self, "correlations_"):
            text += f"; fitted: {self.n_components_} pairs, correlations {np.round(self.correlations_, 3).tolist()}"
        return text + ")"

    def fit(self, z_true, z_hat):
        """Fit on z_true : (n_samples, m) and z_hat : (n_samples, m_hat); return self."""
        z_true = check_latents(z_true, "z_true")
        z_hat = check_latents(z_hat, "z_hat")
        check_same_rows(z_true, z_hat, "z_true", "z_hat")
        k_max = min(z_true.shape[1], z_hat.shape[1])
        k = k_max if self.n_components is None else self.n_components
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= k_max:
            raise InvalidParameterError(
                f"n_components of CCAAlignment must be an int in [1, {k_max}] (the smaller latent dimension); "
                f"got {self.n_components!r}."
            )
        self.mean_true_, self.mean_learned_ = z_true.mean(axis=0), z_hat.mean(axis=0)
        t, h = z_true - self.mean_true_, z_hat - self.mean_learned_
        peaks_t, peaks_h = _column_peaks(t), _column_peaks(h)
        t, h = t / peaks_t, h / peaks_h
        (wt, rank_t), (wh, rank_h) = _inverse_sqrt(t.T @ t), _inverse_sqrt(h.T @ h)
        k = min(k, rank_t, rank_h)
        u, sv, vt = linalg.svd(wt @ (t.T @ h) @ wh, full_matrices=False)
        self.true_weights_ = wt @ u[:, :k] / peaks_t[:, None]
        self.learned_weights_ = wh @ vt[:k].T / peaks_h[:, None]
        self.correlations_ = sv[:k]
        self.n_components_ = int(k)
        return self

    def transform(self, z_true, z_hat) -> tuple[np.ndarray, np.ndarray]:
        """Canonical variates of z_true : (n, m) and z_hat : (n, m_hat); each of shape (n, k)."""
        if not hasattr(self, "true_weights_"):
            raise NotFittedError("This CCAAlignment is not fitted yet; call fit(z_true, z_hat) first.")
        z_true = check_latents(z_true, "z_true", min_samples=1, allow_constant=True)
        z_hat = check_latents(z_hat, "z_hat", min_samples=1, allow_constant=True)
        check_same_rows(z_true, z_hat, "z_true", "z_hat")
        for arr, weights, name in ((z_true, self.true_weights_, "z_true"), (z_hat, self.learned_weights_, "z_hat")):
            if arr.shape[1] != weights.shape[0]:
                raise InvalidDataError(
                    f"{name} has {arr.shape[1]} columns but this CCAAlignment was fitted on {weights.shape[0]}."
                )
        return (z_true - self.mean_true_) @ self.true_weights_, (z_hat - self.mean_learned_) @ self.learned_weights_

    def score(self, z_true, z_hat) -> float:
        """Mean signed correlation of the k canonical pairs of z_true : (n, m) and z_hat : (n, m_hat)."""
        return float(self.pair_correlations(z_true, z_hat).mean())

    def pair_correlations(self, z_true, z_hat) -> np.ndarray:
        """Signed correlation of each canonical pair on the given data; ndarray of shape (k,)."""
        u, v = self.transform(z_true, z_hat)
        u, v = u - u.mean(axis=0), v - v.mean(axis=0)
        denom = np.sqrt(np.einsum("ij,ij->j", u, u) * np.einsum("ij,ij->j", v, v))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.einsum("ij,ij->j", u, v) / denom
        return np.where(denom > 0, corr, 0.0)
