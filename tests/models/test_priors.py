"""Priors against scipy, their closed forms against Monte Carlo, and their numerics far away."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from latentid.models.priors import MixturePrior, StandardNormalPrior


def _mixture(covariance: str, seed: int = 0) -> MixturePrior:
    rng = np.random.default_rng(seed)
    k, m = 3, 2
    prior = MixturePrior(m, k, covariance)
    weights = rng.dirichlet(np.ones(k))
    means = rng.normal(0.0, 2.0, (k, m))
    if covariance == "diag":
        covs = rng.uniform(0.3, 2.0, (k, m))
    else:
        a = rng.normal(size=(k, m, m))
        covs = a @ a.transpose(0, 2, 1) + 0.3 * np.eye(m)
    prior.set_parameters(weights, means, covs)
    return prior.double()


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_log_prob_matches_scipy(covariance):
    prior = _mixture(covariance)
    z = np.random.default_rng(1).normal(0.0, 3.0, (50, 2))
    covs = prior.covariances
    parts = zip(prior.weights, prior.means, covs, strict=True)
    ref = logsumexp([np.log(w) + multivariate_normal(mu, cov).logpdf(z) for w, mu, cov in parts], axis=0)
    got = prior.log_prob(torch.from_numpy(z)).detach().numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_set_parameters_round_trip(covariance):
    prior = MixturePrior(2, 2, covariance).double()
    covs = np.array([[1.5, 0.4], [0.2, 3.0]]) if covariance == "diag" else np.array([[[1.0, 0.3], [0.3, 2.0]]] * 2)
    prior.set_parameters(np.array([0.3, 0.7]), np.array([[1.0, 2.0], [-1.0, 0.5]]), covs)
    np.testing.assert_allclose(prior.weights, [0.3, 0.7], rtol=1e-6)
    np.testing.assert_allclose(prior.means, [[1.0, 2.0], [-1.0, 0.5]], rtol=1e-6)
    expected = np.stack([np.diag(c) for c in covs]) if covariance == "diag" else covs
    np.testing.assert_allclose(prior.covariances, expected, rtol=1e-5)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_expected_log_joint_matches_monte_carlo(covariance):
    prior = _mixture(covariance)
    gen = torch.Generator().manual_seed(0)
    mean = torch.tensor([[0.5, -1.0], [2.0, 1.0]], dtype=torch.float64)
    var = torch.tensor([[0.3, 0.8], [1.5, 0.1]], dtype=torch.float64)
    exact = prior.expected_log_joint(mean, var)  # (2, K)
    s = 200_000
    z = mean + var.sqrt() * torch.randn((s, 2, 2), generator=gen, dtype=torch.float64)
    mc = prior.log_joint(z.reshape(-1, 2)).reshape(s, 2, -1)
    se = mc.std(0) / np.sqrt(s)
    assert torch.all((mc.mean(0) - exact).abs() < 5 * se + 1e-9)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_responsibilities_normalised_and_finite_far_away(covariance):
    prior = _mixture(covariance).float()
    z = torch.tensor([[1e4, 1e4], [-1e4, 3.0], [0.0, 0.0], [1e4, -1e4]])
    log_r = prior.log_responsibilities(z)
    assert torch.isfinite(log_r).all()
    torch.testing.assert_close(log_r.exp().sum(-1), torch.ones(4))
    assert torch.isfinite(prior.log_prob(z)).all()


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_sample_matches_parameters(covariance):
    prior = _mixture(covariance)
    z, c = prior.sample(40_000, torch.Generator().manual_seed(3))
    z, c = z.numpy(), c.numpy()
    np.testing.assert_allclose(np.bincount(c, minlength=3) / len(c), prior.weights, atol=0.01)
    for k in range(3):
        np.testing.assert_allclose(z[c == k].mean(0), prior.means[k], atol=0.1)
        np.testing.assert_allclose(np.cov(z[c == k].T), prior.covariances[k], atol=0.15)


def test_standard_normal_prior_is_n01():
    prior = StandardNormalPrior(3)
    z = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    ref = multivariate_normal(np.zeros(3), np.eye(3)).logpdf(z.numpy())
    np.testing.assert_allclose(prior.log_prob(z).numpy(), ref, rtol=1e-5)
    np.testing.assert_array_equal(prior.weights, [1.0])
    np.testing.assert_array_equal(prior.means, np.zeros((1, 3)))
    np.testing.assert_array_equal(prior.covariances, np.eye(3)[None])
    assert list(prior.parameters()) == []
