"""Observation models against torch.distributions and scipy, and the estimators' data units:
a known noise recovered by a short fit, score() on rescaled data, standardize=False, sample()."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import expit
from scipy.stats import norm
from torch.distributions import Bernoulli, Normal

from latentid.models import VAE
from latentid.models.likelihoods import (
    SCALE_FLOOR,
    BernoulliLikelihood,
    GaussianLikelihood,
    make_likelihood,
)
from latentid.models.priors import _softplus_inverse


def _pair(shape=(5, 4), seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    f = torch.randn(shape, generator=gen, dtype=torch.float64)
    return x, f


def test_gaussian_fixed_scale_matches_torch_and_scipy():
    x, f = _pair()
    lik = GaussianLikelihood(noise_scale=0.37).double()
    expected = Normal(f, 0.37).log_prob(x).sum(-1)
    torch.testing.assert_close(lik.log_prob(x, f), expected)
    np.testing.assert_allclose(lik.log_prob(x, f).numpy(), norm(f.numpy(), 0.37).logpdf(x.numpy()).sum(-1))
    assert float(lik.scale().detach()) == pytest.approx(0.37)
    assert list(lik.parameters()) == [], "a fixed scale is not trained"


@pytest.mark.parametrize("sigma", [0.05, 0.8, 3.0])
def test_gaussian_learned_scale_matches_torch(sigma):
    x, f = _pair(seed=1)
    lik = GaussianLikelihood().double()
    with torch.no_grad():
        lik.raw_scale.copy_(_softplus_inverse(torch.tensor(sigma - SCALE_FLOOR, dtype=torch.float64)))
    assert float(lik.scale().detach()) == pytest.approx(sigma, rel=1e-9)
    torch.testing.assert_close(lik.log_prob(x, f), Normal(f, sigma).log_prob(x).sum(-1))
    # the gradient reaches the scale: d/d sigma of sum log N = -n/sigma + sum (x - f)^2 / sigma^3
    lik.log_prob(x, f).sum().backward()
    n = x.numel()
    d_sigma = -n / sigma + float(((x - f) ** 2).sum()) / sigma**3
    d_raw = d_sigma * torch.sigmoid(lik.raw_scale.detach())  # softplus' = sigmoid
    assert float(lik.raw_scale.grad) == pytest.approx(float(d_raw), rel=1e-6)


def test_learned_scale_starts_at_one_and_never_goes_below_the_floor():
    lik = GaussianLikelihood()
    assert float(lik.scale().detach()) == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        lik.raw_scale.fill_(-50.0)
    assert float(lik.scale().detach()) == pytest.approx(SCALE_FLOOR, rel=1e-6)
    assert float(lik.scale().detach()) > 0


def test_gaussian_log_prob_broadcasts_over_draws():
    x, _ = _pair((3, 4))
    f = torch.randn((7, 3, 4), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    lik = GaussianLikelihood(noise_scale=0.5).double()
    out = lik.log_prob(x, f)
    assert out.shape == (7, 3)
    torch.testing.assert_close(out, Normal(f, 0.5).log_prob(x.expand_as(f)).sum(-1))


def test_gaussian_sample_mean_and_reconstruction_loss():
    f = torch.full((20000, 3), 2.0, dtype=torch.float64)
    lik = GaussianLikelihood(noise_scale=0.3).double()
    draws = lik.sample(f, torch.Generator().manual_seed(0))
    assert draws.shape == f.shape
    assert float(draws.mean()) == pytest.approx(2.0, abs=0.01)
    assert float(draws.std()) == pytest.approx(0.3, rel=0.02)
    again = lik.sample(f, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)
    torch.testing.assert_close(lik.mean(f), f)
    x, g = _pair()
    torch.testing.assert_close(lik.reconstruction_loss(x, g), 0.5 * ((x - g) ** 2).sum(-1))


def test_init_from_residuals_sets_the_learned_scale_to_their_rms():
    gen = torch.Generator().manual_seed(3)
    f = torch.randn(4000, 5, generator=gen)
    x = f + 0.25 * torch.randn(4000, 5, generator=gen)
    rms = float((x - f).pow(2).mean().sqrt())
    learned = GaussianLikelihood()
    learned.init_from_residuals(x, f)
    assert float(learned.scale().detach()) == pytest.approx(rms, rel=1e-5)
    fixed = GaussianLikelihood(noise_scale=0.7)
    fixed.init_from_residuals(x, f)
    assert float(fixed.scale()) == pytest.approx(0.7)
    tiny = GaussianLikelihood()
    tiny.init_from_residuals(f, f)  # perfect reconstructions: the scale stays above the floor
    assert float(tiny.scale().detach()) == pytest.approx(2 * SCALE_FLOOR, rel=1e-4)


def test_bernoulli_matches_torch_on_binary_data_and_the_formula_on_grey_levels():
    gen = torch.Generator().manual_seed(4)
    f = 3.0 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    binary = (torch.rand(6, 5, generator=gen, dtype=torch.float64) > 0.5).double()
    lik = BernoulliLikelihood()
    torch.testing.assert_close(lik.log_prob(binary, f), Bernoulli(logits=f).log_prob(binary).sum(-1))
    grey = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    p = expit(f.numpy())
    expected = (grey.numpy() * np.log(p) + (1 - grey.numpy()) * np.log1p(-p)).sum(-1)
    np.testing.assert_allclose(lik.log_prob(grey, f).numpy(), expected, rtol=1e-10)
    torch.testing.assert_close(lik.reconstruction_loss(grey, f), -lik.log_prob(grey, f))
    torch.testing.assert_close(lik.mean(f), torch.sigmoid(f))
    # broadcasting over draws, as the ELBO uses it
    assert lik.log_prob(grey, f.expand(4, 6, 5)).shape == (4, 6)


def test_bernoulli_sample_frequencies():
    f = torch.tensor([[-2.0, 0.0, 1.5]]).expand(20000, 3)
    draws = BernoulliLikelihood().sample(f, torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    np.testing.assert_allclose(draws.mean(0).numpy(), expit(np.array([-2.0, 0.0, 1.5])), atol=0.01)


def test_make_likelihood():
    assert isinstance(make_likelihood("gaussian", None), GaussianLikelihood)
    assert make_likelihood("gaussian", None).learned
    fixed = make_likelihood("gaussian", 0.2)
    assert not fixed.learned and float(fixed.scale()) == pytest.approx(0.2)
    assert isinstance(make_likelihood("bernoulli", None), BernoulliLikelihood)


def _fisher_by_autograd(lik, f, xs, probs):
    """E_x[-d^2 log p(x|f) / df^2] per feature, by autograd over the support points xs with weights probs."""
    total = torch.zeros_like(f)
    for x, p in zip(xs, probs, strict=True):
        g = f.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(lik.log_prob(x, g).sum(), g, create_graph=True)
        (second,) = torch.autograd.grad(grad.sum(), g)
        total = total - p * second
    return total


def test_fisher_information_matches_autograd():
    f = torch.tensor([[-2.0, 0.0, 0.7]], dtype=torch.float64)
    gaussian = GaussianLikelihood(noise_scale=0.4).double()
    expected = _fisher_by_autograd(gaussian, f, [torch.zeros_like(f)], [1.0])  # constant in x for a Gaussian
    torch.testing.assert_close(gaussian.fisher_diag(f).expand_as(f), expected)
    torch.testing.assert_close(expected, torch.full_like(f, 1 / 0.16))
    bernoulli = BernoulliLikelihood()
    p = torch.sigmoid(f)
    expected = _fisher_by_autograd(bernoulli, f, [torch.ones_like(f), torch.zeros_like(f)], [p, 1 - p])
    torch.testing.assert_close(bernoulli.fisher_diag(f), expected)


def test_samples_are_the_seeded_draws_of_the_stated_distribution():
    f = torch.randn(4, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    gaussian = GaussianLikelihood(noise_scale=0.3).double()
    noise = torch.randn(f.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    drawn = gaussian.sample(f, torch.Generator().manual_seed(9))
    assert drawn.dtype == torch.float64
    torch.testing.assert_close(drawn, f + 0.3 * noise)
    coin = BernoulliLikelihood().sample(f, torch.Generator().manual_seed(9))
    torch.testing.assert_close(coin, torch.bernoulli(torch.sigmoid(f), generator=torch.Generator().manual_seed(9)))


def test_reconstruction_loss_sums_over_features_only():
    x, f = _pair((2, 3, 4))
    lik = GaussianLikelihood(noise_scale=1.0).double()
    assert lik.reconstruction_loss(x, f).shape == (2, 3)


# ---------------------------------------------------------------------------- estimators, in data units

QUICK = {"batch_size": 64, "random_state": 0}


def _linear_data(n=2000, noise=0.3, seed=0):
    """x = z A + b + N(0, noise^2): 2 latent, 5 observed; a linear-decoder VAE is well specified."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2, 5)) * 2.0
    z = rng.standard_normal((n, 2))
    return (z @ a + rng.normal(size=5) + noise * rng.standard_normal((n, 5))).astype(np.float32)


def test_noise_scale_recovers_a_known_noise():
    x = _linear_data(noise=0.3)
    model = VAE(hidden_dims=[], encoder_dims=[16], epochs=40, lr=1e-2, **QUICK).fit(x)
    assert model.noise_scale_ == pytest.approx(0.3, rel=0.1)
    # the same data in other units: the noise is reported in those units
    scaled = VAE(hidden_dims=[], encoder_dims=[16], epochs=40, lr=1e-2, **QUICK).fit(10.0 * x)
    assert scaled.noise_scale_ == pytest.approx(10.0 * model.noise_scale_, rel=1e-4)


@pytest.fixture(scope="module")
def fitted_at_two_scales(gmm_data):
    x = gmm_data[0]
    factor = 4.0  # a power of two: the standardised data are bit-identical, so are the fits
    base = VAE(epochs=3, **QUICK).fit(x)
    scaled = VAE(epochs=3, **QUICK).fit(factor * x)
    return x, factor, base, scaled


def test_score_is_in_data_units(fitted_at_two_scales):
    x, factor, base, scaled = fitted_at_two_scales
    shift = x.shape[1] * math.log(factor)  # log p(c x) = log p(x) - n log c
    np.testing.assert_allclose(scaled.score_samples(factor * x), base.score_samples(x) - shift, rtol=0, atol=1e-4)
    assert scaled.score(factor * x) == pytest.approx(base.score(x) - shift, abs=1e-4)
    np.testing.assert_allclose(scaled.elbo_history_, np.array(base.elbo_history_) - shift, rtol=0, atol=1e-4)
    np.testing.assert_allclose(scaled.val_elbo_history_, np.array(base.val_elbo_history_) - shift, atol=1e-4)
    np.testing.assert_allclose(scaled.restart_scores_, np.array(base.restart_scores_) - shift, atol=1e-4)
    assert scaled.noise_scale_ == pytest.approx(factor * base.noise_scale_, rel=1e-6)
    np.testing.assert_array_equal(scaled.transform(factor * x), base.transform(x))


def test_score_in_data_units_for_any_factor(gmm_data):
    """A factor that is not a power of two changes the fit by rounding only."""
    x = gmm_data[0]
    base = VAE(epochs=3, noise_scale=0.05, **QUICK).fit(x)
    scaled = VAE(epochs=3, noise_scale=0.05 * 3.0, **QUICK).fit(3.0 * x)
    assert scaled.score(3.0 * x) == pytest.approx(base.score(x) - 10 * math.log(3.0), abs=0.05)


def test_score_is_an_elbo_of_the_data_not_of_the_standardised_data(gmm_data):
    """score_samples == the model-space ELBO minus n log(scale), with the scale the data's own rms."""
    from latentid.models.base import SCORE_SAMPLES
    from latentid.models.elbo import elbo

    x = gmm_data[0]
    model = VAE(epochs=2, **QUICK).fit(x)
    module = model.module_
    scale = float(module.x_scale)
    assert scale == pytest.approx(float(np.sqrt(np.mean((x - x.mean(0)) ** 2))), rel=0.2)  # rms of the training rows
    gen = model._generator(7)
    with torch.no_grad():
        z_space = elbo(module, module.standardize(torch.from_numpy(x)), gen, model.elbo, SCORE_SAMPLES)
    expected = z_space.double().numpy() - x.shape[1] * math.log(scale)
    np.testing.assert_allclose(model.score_samples(x, random_state=7), expected, rtol=1e-6, atol=1e-4)


def test_standardize_false_works_in_the_data_units_directly(gmm_data):
    from latentid.models.base import SCORE_SAMPLES
    from latentid.models.elbo import elbo

    x = 3.0 * gmm_data[0] + 5.0
    model = VAE(epochs=3, standardize=False, **QUICK).fit(x)
    module = model.module_
    assert torch.equal(module.x_shift, torch.zeros_like(module.x_shift))
    assert float(module.x_scale) == 1.0
    with torch.no_grad():
        direct = elbo(module, torch.from_numpy(x), model._generator(3), model.elbo, SCORE_SAMPLES)
    np.testing.assert_allclose(model.score_samples(x, random_state=3), direct.double().numpy(), rtol=1e-6)
    assert model.noise_scale_ == pytest.approx(float(module.likelihood.scale().detach()))
    with torch.no_grad():
        encoded = module.encoder(torch.from_numpy(x[:5]))[0].numpy()
    np.testing.assert_array_equal(model.transform(x[:5]), encoded)
    # and it differs from the standardised fit of the same data
    standardised = VAE(epochs=3, **QUICK).fit(x)
    assert float(standardised.module_.x_scale) > 1.0
    assert not np.allclose(standardised.transform(x), model.transform(x))


def test_sample_is_in_data_units(gmm_data):
    x = 50.0 * gmm_data[0] + 200.0
    model = VAE(epochs=15, lr=3e-3, **QUICK).fit(x)  # a rough fit is enough here
    drawn, z, c = model.sample(3000, random_state=0)
    assert drawn.shape == (3000, 10) and z.shape == (3000, 2) and np.all(c == 0)
    # the draws sit where the data sit, with the data's spread (one global scale, as the model standardises)
    rms = float(np.sqrt(x.var(0).mean()))
    assert rms > 10.0
    assert np.all(np.abs(drawn.mean(0) - x.mean(0)) < 0.3 * rms)
    ratio = float(np.sqrt(drawn.var(0).mean())) / rms
    assert 0.7 < ratio < 1.6, ratio
    # the draws are the decoder's outputs put back into the data's units
    module = model.module_
    with torch.no_grad():
        mean_x = module.unstandardize(module.decoder(torch.from_numpy(z)))
    resid = drawn - mean_x.numpy()
    assert np.std(resid) == pytest.approx(model.noise_scale_, rel=0.05)
