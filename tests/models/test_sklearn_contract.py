"""scikit-learn's own estimator checks (``check_estimator``) on every estimator that reads x alone.

iVAE is left out: it needs u at fit, which the checks do not pass.
"""

from __future__ import annotations

import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from latentid.models import MFCVAE, PCA, VAE, FastICA, GMMBaseline, VaDE

TINY = {"epochs": 1, "pretrain_epochs": 1, "n_restarts": 1, "device": "cpu", "random_state": 0, "threads": 1}


ESTIMATORS = [
    PCA(latent_dim=2),
    FastICA(latent_dim=2),
    GMMBaseline(latent_dim=2),
    VaDE(latent_dim=2, n_init=1, **TINY),
    VAE(latent_dim=2, **TINY),
    MFCVAE(facets=[(1, 2), (1, 2)], n_init=1, **TINY),
]
# scikit-learn's checks of get_feature_names_out and set_output, which parametrize_with_checks does not yield.
OUTPUT_CHECKS = (
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_get_feature_names_out_error",
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
)


@parametrize_with_checks(ESTIMATORS)
@pytest.mark.filterwarnings("ignore")
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("check", OUTPUT_CHECKS)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda est: type(est).__name__)
@pytest.mark.filterwarnings("ignore")
def test_feature_names_out_and_set_output(estimator, check):
    getattr(estimator_checks, check)(type(estimator).__name__, clone(estimator))
