"""Choosing the starting mixture without labels: by likelihood or by consensus across seeds."""

from __future__ import annotations

import numpy as np
import pytest

from latentid.errors import InvalidParameterError
from latentid.models import VaDE, load_model
from latentid.models.mixture_init import consensus_index, fit_gmm


def test_consensus_picks_the_clustering_the_others_agree_with():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    relabelled = (truth + 1) % 3  # the same partition under other names
    noisy = truth.copy()
    noisy[:60] = rng.integers(0, 3, 60)  # mostly the same partition
    other = rng.integers(0, 3, 300)  # an unrelated partition
    assert consensus_index([other, truth, noisy, relabelled]) in (1, 3)
    # truth and relabelled agree equally with everyone: the score breaks the tie.
    assert consensus_index([other, truth, noisy, relabelled], scores=np.array([0.0, 1.0, 5.0, 2.0])) == 3
    assert consensus_index([other]) == 0


def test_fit_gmm_by_consensus_recovers_separated_components():
    rng = np.random.default_rng(1)
    means = np.array([[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    z = means[rng.integers(0, 3, 3000)] + rng.standard_normal((3000, 2))
    for selection in ("likelihood", "consensus"):
        weights, found, covariances = fit_gmm(z, 3, "diag", 4, seed=0, selection=selection)
        order = np.argsort(found[:, 0] + 0.1 * found[:, 1])
        assert np.allclose(found[order], means[[0, 1, 2]], atol=0.2)
        assert weights.shape == (3,) and covariances.shape == (3, 2)
    with pytest.raises(ValueError, match="selection must be one of"):
        fit_gmm(z, 3, "diag", 2, seed=0, selection="bic")
    # the largest seed a restart can draw: its n_init seeds wrap around rather than leave scikit-learn's range
    assert fit_gmm(z[:300], 3, "diag", 3, seed=2**32 - 1, selection="consensus")[1].shape == (3, 2)


def test_vade_takes_init_selection_and_keeps_it(gmm_data, tmp_path):
    x, _, _ = gmm_data
    with pytest.raises(InvalidParameterError, match="init_selection"):
        VaDE(init_selection="best").fit(x)
    model = VaDE(
        latent_dim=2, n_components=4, init_selection="consensus", n_init=3, epochs=1, pretrain_epochs=1,
        n_restarts=1, hidden_dims=[8], random_state=0,
    ).fit(x)  # fmt: skip
    model.save(tmp_path / "m")
    assert load_model(tmp_path / "m").init_selection == "consensus"
