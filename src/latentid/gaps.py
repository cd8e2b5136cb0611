"""Why a fit falls short of the truth: the likelihood gap of a fitted model on simulated data.

On data whose generator is known, three numbers per sample (nats, the data's own units) place a fit:

- ``true_log_likelihood``: log p(x) under the generator (``latentid.oracle.true_log_likelihood``);
- ``elbo``: the fitted model's training objective (``LatentModel.score_samples``);
- ``iw_bound``: its importance-weighted bound (``LatentModel.iw_bound_samples``), which removes most of
  the encoder's amortisation gap and approaches the fitted model's own log p(x).

``likelihood_gap = true_log_likelihood - max(elbo, iw_bound)``: near 0, the fit explains the data as well
as the truth does (any warping left is one the likelihood cannot see at this sample size); clearly
positive, the fit is a worse model of x than the truth, and better optimisation can still pay.
``amortisation_gap = iw_bound - elbo`` says how much the encoder alone costs the fitted model.
"""

from __future__ import annotations

import numpy as np

from latentid.data.synthetic import SyntheticGenerator
from latentid.models.base import LatentModel

GAP_IW_SAMPLES = 256


def likelihood_gaps(
    model: LatentModel,
    generator: SyntheticGenerator,
    x: np.ndarray,
    *,
    iw_samples: int = GAP_IW_SAMPLES,
    oracle_samples: int = 512,
    random_state: int = 0,
) -> dict[str, float]:
    """Mean per-sample bounds of a fitted ``model`` and the true log p(x) on x (n, n_features).

    Returns a dict with ``true_log_likelihood``, ``true_log_likelihood_se`` (Monte Carlo), ``elbo``,
    ``iw_bound``, ``iw_samples``, ``likelihood_gap`` and ``amortisation_gap`` (see the module docstring).
    """
    truth = generator.log_likelihood(x, n_samples=oracle_samples, random_state=random_state)
    elbo = float(np.mean(model.score_samples(x, random_state=random_state)))
    iw = float(np.mean(model.iw_bound_samples(x, n_samples=iw_samples, random_state=random_state)))
    return {
        "true_log_likelihood": truth.mean,
        "true_log_likelihood_se": truth.se,
        "elbo": elbo,
        "iw_bound": iw,
        "iw_samples": int(iw_samples),
        "likelihood_gap": truth.mean - max(elbo, iw),
        "amortisation_gap": iw - elbo,
    }
