"""The ELBO's closed-form terms against brute-force Monte Carlo of the same bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentid.models import VAE, VaDE
from latentid.models.elbo import PRIOR_TERMS, elbo, gaussian_entropy

S = 200_000


def _module(covariance: str):
    """A small double-precision VaDE module with a hand-set, non-trivial mixture prior."""
    model = VaDE(latent_dim=2, n_components=3, covariance=covariance, hidden_dims=[6])
    module = model._build(4, torch.Generator().manual_seed(0), noise_scale=0.7).double()
    rng = np.random.default_rng(0)
    covs = rng.uniform(0.3, 2.0, (3, 2)) if covariance == "diag" else np.array([[[1.0, 0.4], [0.4, 0.5]]] * 3)
    module.prior.set_parameters(np.array([0.2, 0.5, 0.3]), rng.normal(0.0, 1.0, (3, 2)), covs)
    x = torch.from_numpy(rng.normal(size=(3, 4)))
    return module, x


def _gaussian_log_pdf(z, mean, var):
    return (-0.5 * (z - mean).pow(2) / var - 0.5 * var.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_mean_field_elbo_matches_monte_carlo(covariance):
    module, x = _module(covariance)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        mean, logvar = module.encoder(x)
        var = logvar.exp()
        exact_prior_part = PRIOR_TERMS["mean_field"](module.prior, mean, var, None) + gaussian_entropy(logvar)
        log_qc = torch.log_softmax(module.prior.expected_log_joint(mean, var), -1)  # the optimal q(c|x)
        z = mean + var.sqrt() * torch.randn((S, *mean.shape), generator=gen, dtype=mean.dtype)
        c = torch.multinomial(log_qc.exp(), S, replacement=True, generator=gen).T  # (S, n)
        log_joint = module.prior.log_joint(z.reshape(-1, 2)).reshape(S, 3, -1)
        log_pzc = log_joint.gather(-1, c.unsqueeze(-1)).squeeze(-1)
        integrand = log_pzc - _gaussian_log_pdf(z, mean, var) - log_qc.gather(-1, c.T).T
        recon = module.likelihood.log_prob(x, module.decoder(z.reshape(-1, 2)).reshape(S, 3, -1))
        se = integrand.std(0) / math.sqrt(S)
        assert torch.all((integrand.mean(0) - exact_prior_part).abs() < 5 * se)
        full_mc = (integrand + recon).mean(0)
        full = elbo(module, x, gen, "mean_field", n_samples=S)
        assert torch.all((full - full_mc).abs() < 5 * (integrand + recon).std(0) / math.sqrt(S))


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_vade_prior_term_is_exact_given_gamma(covariance):
    module, x = _module(covariance)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        mean, logvar = module.encoder(x)
        var = logvar.exp()
        z1 = (mean + var.sqrt() * torch.randn(mean.shape, generator=gen, dtype=mean.dtype)).unsqueeze(0)
        closed = PRIOR_TERMS["vade"](module.prior, mean, var, z1)
        log_gamma = module.prior.log_responsibilities(z1[0])  # gamma = p(c | z_sample), held fixed
        z = mean + var.sqrt() * torch.randn((S, *mean.shape), generator=gen, dtype=mean.dtype)
        log_joint = module.prior.log_joint(z.reshape(-1, 2)).reshape(S, 3, -1)
        integrand = (log_gamma.exp() * (log_joint - log_gamma)).sum(-1)
        se = integrand.std(0) / math.sqrt(S)
        assert torch.all((integrand.mean(0) - closed).abs() < 5 * se)


def test_estimators_are_ordered():
    """vade <= mean_field exactly; mean_field <= marginal in expectation (Jensen)."""
    module, x = _module("full")
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        mean, logvar = module.encoder(x)
        var = logvar.exp()
        z = mean + var.sqrt() * torch.randn((50_000, *mean.shape), generator=gen, dtype=mean.dtype)
        mean_field = PRIOR_TERMS["mean_field"](module.prior, mean, var, z)
        for i in range(20):
            assert torch.all(PRIOR_TERMS["vade"](module.prior, mean, var, z[i : i + 1]) <= mean_field + 1e-9)
        assert torch.all(PRIOR_TERMS["marginal"](module.prior, mean, var, z) >= mean_field - 1e-3)


def test_vae_prior_term_is_the_analytic_kl():
    module = VAE(latent_dim=3, hidden_dims=[5])._build(5, torch.Generator().manual_seed(0)).double()
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    neg_kl = PRIOR_TERMS["mean_field"](module.prior, mean, logvar.exp(), None) + gaussian_entropy(logvar)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
    torch.testing.assert_close(neg_kl, -kl)
    torch.testing.assert_close(
        PRIOR_TERMS["vade"](module.prior, mean, logvar.exp(), mean.unsqueeze(0)), neg_kl - gaussian_entropy(logvar)
    )


@pytest.fixture(scope="module")
def linear_vae():
    """A VAE with a linear decoder fitted to linear-Gaussian data, in double precision, with 7 rows in model
    space: log p(x) = log N(x; b, A A^T + sigma^2 I) exactly."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal((400, 2)) @ rng.normal(size=(2, 4)) + 0.5 * rng.standard_normal((400, 4))
    model = VAE(hidden_dims=[], encoder_dims=[16], epochs=30, lr=1e-2, batch_size=64, random_state=0)
    module = model.fit(data.astype(np.float32)).module_.double()
    x = module.standardize(torch.from_numpy(data[:7]))
    layer = module.decoder[0]
    a, b = layer.weight.detach(), layer.bias.detach()
    cov = a @ a.T + module.likelihood.scale().detach() ** 2 * torch.eye(4, dtype=torch.float64)
    return module, x, torch.distributions.MultivariateNormal(b, cov).log_prob(x)


def test_iw_bound_is_a_tight_lower_bound_in_any_chunking(linear_vae):
    from latentid.models.elbo import iw_bound

    module, x, exact = linear_vae
    with torch.no_grad():
        whole = iw_bound(module, x, torch.Generator().manual_seed(2), n_samples=4000)
        one_row_chunks = iw_bound(module, x, torch.Generator().manual_seed(3), n_samples=4000, max_elements=4000 * 4)
        single = torch.stack([iw_bound(module, x, torch.Generator().manual_seed(s), n_samples=1) for s in range(400)])
    assert whole.shape == one_row_chunks.shape == (7,)
    for estimate in (whole, one_row_chunks):
        assert torch.all(estimate < exact + 0.03) and torch.all(estimate > exact - 0.05)
    # S = 1 is the ELBO with the mixture marginalised: in expectation below the S = 4000 bound
    assert torch.all(single.mean(0) < whole - 0.05)


def test_elbo_averages_its_draws_and_keeps_the_rows_apart(linear_vae):
    module, x, exact = linear_vae
    with torch.no_grad():
        many = elbo(module, x, torch.Generator().manual_seed(4), "mean_field", n_samples=20000)
        rows = [elbo(module, x[i : i + 1], torch.Generator().manual_seed(i), "mean_field", 20000)[0] for i in range(7)]
    assert many.shape == (7,)
    torch.testing.assert_close(many, torch.stack(rows), atol=0.05, rtol=0)
    assert torch.all(many < exact)  # a lower bound on log p(x)
