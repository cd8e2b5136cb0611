"""The importance-weighted bound of a fitted model: its ordering, its limit and its units."""

import copy
import math

import numpy as np
import pytest
import torch

from latentid.models import VaDE
from latentid.models.elbo import elbo, iw_bound


@pytest.fixture(scope="module")
def fitted(gmm_data):
    x, _, _ = gmm_data
    return VaDE(2, 4, epochs=4, pretrain_epochs=2, batch_size=64, n_restarts=1, random_state=0).fit(x), x


def test_iw_bound_is_above_the_elbo_and_grows_with_the_number_of_draws(fitted):
    model, x = fitted
    bounds = [model.iw_bound_samples(x, n_samples=s, random_state=1).mean() for s in (1, 8, 64, 512)]
    assert model.score(x) < bounds[2]  # the ELBO is below the bound (S = 1 vs the ELBO: the next test)
    assert all(b < c for b, c in zip(bounds, bounds[1:], strict=False))
    assert bounds[-1] - bounds[-2] < bounds[1] - bounds[0]  # concave in log S: the bound converges


def test_iw_bound_with_one_draw_is_the_marginal_elbo_in_expectation(fitted):
    model, x = fitted
    module = model.module_
    xs = module.standardize(torch.from_numpy(np.repeat(x, 20, axis=0)))
    with torch.no_grad():
        one = iw_bound(module, xs, torch.Generator().manual_seed(0), n_samples=1)
        marginal = elbo(module, xs, torch.Generator().manual_seed(1), "marginal")
    diff = (one - marginal).double()
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / math.sqrt(len(diff))


def test_iw_bound_is_in_the_data_units(fitted):
    # The same model on data scaled by 10: the density of x must drop by exactly n_features * log 10.
    model, x = fitted
    scaled = copy.deepcopy(model)
    scaled.module_.x_scale.mul_(10.0)
    scaled.module_.x_shift.mul_(10.0)
    a = model.iw_bound_samples(x, n_samples=16, random_state=2)
    b = scaled.iw_bound_samples(10.0 * x, n_samples=16, random_state=2)
    np.testing.assert_allclose(a - b, x.shape[1] * np.log(10.0), atol=1e-3)


def test_iw_bound_refuses_a_bad_number_of_draws(fitted):
    model, x = fitted
    with pytest.raises(ValueError, match="n_samples"):
        model.iw_bound_samples(x, n_samples=0)


@pytest.mark.parametrize("n_samples", [0, -1, 1.5, 10**8])
def test_refined_transform_and_the_iw_bound_refuse_a_bad_number_of_draws_in_one_line(fitted, n_samples):
    """Zero, negative, fractional and memory-exhausting draw counts used to end in a ZeroDivisionError, a torch
    RuntimeError, a TypeError or the allocator's error."""
    model, x = fitted
    for call in (lambda: model.transform(x[:2], refine=True, n_samples=n_samples),
                 lambda: model.iw_bound_samples(x[:2], n_samples=n_samples)):  # fmt: skip
        with pytest.raises(ValueError, match=r"n_samples must be an int in \[1, 1,000,000\]"):
            call()


def test_refine_must_be_a_bool_or_none(fitted):
    model, x = fitted
    with pytest.raises(ValueError, match="refine must be True, False or None"):
        model.transform(x[:2], refine="yes")


def _grid_log_density(module, xs, half_width=8.0, n_grid=401):
    """log p(x) = log int p(x|z) p(z) dz of the fitted model (m = 2, model space) on a grid; xs (n, d) -> (n,)."""
    centre = module.prior.component_means().detach().mean(0)
    axis = torch.linspace(-half_width, half_width, n_grid)
    zz = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2) + centre
    cell = math.log(float(axis[1] - axis[0]) ** 2)
    with torch.no_grad():
        f = module.decoder(zz)  # (G, d)
        log_prior = module.prior.log_prob(zz)
        rows = [torch.logsumexp(module.likelihood.log_prob(row, f) + log_prior, 0) + cell for row in xs]
    return torch.stack(rows).double().numpy()


def test_iw_bound_converges_to_the_models_own_log_likelihood(fitted):
    model, x = fitted
    module = copy.deepcopy(model.module_).double()
    # A prior with broad components and encoder variances well away from 1, so that the proposal
    # covers the posterior and every term of log q matters.
    module.prior.set_parameters(
        np.full(4, 0.25), [[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], np.tile(np.eye(2) * 0.5, (4, 1, 1))
    )
    with torch.no_grad():
        module.encoder.logvar.bias.add_(1.0)
    xs = module.standardize(torch.from_numpy(x[:30]).double())
    exact = _grid_log_density(module, xs)
    with torch.no_grad():
        bound = iw_bound(module, xs, torch.Generator().manual_seed(0), n_samples=4096).numpy()
        single = elbo(module, xs, torch.Generator().manual_seed(0), "mean_field", n_samples=64).numpy()
    gap = exact - bound
    assert -0.01 < np.mean(gap) < 0.05  # a lower bound, and a tight one with many draws
    assert np.all(gap > -0.1)
    assert np.mean(exact - single) > np.mean(gap) + 0.1  # the ELBO is clearly looser
