"""The true log-likelihood against exact references: a closed form (linear f) and grid quadrature (m = 1)."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

from latentid.data.synthetic import SyntheticSpec
from latentid.errors import InvalidParameterError


def _linear_gmm_log_density(gen, x):
    """Depth 1: x = W z + b + noise is exactly a Gaussian mixture N(W mu_k + b, W S_k W^T + s^2 I)."""
    w, b = gen.mixing.weights[0], gen.mixing.biases[0]
    prior, n = gen.prior, w.shape[0]
    comps = [
        np.log(prior.weights[k])
        + multivariate_normal(w @ prior.means[k] + b, w @ prior.covariances[k] @ w.T + gen.noise**2 * np.eye(n)).logpdf(
            x
        )
        for k in range(prior.n_components)
    ]
    return logsumexp(np.stack(comps), axis=0)


@pytest.mark.parametrize("noise", [0.01, 0.2])
def test_true_log_likelihood_matches_the_closed_form_of_a_linear_mixing(noise):
    gen = SyntheticSpec.create(depth=1, obs_dim=5, noise=noise, seed=3).build()
    data = gen.sample(200, random_state=1)
    exact = _linear_gmm_log_density(gen, data.x)
    result = gen.log_likelihood(data.x, n_samples=512)
    # Per row within 5 standard errors, and the mean within 5 standard errors of the mean.
    assert np.all(np.abs(result.per_sample - exact) < 5 * result.per_sample_se + 1e-6)
    assert abs(result.mean - exact.mean()) < 5 * result.se
    assert result.se < 0.01


def _grid_log_density(gen, x, lo=-12.0, hi=12.0, n_grid=400_001):
    """m = 1: log p(x) = log int p(x|z) p(z) dz by the trapezoid rule on a fine grid; x (n, n_obs) -> (n,)."""
    z = np.linspace(lo, hi, n_grid)[:, None]
    fz = gen.mixing(z)  # (G, n_obs)
    log_prior = gen.prior.log_prob(z)  # (G,)
    dz = z[1, 0] - z[0, 0]
    out = []
    for row in x:
        log_lik = norm.logpdf(row[None, :], loc=fz, scale=gen.noise).sum(1)
        out.append(logsumexp(log_lik + log_prior) + np.log(dz))
    return np.array(out)


def test_true_log_likelihood_matches_grid_quadrature_for_a_deep_mixing_in_one_dimension():
    gen = SyntheticSpec.create(latent_dim=1, obs_dim=3, components=3, depth=4, noise=0.05, seed=1).build()
    data = gen.sample(25, random_state=2)
    exact = _grid_log_density(gen, data.x)
    result = gen.log_likelihood(data.x, n_samples=2048)
    np.testing.assert_allclose(result.per_sample, exact, atol=0.02)
    assert abs(result.mean - exact.mean()) < 0.01


def test_true_log_likelihood_shifts_with_the_noise_density_normalisation():
    # Same z and f, noise doubled: a normalised density must drop by about n log 2 for tight posteriors.
    spec = dict(depth=3, obs_dim=8, seed=4)
    small = SyntheticSpec.create(noise=0.001, **spec).build()
    large = SyntheticSpec.create(noise=0.002, **spec).build()
    z, _ = small.prior.sample(100, np.random.default_rng(0))
    x = small.mixing(z)  # noiseless points: log p(x) is dominated by the noise normalisation
    drop = small.log_likelihood(x, n_samples=256).mean - large.log_likelihood(x, n_samples=256).mean
    assert drop == pytest.approx((8 - 2) * np.log(2.0), abs=0.1)  # n - m directions carry the noise


def test_true_log_likelihood_refuses_zero_noise():
    gen = SyntheticSpec.create(noise=0.0, depth=2).build()
    with pytest.raises(InvalidParameterError, match="noise > 0"):
        gen.log_likelihood(gen.sample(10).x)
