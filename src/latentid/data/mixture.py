"""A Gaussian-mixture distribution in numpy: the *true* prior of simulated data.

(The learnable priors that models train live in ``latentid.models.priors``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from latentid._random import SeedLike, numpy_rng
from latentid.errors import InvalidDataError, InvalidParameterError


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """p(z) = sum_k weights[k] N(z; means[k], covariances[k]).

    weights : ndarray of shape (K,), positive, summing to 1
    means : ndarray of shape (K, m)
    covariances : ndarray of shape (K, m, m), symmetric positive definite
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def __post_init__(self):
        w = np.asarray(self.weights, dtype=np.float64)
        mu = np.asarray(self.means, dtype=np.float64)
        cov = np.asarray(self.covariances, dtype=np.float64)
        if w.ndim != 1 or mu.ndim != 2 or cov.ndim != 3 or not (len(w) == len(mu) == len(cov)):
            raise InvalidParameterError(
                f"A Gaussian mixture needs weights (K,), means (K, m) and covariances (K, m, m); "
                f"got shapes {w.shape}, {mu.shape}, {cov.shape}."
            )
        if cov.shape[1:] != (mu.shape[1], mu.shape[1]):
            raise InvalidParameterError(
                f"covariances must have shape (K, {mu.shape[1]}, {mu.shape[1]}); got {cov.shape}."
            )
        if np.any(w <= 0) or not np.isclose(w.sum(), 1.0):
            raise InvalidParameterError(f"mixture weights must be positive and sum to 1; got {w}.")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "means", mu)
        object.__setattr__(self, "covariances", cov)
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError as exc:
            raise InvalidParameterError("every mixture covariance must be positive definite.") from exc
        object.__setattr__(self, "_chol", chol)

    @property
    def n_components(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def cholesky(self) -> np.ndarray:
        """Lower Cholesky factors, shape (K, m, m)."""
        return self._chol  # type: ignore[attr-defined]

    def sample(self, n: int, random_state: SeedLike = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` samples. Returns z of shape (n, m) float64 and c of shape (n,) int64."""
        rng = numpy_rng(random_state)
        c = rng.choice(self.n_components, size=n, p=self.weights).astype(np.int64)
        eps = rng.standard_normal((n, self.dim))
        z = self.means[c]
        # the rows of each component through its own factor: a factor copied per row took n * m^2 floats
        order = np.argsort(c, kind="stable")
        bounds = np.searchsorted(c[order], np.arange(self.n_components + 1))
        for k in np.flatnonzero(np.diff(bounds)):
            rows = order[bounds[k] : bounds[k + 1]]
            z[rows] += np.einsum("ij,nj->ni", self.cholesky[k], eps[rows])
        return z, c

    def component_log_prob(self, z: np.ndarray) -> np.ndarray:
        """log(weights[k]) + log N(z; means[k], covariances[k]), shape (n, K) for z of shape (n, m)."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise InvalidDataError(
                f"z must have shape (n, {self.dim}); got {z.shape}. Pass one point as z[None] (shape (1, {self.dim}))."
            )
        diff = z[:, None, :] - self.means[None, :, :]  # (n, K, m)
        # Solve L y = diff per component: y has shape (n, K, m).
        sol = np.stack([np.linalg.solve(self.cholesky[k], diff[:, k, :].T).T for k in range(self.n_components)], axis=1)
        maha = np.sum(sol**2, axis=-1)
        log_det = 2.0 * np.log(np.diagonal(self.cholesky, axis1=1, axis2=2)).sum(-1)  # (K,)
        return np.log(self.weights) - 0.5 * (maha + log_det + self.dim * np.log(2 * np.pi))

    def log_prob(self, z: np.ndarray) -> np.ndarray:
        """log p(z), shape (n,) for z of shape (n, m)."""
        return logsumexp(self.component_log_prob(z), axis=1)

    def responsibilities(self, z: np.ndarray) -> np.ndarray:
        """p(c = k | z), shape (n, K); each row sums to 1."""
        log_joint = self.component_log_prob(z)
        return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

    def mean(self) -> np.ndarray:
        """E[z], shape (m,)."""
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """Cov[z], shape (m, m): within-component plus between-component covariance."""
        centred = self.means - self.mean()
        return np.einsum("k,kij->ij", self.weights, self.covariances) + np.einsum(
            "k,ki,kj->ij", self.weights, centred, centred
        )

    @property
    def is_diagonal(self) -> bool:
        off = self.covariances - np.einsum("kii->ki", self.covariances)[:, :, None] * np.eye(self.dim)
        return bool(np.allclose(off, 0.0))
