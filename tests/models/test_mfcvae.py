"""MFC-VAE: the product prior against the joint mixture it stands for, one facet against VaDE, the
estimator API per facet, the training schedules and save/load."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from scipy.linalg import block_diag
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from latentid.errors import InvalidParameterError, LatentIDWarning
from latentid.models import MFCVAE, VaDE, load_model
from latentid.models.elbo import elbo, iw_bound, q_c_log_probs
from latentid.models.priors import ProductPrior

FACETS = [(2, 3), (1, 2), (2, 2)]  # 12 joint components; unequal K_j so that C and F order differ
TINY = {"hidden_dims": [8], "batch_size": 64, "n_init": 1, "n_restarts": 1, "random_state": 0}


# ---------------------------------------------------------------------------- ProductPrior
def _product(covariance: str, seed: int = 0) -> ProductPrior:
    """A double-precision ProductPrior over FACETS with random facet parameters."""
    rng = np.random.default_rng(seed)
    prior = ProductPrior(FACETS, covariance).double()
    parameters = []
    for m, k in FACETS:
        if covariance == "diag":
            covs = rng.uniform(0.3, 2.0, (k, m))
        else:
            a = rng.normal(size=(k, m, m))
            covs = a @ a.transpose(0, 2, 1) + 0.3 * np.eye(m)
        parameters.append((rng.dirichlet(np.ones(k)), rng.normal(0.0, 2.0, (k, m)), covs))
    prior.set_parameters(parameters)
    return prior.requires_grad_(False)


def _joint_reference(prior: ProductPrior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The joint mixture built by hand from the facets' own parameters, components in C order."""
    facets = [(f.weights, f.means, f.covariances) for f in prior.facets]
    weights, means, covs = [], [], []
    for combo in itertools.product(*(range(len(w)) for w, _, _ in facets)):  # the last facet runs fastest
        weights.append(np.prod([w[c] for (w, _, _), c in zip(facets, combo, strict=True)]))
        means.append(np.concatenate([mu[c] for (_, mu, _), c in zip(facets, combo, strict=True)]))
        covs.append(block_diag(*[cov[c] for (_, _, cov), c in zip(facets, combo, strict=True)]))
    return np.array(weights), np.array(means), np.array(covs)


def _reference_log_joint(prior: ProductPrior, z: np.ndarray) -> np.ndarray:
    """log pi_c + log N(z; mu_c, Sigma_c) with scipy; (n, 12)."""
    weights, means, covs = _joint_reference(prior)
    parts = zip(weights, means, covs, strict=True)
    return np.stack([np.log(w) + multivariate_normal(mu, cov).logpdf(z) for w, mu, cov in parts], axis=1)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_product_prior_is_the_joint_mixture(covariance):
    prior = _product(covariance)
    weights, means, covs = _joint_reference(prior)
    assert prior.n_components == 12 and prior.latent_dim == 5
    np.testing.assert_allclose(prior.weights, weights, rtol=1e-10)
    np.testing.assert_allclose(prior.weights.sum(), 1.0, rtol=1e-10)
    np.testing.assert_allclose(prior.means, means, rtol=1e-12)
    np.testing.assert_allclose(prior.covariances, covs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_product_log_prob_matches_scipy(covariance):
    prior = _product(covariance)
    z = np.random.default_rng(1).normal(0.0, 3.0, (40, 5))
    ref_joint = _reference_log_joint(prior, z)
    zt = torch.from_numpy(z)
    np.testing.assert_allclose(prior.log_joint(zt).numpy(), ref_joint, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(prior.log_prob(zt).numpy(), logsumexp(ref_joint, axis=1), rtol=1e-8, atol=1e-8)
    ref_resp = ref_joint - logsumexp(ref_joint, axis=1, keepdims=True)
    np.testing.assert_allclose(prior.log_responsibilities(zt).numpy(), ref_resp, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_product_expected_log_marginal_is_logsumexp_of_the_joint(covariance):
    prior = _product(covariance)
    rng = np.random.default_rng(2)
    mean, var = rng.normal(0.0, 2.0, (7, 5)), rng.uniform(0.1, 2.0, (7, 5))
    # E_{N(mean, diag var)}[log pi_c + log N(z; mu_c, Sigma_c)] in closed form, per joint component
    weights, means, covs = _joint_reference(prior)
    ref = np.empty((7, 12))
    for c, (w, mu, cov) in enumerate(zip(weights, means, covs, strict=True)):
        prec = np.linalg.inv(cov)
        diff = mean - mu
        quad = np.einsum("ni,ij,nj->n", diff, prec, diff) + var @ np.diag(prec)
        ref[:, c] = np.log(w) - 0.5 * (5 * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1] + quad)
    joint = prior.expected_log_joint(torch.from_numpy(mean), torch.from_numpy(var)).numpy()
    np.testing.assert_allclose(joint, ref, rtol=1e-8, atol=1e-8)
    marginal = prior.expected_log_marginal(torch.from_numpy(mean), torch.from_numpy(var)).numpy()
    np.testing.assert_allclose(marginal, logsumexp(ref, axis=1), rtol=1e-8, atol=1e-8)
    at_point = prior.expected_log_marginal(torch.from_numpy(mean), None).numpy()
    np.testing.assert_allclose(at_point, logsumexp(_reference_log_joint(prior, mean), axis=1), rtol=1e-8)


@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_facet_responsibilities_are_marginals_of_the_joint(covariance):
    prior = _product(covariance)
    z = np.random.default_rng(3).normal(0.0, 2.0, (30, 5))
    ref_joint = _reference_log_joint(prior, z)
    joint = np.exp(ref_joint - logsumexp(ref_joint, axis=1, keepdims=True)).reshape(30, 3, 2, 2)
    got = prior.facet_log_responsibilities(torch.from_numpy(z))
    assert [g.shape for g in got] == [(30, 3), (30, 2), (30, 2)]
    for j, log_r in enumerate(got):
        others = tuple(1 + i for i in range(3) if i != j)
        np.testing.assert_allclose(log_r.exp().numpy(), joint.sum(axis=others), rtol=1e-8, atol=1e-10)


def test_product_sample_matches_the_joint_mixture():
    prior = _product("full")
    weights, means, covs = _joint_reference(prior)
    z, c = prior.sample(30_000, torch.Generator().manual_seed(4))
    z, c = z.numpy(), c.numpy()
    np.testing.assert_allclose(np.bincount(c, minlength=12) / len(c), weights, atol=0.01)
    for k in np.argsort(weights)[-3:]:  # the three largest components: enough draws for 5 standard errors
        zk = z[c == k]
        se = np.sqrt(np.diag(covs[k]) / len(zk))
        assert np.all(np.abs(zk.mean(0) - means[k]) < 5 * se)


# ---------------------------------------------------------------------------- one facet is VaDE
@pytest.mark.parametrize("covariance", ["diag", "full"])
def test_one_facet_is_vade(covariance):
    vade = VaDE(latent_dim=2, n_components=3, covariance=covariance, hidden_dims=[8])
    mfc = MFCVAE(facets=[(2, 3)], covariance=covariance, hidden_dims=[8])
    vade_module = vade._build(4, torch.Generator().manual_seed(0), noise_scale=0.5, n_aux=0).double()
    mfc_module = mfc._build(4, torch.Generator().manual_seed(1), noise_scale=0.5, n_aux=0).double()
    rng = np.random.default_rng(0)
    covs = rng.uniform(0.3, 2.0, (3, 2)) if covariance == "diag" else np.array([[[1.0, 0.4], [0.4, 0.5]]] * 3)
    vade_module.prior.set_parameters(np.array([0.2, 0.5, 0.3]), rng.normal(0.0, 1.0, (3, 2)), covs)
    state = {
        ("prior.facets.0." + key.removeprefix("prior.") if key.startswith("prior.") else key): value
        for key, value in vade_module.state_dict().items()
    }
    mfc_module.load_state_dict(state)  # strict: every key maps
    x = torch.from_numpy(rng.normal(size=(6, 4)))
    with torch.no_grad():
        for estimator in ("mean_field", "vade", "marginal"):
            want = elbo(vade_module, x, torch.Generator().manual_seed(5), estimator, n_samples=3)
            got = elbo(mfc_module, x, torch.Generator().manual_seed(5), estimator, n_samples=3)
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        want = iw_bound(vade_module, x, torch.Generator().manual_seed(6), n_samples=16)
        got = iw_bound(mfc_module, x, torch.Generator().manual_seed(6), n_samples=16)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        mean = mfc_module.encoder(x)[0]
        (facet_r,) = mfc_module.prior.facet_log_responsibilities(mean)
        torch.testing.assert_close(facet_r, q_c_log_probs(vade_module, x), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------- the estimator
@pytest.fixture(scope="module")
def fitted(gmm_data):
    x = gmm_data[0]
    return MFCVAE(facets=[(2, 4), (1, 2)], epochs=2, pretrain_epochs=1, **TINY).fit(x), x


def test_fitted_shapes_per_facet(fitted):
    model, x = fitted
    n = len(x)
    assert model.latent_dim == 3
    assert model.facet_slices_ == [slice(0, 2), slice(2, 3)]
    assert model.transform(x).shape == (n, 3)
    proba = model.predict_proba(x)
    assert [p.shape for p in proba] == [(n, 4), (n, 2)]
    for p in proba:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    labels = model.predict(x)
    assert labels.shape == (n, 2) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.stack([p.argmax(axis=1) for p in proba], axis=1))
    assert model.weights_.shape == (8,) and model.means_.shape == (8, 3) and model.covariances_.shape == (8, 3, 3)
    xs, zs, cs = model.sample(50, random_state=1)
    assert xs.shape == (50, 10) and zs.shape == (50, 3) and cs.shape == (50, 2) and cs.dtype == np.int64
    assert cs[:, 0].max() < 4 and cs[:, 1].max() < 2 and cs.min() >= 0


def test_facet_probabilities_are_marginals_of_the_fitted_joint(fitted):
    model, x = fitted
    z = torch.from_numpy(model.transform(x))
    joint = model.prior_.log_responsibilities(z).exp().detach().numpy().reshape(len(x), 4, 2)
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba[0], joint.sum(axis=2), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(proba[1], joint.sum(axis=1), rtol=1e-4, atol=1e-6)


def test_sampled_labels_name_each_facets_component(fitted):
    model = copy.deepcopy(fitted[0])
    # well separated, tight components: every sampled z_j lies at the mean of its own c_j
    model.prior_.set_parameters(
        [
            (
                np.full(4, 0.25),
                np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]),
                1e-3 * np.eye(2)[None].repeat(4, 0),
            ),
            (np.array([0.3, 0.7]), np.array([[-10.0], [10.0]]), np.full((2, 1, 1), 1e-3)),
        ]
    )
    _, z, c = model.sample(200, random_state=2)
    found = [r.argmax(-1).numpy() for r in model.prior_.facet_log_responsibilities(torch.from_numpy(z))]
    np.testing.assert_array_equal(c, np.stack(found, axis=1))
    assert len(np.unique(c[:, 0])) == 4 and len(np.unique(c[:, 1])) == 2


def test_save_load_round_trip(fitted, tmp_path):
    model, x = fitted
    model.save(tmp_path / "mfc")
    loaded = load_model(tmp_path / "mfc", device="cpu")
    assert type(loaded) is MFCVAE
    assert loaded.facets == ((2, 4), (1, 2))  # pairs again, not the lists JSON holds them as
    np.testing.assert_array_equal(loaded.transform(x), model.transform(x))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for a, b in zip(loaded.predict_proba(x), model.predict_proba(x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_warm_start_fits_each_facet_on_its_own_block():
    model = MFCVAE(facets=[(2, 4), (1, 2)], n_init=1, hidden_dims=[8])
    module = model._build(10, torch.Generator().manual_seed(0), noise_scale=0.5, n_aux=0)
    rng = np.random.default_rng(0)
    centres_0 = np.array([[-5.0, -5.0], [-5.0, 5.0], [5.0, -5.0], [5.0, 5.0]])
    centres_1 = np.array([[-20.0], [20.0]])
    c0, c1 = rng.integers(0, 4, 400), rng.integers(0, 2, 400)
    z = np.hstack([centres_0[c0], centres_1[c1]]) + 0.1 * rng.standard_normal((400, 3))
    model._init_prior(module, z, seed=0)
    found_0, found_1 = (facet.means for facet in module.prior.facets)
    np.testing.assert_allclose(found_0[np.lexsort(found_0.T[::-1])], centres_0, atol=0.1)
    np.testing.assert_allclose(np.sort(found_1, axis=0), centres_1, atol=0.1)


# ---------------------------------------------------------------------------- schedules
def test_schedule_values():
    model = MFCVAE(facets=[(1, 2), (2, 3), (1, 2)], kl_warmup_epochs=4, progressive_epochs=2)
    expected = {  # epoch: (kl weight, gate of facets 0, 1, 2); facet j fades in over [2j, 2j + 2)
        0: (0.0, [1.0, 0.0, 0.0]),
        2: (0.5, [1.0, 0.0, 0.0]),
        3: (0.75, [1.0, 0.5, 0.0]),
        4: (1.0, [1.0, 1.0, 0.0]),
        5: (1.0, [1.0, 1.0, 0.5]),
        6: (1.0, [1.0, 1.0, 1.0]),
        50: (1.0, [1.0, 1.0, 1.0]),
    }
    for epoch, (kl, facet_gates) in expected.items():
        weight, gate = model.schedule(epoch)
        assert weight == pytest.approx(kl)
        want = np.repeat(facet_gates, [1, 2, 1])  # one entry per latent coordinate
        np.testing.assert_allclose(gate, want, err_msg=f"epoch {epoch}")
    weight, gate = MFCVAE(facets=[(1, 2), (2, 3)]).schedule(0)
    assert weight == 1.0
    np.testing.assert_array_equal(gate, np.ones(3))


def _module_and_batch(**params):
    model = MFCVAE(facets=[(1, 2), (1, 3)], hidden_dims=[8], **params)
    module = model._build(4, torch.Generator().manual_seed(0), noise_scale=0.5, n_aux=0)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32))
    return model, module, x


def _gen():
    return torch.Generator().manual_seed(7)


def _reconstruction(module, x, gate=None):
    """E_q[log p(x|z)] from the one draw of ``_gen()``, by hand; the decoder reads z * gate."""
    mean, logvar = module.encoder(x)
    z = mean + (0.5 * logvar).exp() * torch.randn((1, *mean.shape), generator=_gen())[0]
    return module.likelihood.log_prob(x, module.decoder(z if gate is None else z * gate))


def test_kl_warmup_weights_the_training_loss_only():
    model, module, x = _module_and_batch(kl_warmup_epochs=4)
    model._epoch_start(1, 10)  # kl weight 1/4
    with torch.no_grad():
        full = -elbo(module, x, _gen(), "mean_field")
        recon = _reconstruction(module, x)
        warm = -(recon + 0.25 * (-full - recon))  # only the prior and entropy terms are weighted
        assert not torch.allclose(full, warm)
        module.train()
        torch.testing.assert_close(model._loss(module, x, _gen()), warm)
        module.eval()  # held-out scores: the full bound
        torch.testing.assert_close(model._loss(module, x, _gen()), full)
        model._epoch_start(4, 10)  # warm-up over: the full bound in training too
        module.train()
        torch.testing.assert_close(model._loss(module, x, _gen()), full)


def test_progressive_training_gates_the_decoder_in_training_only():
    model, module, x = _module_and_batch(progressive_epochs=2)
    model._epoch_start(3, 10)  # facet 1 half faded in
    with torch.no_grad():
        full = -elbo(module, x, _gen(), "mean_field")
        # the gate changes the reconstruction only: the prior and entropy terms stay those of the full bound
        gated = full + _reconstruction(module, x) - _reconstruction(module, x, torch.tensor([1.0, 0.5]))
        assert not torch.allclose(full, gated)
        module.train()
        torch.testing.assert_close(model._loss(module, x, _gen()), gated)
        module.eval()
        torch.testing.assert_close(model._loss(module, x, _gen()), full)


def test_fit_with_schedules_runs_them(gmm_data):
    x = gmm_data[0]
    model = MFCVAE(
        facets=[(1, 2), (1, 2)], epochs=3, pretrain_epochs=1, kl_warmup_epochs=2, progressive_epochs=1, **TINY
    )
    seen = []
    schedule = model.schedule
    model.schedule = lambda epoch: (seen.append(epoch), schedule(epoch))[1]
    model.fit(x)
    assert sorted(set(seen)) == [0, 1, 2]  # every training epoch read its schedule
    assert model.n_iter_ == 3 and np.all(np.isfinite(model.elbo_history_))
    assert model._train_epoch is None  # after fit, the model scores with the full bound
    assert model.predict(x).shape == (len(x), 2)


@pytest.mark.parametrize(
    ("schedule", "match"),
    [
        ({"progressive_epochs": 2}, r"last of the 2 facets fully into the decoder only at epoch 4, past .* at most 1"),
        ({"kl_warmup_epochs": 3}, r"kl_warmup_epochs=3 reaches .* at epoch 3, past .* at most 2"),
    ],
)
def test_schedules_that_end_after_the_fit_are_warned_of(gmm_data, schedule, match):
    """--progressive-epochs 1000 with 3 epochs fitted with the second facet out of the decoder, and said nothing.
    A warning, not a refusal: a fit begun so before the check resumes as it began (and loads, below)."""
    model = MFCVAE(facets=[(1, 2), (1, 2)], epochs=3, pretrain_epochs=0, **schedule, **TINY)
    with pytest.warns(LatentIDWarning, match=match):
        model.fit(gmm_data[0])


def test_a_model_saved_with_such_a_schedule_loads(gmm_data, tmp_path):
    """The check was in _validate_params, which load runs too: such saved models could no longer be loaded."""
    x = gmm_data[0]
    model = MFCVAE(facets=[(1, 2), (1, 2)], epochs=2, pretrain_epochs=0, progressive_epochs=5, **TINY)
    with pytest.warns(LatentIDWarning, match="progressive_epochs=5"):
        model.fit(x)
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(MFCVAE.load(tmp_path / "m").transform(x), model.transform(x))


@pytest.mark.parametrize("facets", [[], [(0, 2)], [(2,)], "2:3", [(2, 0)], [(2, 3), (1.5, 2)]])
def test_bad_facets_are_refused(facets, gmm_data):
    with pytest.raises(InvalidParameterError, match="'facets' parameter of MFCVAE"):
        MFCVAE(facets=facets, **TINY).fit(gmm_data[0])


def test_facets_wider_than_the_data_are_refused_in_their_own_terms(gmm_data):
    # 7 + 4 latent dims on 10 features: the message names the facets, not a latent_dim parameter MFCVAE lacks.
    with pytest.raises(InvalidParameterError, match=r"^The facets of MFCVAE have 11 latent dimensions in all") as err:
        MFCVAE(facets=[(7, 2), (4, 2)], **TINY).fit(gmm_data[0])
    assert "latent_dim" not in str(err.value)
