"""Estimators (scikit-learn API, torch inside) and their parts: priors, networks, likelihoods, ELBO."""

from latentid.models.base import LatentModel
from latentid.models.ivae import IVAE
from latentid.models.linear import PCA, FastICA, GMMBaseline, LinearModel
from latentid.models.loading import load_model
from latentid.models.mfcvae import MFCVAE
from latentid.models.priors import MixturePrior, Prior, ProductPrior, StandardNormalPrior
from latentid.models.vade import VaDE
from latentid.models.vae import VAE

__all__ = [
    "PCA",
    "FastICA",
    "GMMBaseline",
    "LinearModel",
    "IVAE",
    "MFCVAE",
    "VAE",
    "LatentModel",
    "MixturePrior",
    "Prior",
    "ProductPrior",
    "StandardNormalPrior",
    "VaDE",
    "load_model",
]
