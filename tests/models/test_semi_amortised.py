"""The refined (semi-amortised) objective: the mode search, the bound around it, and the truth's own module."""

import copy
import warnings

import numpy as np
import pytest
import torch

from latentid.data.synthetic import SyntheticSpec
from latentid.gaps import amortisation_gap_at_truth, true_model_module
from latentid.models import VaDE
from latentid.models.refined import _energy, decoder_with_jacobian, refine_posterior_mode, refined_iw_loss
from latentid.oracle import oracle_posterior


@pytest.fixture(scope="module")
def truth():
    gen = SyntheticSpec.create(depth=4, noise=0.02, seed=5).build()
    data = gen.sample(200, random_state=3)
    return gen, data, true_model_module(gen)


def test_true_model_module_is_the_generator(truth):
    gen, data, module = truth
    with torch.no_grad():
        f = module.decoder(torch.from_numpy(data.z)).double().numpy()
        log_prior = module.prior.log_prob(torch.from_numpy(data.z)).double().numpy()
    np.testing.assert_allclose(f, gen.mixing(data.z), atol=1e-4)
    np.testing.assert_allclose(log_prior, gen.prior.log_prob(data.z), atol=1e-4)
    assert float(module.likelihood.scale()) == pytest.approx(gen.noise)
    assert not any(p.requires_grad for p in [*module.decoder.parameters(), *module.prior.parameters()])


def test_jacobian_carried_forward_matches_autograd(truth):
    _, data, module = truth
    z = torch.from_numpy(data.z[:20])
    f, jac = decoder_with_jacobian(module, z)
    reference = torch.func.vmap(torch.func.jacfwd(module.decoder))(z)
    torch.testing.assert_close(jac, reference)
    torch.testing.assert_close(f, module.decoder(z))


def test_refinement_never_raises_the_energy_and_finds_the_oracles_map(truth):
    gen, data, module = truth
    x = torch.from_numpy(data.x)
    start = torch.from_numpy(data.z) + 0.1 * torch.randn(data.z.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        energies = [_energy(module, x, refine_posterior_mode(module, x, start, k)[0]) for k in (0, 1, 3, 10)]
    for before, after in zip(energies, energies[1:], strict=False):
        assert torch.all(after <= before + 1e-4)
    z_map = oracle_posterior(gen.prior, gen.mixing, gen.noise, data.x, n_samples=8).map
    z_ref = refine_posterior_mode(module, x, start, 10)[0].numpy()
    assert np.median(np.abs(z_ref - z_map)) < 1e-3
    assert np.median(np.abs(start.numpy() - z_map)) > 0.03  # the start was far from it


class _FixedEncoder(torch.nn.Module):
    """An 'encoder' that proposes given points (b, m) with unit variances, whatever x is."""

    def __init__(self, points: torch.Tensor) -> None:
        super().__init__()
        self.points = points

    def forward(self, x):
        return self.points, torch.zeros_like(self.points)


def test_refined_bound_at_the_truth_approaches_the_true_log_likelihood(truth):
    gen, data, module = truth
    x = torch.from_numpy(data.x)
    noisy = torch.from_numpy(data.z) + 0.05 * torch.randn(data.z.shape, generator=torch.Generator().manual_seed(1))
    original, module.encoder = module.encoder, _FixedEncoder(noisy)  # an imprecise proposal, refined
    try:
        with torch.no_grad():
            refined = -refined_iw_loss(module, x, torch.Generator().manual_seed(0), n_samples=64, steps=20)
            unrefined = -refined_iw_loss(module, x, torch.Generator().manual_seed(0), n_samples=64, steps=0)
    finally:
        module.encoder = original
    true_ll = gen.log_likelihood(data.x).mean
    assert float(refined.mean()) <= true_ll + 0.02  # a lower bound
    assert float(refined.mean()) > true_ll - 0.1  # and a tight one around the refined mode
    assert float(unrefined.mean()) < true_ll - 10.0  # which the unrefined start is not


def test_refined_loss_trains_the_encoder_towards_the_posterior_and_not_the_decoder_towards_the_encoder(truth):
    from latentid.models.elbo import elbo

    _, data, frozen = truth
    x = torch.from_numpy(data.x[:100])
    module = copy.deepcopy(frozen)
    module.decoder.requires_grad_(True)
    wider = copy.deepcopy(module)
    with torch.no_grad():
        wider.encoder.logvar.bias.add_(2.0)  # the same encoder means, other variances

    def gradients(mod, objective):
        mod.zero_grad(set_to_none=True)
        objective(mod).mean().backward()
        return mod.encoder.mean.bias.grad.clone(), [p.grad.clone() for p in mod.decoder.parameters()]

    def refined(mod):
        return refined_iw_loss(mod, x, torch.Generator().manual_seed(0), n_samples=8, steps=20)

    def amortised(mod):
        return -elbo(mod, x, torch.Generator().manual_seed(0))

    encoder_grad, decoder_grads = gradients(module, refined)
    # The decoder's gradient does not see the encoder's variances (its proposal is the refined mode's) ...
    for a, b in zip(decoder_grads, gradients(wider, refined)[1], strict=True):
        torch.testing.assert_close(a, b)
    # ... where the amortised ELBO ties the decoder to the encoder.
    _, elbo_grads = gradients(module, amortised)
    _, elbo_grads_wider = gradients(wider, amortised)
    assert any(not torch.allclose(a, b) for a, b in zip(elbo_grads, elbo_grads_wider, strict=True))
    # The wake gradient moves the encoder's mean towards the refined posterior.
    with torch.no_grad():
        z_star = refine_posterior_mode(module, x, module.encoder(x)[0], 20)[0]
        before = (module.encoder(x)[0] - z_star).pow(2).sum(1).mean()
        module.encoder.mean.bias.sub_(1e-3 * encoder_grad / encoder_grad.norm())  # a small step along it
        after = (module.encoder(x)[0] - z_star).pow(2).sum(1).mean()
    assert after < before


def test_vade_with_refined_inference_fits_and_reports_a_bound(gmm_data):
    x, _, _ = gmm_data
    model = VaDE(2, 4, inference="refined", epochs=2, pretrain_epochs=1, batch_size=64, random_state=0).fit(x)
    assert len(model.elbo_history_) == 2 and all(np.isfinite(model.elbo_history_))
    assert model.transform(x).shape == (len(x), 2)


def test_amortisation_gap_at_truth_reports_consistent_figures():
    gen = SyntheticSpec.create(depth=2, noise=0.05, seed=1).build()
    out = amortisation_gap_at_truth(gen, gen.sample(600, random_state=1).x, gen.sample(100, random_state=2).x, epochs=2)
    assert out["amortisation_gap_at_truth"] == pytest.approx(out["true_log_likelihood"] - out["elbo"])
    assert out["iw_bound"] > out["elbo"]
    assert out["refined_gap_at_truth"] < out["amortisation_gap_at_truth"]  # refinement narrows the gap


def test_laplace_posterior_mean_matches_the_oracle_at_the_truth(truth):
    from latentid.models.refined import laplace_posterior_mean

    gen, data, module = truth
    noisy = torch.from_numpy(data.z) + 0.05 * torch.randn(data.z.shape, generator=torch.Generator().manual_seed(2))
    original, module.encoder = module.encoder, _FixedEncoder(noisy)
    try:
        mean = laplace_posterior_mean(module, torch.from_numpy(data.x), torch.Generator().manual_seed(0), 512).numpy()
    finally:
        module.encoder = original
    oracle = oracle_posterior(gen.prior, gen.mixing, gen.noise, data.x, n_samples=2048)
    err = np.abs(mean - oracle.mean)
    assert np.median(err) < 0.1 * np.median(np.abs(oracle.map - data.z))  # far below the posterior's spread
    assert np.quantile(err, 0.9) < 0.02


def test_transform_refines_by_default_only_for_models_trained_with_refined_inference(gmm_data):
    x = gmm_data[0]
    fast = dict(epochs=2, pretrain_epochs=1, batch_size=64, random_state=0)
    refined = VaDE(2, 4, inference="refined", **fast).fit(x)
    np.testing.assert_array_equal(refined.transform(x), refined.transform(x, refine=True))
    assert not np.array_equal(refined.transform(x), refined.transform(x, refine=False))
    amortized = VaDE(2, 4, **fast).fit(x)
    np.testing.assert_array_equal(amortized.transform(x), amortized.transform(x, refine=False))


def test_iw_samples_trains_on_the_importance_weighted_bound(gmm_data):
    from latentid.models.elbo import iw_bound

    x = gmm_data[0]
    model = VaDE(2, 4, iw_samples=4, epochs=1, pretrain_epochs=1, batch_size=64, random_state=0).fit(x)
    xs = model.module_.standardize(torch.from_numpy(x[:50]))
    with torch.no_grad():
        loss = model._loss(model.module_, xs, torch.Generator().manual_seed(3))
        bound = iw_bound(model.module_, xs, torch.Generator().manual_seed(3), 4)
    torch.testing.assert_close(loss, -bound)


def test_gaps_refuse_models_and_generators_they_cannot_read():
    """A PCA gave AttributeError: no 'iw_bound_samples'; iVAE asked for a u the function cannot take; a noise-0
    generator diverged with advice about the learning rate; explain_model on an unfitted model gave an
    AttributeError."""
    from latentid.errors import InvalidParameterError, NotFittedError
    from latentid.explaining import explain_model
    from latentid.gaps import likelihood_gaps
    from latentid.models import IVAE, PCA

    gen = SyntheticSpec.create(latent_dim=2, obs_dim=6, components=3, depth=2, seed=0).build()
    data = gen.sample(200, random_state=0)
    with pytest.raises(InvalidParameterError, match="needs a deep model of x"):
        likelihood_gaps(PCA(latent_dim=2).fit(data.x), gen, data.x)
    ivae = IVAE(latent_dim=2, hidden_dims=[8], epochs=1, batch_size=64, random_state=0).fit(data.x, u=data.c)
    with pytest.raises(InvalidParameterError, match=r"log p\(x \| u\)"):
        likelihood_gaps(ivae, gen, data.x)
    with pytest.raises(InvalidParameterError, match="IVAE.sample is not available"):
        ivae.sample(3)
    clean = SyntheticSpec.create(latent_dim=2, obs_dim=6, components=3, depth=2, noise=0, seed=0).build()
    with pytest.raises(InvalidParameterError, match="noise > 0"):
        amortisation_gap_at_truth(clean, data.x, data.x, epochs=1)
    with pytest.raises(NotFittedError):
        explain_model(VaDE(2, 3))


def test_a_read_only_array_fits_without_torch_s_not_writable_warning():
    x = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    x.flags.writeable = False  # as np.load(mmap_mode='r') or joblib's memmaps give
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = VaDE(2, 3, hidden_dims=[8], epochs=1, pretrain_epochs=1, n_restarts=1, random_state=0).fit(x)
        model.transform(x)
    assert not [w for w in caught if "not writable" in str(w.message)]
