"""Estimators (scikit-learn API, torch inside) and their parts: priors, networks, likelihoods, ELBO."""

from latentid.models.base import LatentModel, load_model
from latentid.models.priors import MixturePrior, Prior, StandardNormalPrior
from latentid.models.vade import VaDE
from latentid.models.vae import VAE

__all__ = ["VAE", "LatentModel", "MixturePrior", "Prior", "StandardNormalPrior", "VaDE", "load_model"]
