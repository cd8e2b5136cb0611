"""Drawing from a Gaussian mixture: each row through its own component's factor, in memory proportional to z."""

from __future__ import annotations

import tracemalloc

import numpy as np

from latentid.data.mixture import GaussianMixture


def _mixture(m: int, k: int, seed: int = 0) -> GaussianMixture:
    rng = np.random.default_rng(seed)
    factors = np.tril(rng.normal(size=(k, m, m)), -1) / np.sqrt(m) + np.eye(m) * rng.uniform(0.5, 2.0, size=(k, 1, m))
    return GaussianMixture(np.full(k, 1.0 / k), rng.normal(size=(k, m)) * 5, factors @ factors.transpose(0, 2, 1))


def test_samples_follow_each_components_mean_and_covariance():
    mixture = _mixture(m=3, k=4)
    z, c = mixture.sample(200_000, random_state=1)
    for k in range(4):
        rows = z[c == k]
        np.testing.assert_allclose(rows.mean(0), mixture.means[k], atol=0.05 * np.sqrt(mixture.covariances[k].max()))
        np.testing.assert_allclose(np.cov(rows.T), mixture.covariances[k], rtol=0.05, atol=0.05)


def test_memory_is_that_of_z_not_a_factor_per_row():
    """A (n, m, m) copy of the factors: 18.6 GiB for a million rows at m = 50, past a check that said 2.2 GiB."""
    mixture = _mixture(m=100, k=5)
    n = 2_000
    tracemalloc.start()
    try:
        z, _ = mixture.sample(n, random_state=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert z.shape == (n, 100)
    assert peak < 8 * z.nbytes, f"{peak / 1e6:.0f} MB for a z of {z.nbytes / 1e6:.1f} MB"  # per-row copies: 160 MB
