"""scikit-learn's own estimator checks (``check_estimator``) on every estimator that reads x alone.

iVAE is left out: it needs u at fit, which the checks do not pass.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from latentid.models import MFCVAE, PCA, VAE, FastICA, GMMBaseline, VaDE

TINY = {"epochs": 1, "pretrain_epochs": 1, "n_restarts": 1, "device": "cpu", "random_state": 0, "threads": 1}


@parametrize_with_checks(
    [
        PCA(latent_dim=2),
        FastICA(latent_dim=2),
        GMMBaseline(latent_dim=2),
        VaDE(latent_dim=2, n_init=1, **TINY),
        VAE(latent_dim=2, **TINY),
        MFCVAE(facets=[(1, 2), (1, 2)], n_init=1, **TINY),
    ]
)
@pytest.mark.filterwarnings("ignore")
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
