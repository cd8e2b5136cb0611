"""VaDE's warm start, explicit pretrained weights, and the importance-sampled posterior mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentid.errors import InvalidParameterError
from latentid.models import VAE, VaDE
from latentid.models.fitting import PRETRAIN_OBJECTIVES, restart_objective, warm_start

FAST = {"epochs": 3, "batch_size": 64, "random_state": 0}


def test_warm_start_initialises_the_prior_from_a_gmm(gmm_data):
    x, _, c = gmm_data
    model = VaDE(
        epochs=1,
        pretrain_epochs=15,
        pretrain_objective="autoencoder",
        n_init=3,
        lr=3e-3,
        batch_size=64,
        random_state=0,
        n_restarts=1,
    ).fit(x)
    assert len(model.pretrain_history_) == 15
    assert np.all(model.weights_ > 0.05), "no collapsed component after the GMM initialisation"
    labels = model.predict(x)
    assert len(np.unique(labels)) >= 3


def test_pretrained_weights_are_used_only_when_given(gmm_data, tmp_path):
    x = gmm_data[0]
    VaDE(pretrain_epochs=2, n_init=1, checkpoint_dir=tmp_path, **FAST).fit(x)
    pretrained = tmp_path / "pretrained-1.pt"
    assert pretrained.is_file()
    model = VaDE(pretrain_epochs=2, n_init=1, pretrained=pretrained, **FAST)
    module = model._build(10, torch.Generator().manual_seed(1))
    history = warm_start(model, module, torch.from_numpy(x), torch.Generator().manual_seed(2), seed=0)
    assert history == []
    saved = torch.load(pretrained, weights_only=True)
    for key, value in module.state_dict().items():
        if key.startswith(("encoder.", "decoder.")):
            torch.testing.assert_close(value, saved[key])
    assert VaDE(pretrained=pretrained, **FAST).fit(x).pretrain_history_ == []
    with pytest.raises(InvalidParameterError, match="do not fit this model's encoder"):
        VaDE(pretrained=pretrained, hidden_dims=[12, 12], **FAST).fit(x)


def _linear_gaussian(n=400, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(2, 5))
    z = rng.standard_normal((n, 2))
    x = z @ w + 0.5 * rng.standard_normal((n, 5))
    return x.astype(np.float32)


def test_refine_reaches_the_exact_posterior_mean():
    """With a linear decoder and N(0, I) prior the posterior is Gaussian, its mean known exactly."""
    x = _linear_gaussian()
    model = VAE(
        hidden_dims=[], encoder_dims=[8], noise_scale=0.5, epochs=30, lr=1e-2, batch_size=64, random_state=0
    ).fit(x)
    module = model.module_
    with torch.no_grad():
        xs = module.standardize(torch.from_numpy(x)).double()
        layer = module.decoder[0]
        a, b = layer.weight.double(), layer.bias.double()  # f(z) = A z + b, A (5, 2)
        s2 = module.likelihood.scale().double() ** 2
        cov = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + a.T @ a / s2)
        exact = ((xs - b) @ a / s2) @ cov  # (n, 2)
    exact, posterior_sd = exact.numpy(), float(cov.diagonal().sqrt().mean())
    rms = lambda est: float(np.sqrt(np.mean((est - exact) ** 2)))  # noqa: E731
    encoder_error = rms(model.transform(x))
    refined = model.transform(x, refine=True)
    # within Monte-Carlo error of the exact mean: a fraction of the posterior's own spread
    assert rms(refined) < 0.2 * posterior_sd
    assert rms(refined) < 0.4 * encoder_error
    assert rms(model.transform(x, refine=True, n_samples=1024)) < rms(model.transform(x, refine=True, n_samples=16))
    assert refined.tobytes() == model.transform(x, refine=True).tobytes()
    assert refined.tobytes() != model.transform(x, refine=True, random_state=5).tobytes()


def test_refine_on_vade_is_finite_and_seeded(gmm_data):
    x = gmm_data[0]
    model = VaDE(pretrain_epochs=2, n_init=1, **FAST).fit(x)
    refined = model.transform(x[:50], refine=True, n_samples=64)
    assert np.isfinite(refined).all() and refined.shape == (50, 2)
    assert not np.array_equal(refined, model.transform(x[:50]))
    assert refined.tobytes() == model.transform(x[:50], refine=True, n_samples=64).tobytes()
    # A row's refined mean is its own: not moved by the rows beside it, their order or the batch it falls in.
    reordered = model.transform(x[:50][::-1], refine=True, n_samples=64)[::-1]
    np.testing.assert_allclose(reordered, refined, rtol=0, atol=1e-3)  # float32 sums in another order
    np.testing.assert_allclose(model.transform(x[20:23], refine=True, n_samples=64), refined[20:23], rtol=0, atol=1e-3)
    many = 2**16  # batches of 6 rows at 10 features
    across = model.transform(x[:14], refine=True, n_samples=many)
    np.testing.assert_allclose(model.transform(x[:14][::-1], refine=True, n_samples=many)[::-1], across, atol=1e-3)


@pytest.mark.parametrize("estimator", ["vade", "marginal"])
def test_other_estimators_fit(gmm_data, estimator):
    x = gmm_data[0]
    model = VaDE(pretrain_epochs=1, n_init=1, elbo=estimator, covariance="diag", **FAST).fit(x)
    assert np.isfinite(model.score(x)) and model.covariances_.shape == (4, 2, 2)


def test_vae_pretraining_decreases_its_loss_and_differs_from_autoencoder_pretraining(gmm_data):
    x = gmm_data[0]
    common = dict(epochs=1, pretrain_epochs=10, n_init=1, lr=3e-3, batch_size=64, random_state=0)
    vae_warm = VaDE(pretrain_objective="vae", **common).fit(x)
    ae_warm = VaDE(pretrain_objective="autoencoder", **common).fit(x)
    losses = [record["train_loss"] for record in vae_warm.pretrain_history_]
    assert losses[-1] < losses[0], "the VAE objective decreases during pretraining"
    assert not np.allclose(vae_warm.transform(x), ae_warm.transform(x))
    with pytest.raises(InvalidParameterError, match="pretrain_objective"):
        VaDE(pretrain_objective="pca", **common).fit(x)


def test_kl_annealing_weights_rise_over_the_first_half_and_resume_where_they_were():
    from latentid.models.fitting import _kl_annealing

    weight, hook = _kl_annealing(n_train=100, batch_size=10, epochs=4)  # 10 batches an epoch, ramp of 20
    hook(0, 4)
    first_two_epochs = [weight() for _ in range(20)]
    np.testing.assert_allclose(first_two_epochs, np.arange(1, 21) / 20)
    assert [weight() for _ in range(10)] == [1.0] * 10
    hook(1, 4)  # a warm start resumed at epoch 2 (0-based 1) goes on with that epoch's weights
    np.testing.assert_allclose([weight() for _ in range(10)], np.arange(11, 21) / 20)


def test_annealed_vae_warm_start_differs_from_the_plain_vae_one(gmm_data):
    x = gmm_data[0]
    common = dict(epochs=1, pretrain_epochs=6, n_init=1, lr=3e-3, batch_size=64, random_state=0)
    annealed = VaDE(pretrain_objective="annealed_vae", **common).fit(x)
    plain = VaDE(pretrain_objective="vae", **common).fit(x)
    records = annealed.pretrain_history_
    assert len(records) == 6 and "KL term weighted 0 -> 1" in records[0]["objective"]
    # KL weight near 0 at first: the first epoch's loss is far below the plain VAE's full ELBO
    assert records[0]["train_loss"] < plain.pretrain_history_[0]["train_loss"]
    assert not np.allclose(annealed.transform(x), plain.transform(x))


def test_alternate_warm_start_gives_odd_restarts_the_vae_start_and_even_ones_the_annealed_one(gmm_data, tmp_path):
    import json

    x = gmm_data[0]
    common = dict(epochs=1, pretrain_epochs=2, n_init=1, lr=3e-3, batch_size=64, random_state=0)
    VaDE(pretrain_objective="alternate", n_restarts=3, checkpoint_dir=tmp_path, **common).fit(x)
    records = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    objectives = {r["restart"]: r["objective"] for r in records if r["stage"] == "pretrain"}
    plain, annealed = (PRETRAIN_OBJECTIVES[name] for name in ("vae", "annealed_vae"))
    assert objectives == {1: plain, 2: annealed, 3: plain}
    assert [restart_objective(o, r) for o, r in [("alternate", 4), ("vae", 2), ("annealed_vae", 1)]] == [
        "annealed_vae",
        "vae",
        "annealed_vae",
    ]
