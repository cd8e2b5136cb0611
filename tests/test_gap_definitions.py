"""likelihood_gaps and amortisation_gap_at_truth against their definitions: each figure recomputed from the
model's and the generator's own per-sample methods. A mutation study found the sign of the amortisation gap, the
true log-likelihood's standard error and the at-truth ELBO's mean unguarded (tests checked only that keys exist)."""

import numpy as np
import pytest
import torch

import latentid.gaps as gaps
from latentid.data.synthetic import SyntheticSpec
from latentid.models import VaDE


@pytest.fixture(scope="module")
def fitted():
    gen = SyntheticSpec.create(latent_dim=2, obs_dim=4, components=3, depth=2, noise=0.1, seed=2).build()
    x = gen.sample(300).x
    model = VaDE(2, 3, epochs=3, pretrain_epochs=1, n_restarts=1, batch_size=64, random_state=0).fit(x)
    return gen, model, x[:80]


def test_likelihood_gaps_are_the_differences_of_the_models_and_the_generators_own_figures(fitted):
    gen, model, x = fitted
    out = gaps.likelihood_gaps(model, gen, x, iw_samples=32, oracle_samples=64, random_state=3)
    truth = gen.log_likelihood(x, n_samples=64, random_state=3)
    elbo = float(np.mean(model.score_samples(x, random_state=3)))
    iw = float(np.mean(model.iw_bound_samples(x, n_samples=32, random_state=3)))
    assert out["true_log_likelihood"] == pytest.approx(truth.mean)
    assert out["true_log_likelihood_se"] == pytest.approx(truth.se)  # the mean's se, not a row's
    assert truth.se < float(np.mean(truth.per_sample_se))
    assert (out["elbo"], out["iw_bound"], out["iw_samples"]) == (pytest.approx(elbo), pytest.approx(iw), 32)
    assert out["amortisation_gap"] == pytest.approx(iw - elbo) and out["amortisation_gap"] > 0  # IW >= ELBO
    assert out["likelihood_gap"] == pytest.approx(truth.mean - max(elbo, iw))


def test_the_elbo_at_the_truth_is_the_mean_over_the_rows(monkeypatch):
    gen = SyntheticSpec.create(depth=2, noise=0.05, seed=1).build()
    per_row = []
    real_elbo = gaps.elbo

    def recording(module, x, generator, **kwargs):
        value = real_elbo(module, x, generator, **kwargs)
        per_row.append(value.detach().numpy().copy())
        return value

    monkeypatch.setattr(gaps, "elbo", recording)
    x_train, x_eval = gen.sample(300, random_state=1).x, gen.sample(60, random_state=2).x
    out = gaps.amortisation_gap_at_truth(gen, x_train, x_eval, epochs=1)
    evaluated = per_row[-1]  # the last call: the held-out rows, after training
    assert evaluated.shape == (60,) and evaluated.std() > 0
    assert out["elbo"] == pytest.approx(float(evaluated.mean()), rel=1e-6)


def test_the_gap_at_the_truth_trains_its_encoder_under_the_callers_no_grad():
    gen = SyntheticSpec.create(depth=2, noise=0.05, seed=1).build()
    x = gen.sample(200, random_state=1).x
    with torch.no_grad():
        out = gaps.amortisation_gap_at_truth(gen, x, x[:40], epochs=1)
        assert not torch.is_grad_enabled()
    assert np.isfinite(out["elbo"])
