"""The vanilla VAE: the same networks, likelihoods and loop as VaDE, with a fixed N(0, I) prior.

Identifiable at best up to an orthogonal map (and only when the data really come from an isotropic
prior). The prior has one component, so there is nothing to cluster: the model has no ``predict`` or
``predict_proba`` (``hasattr`` is False).
"""

from __future__ import annotations

import torch

from latentid.models.base import COMMON_CONSTRAINTS, LatentModel
from latentid.models.priors import Prior, StandardNormalPrior


class VAE(LatentModel):
    """Variational autoencoder with prior N(0, I); the parameters are VaDE's without the mixture ones.

    ``pretrain_epochs`` defaults to 0 (a plain VAE) and ``n_restarts`` to 1; the ELBO's KL term is analytic
    ('mean_field').
    See ``VaDE`` for the meaning of every parameter and fitted attribute.
    """

    _HAS_CLUSTERS = False  # no mixture: no predict / predict_proba

    _parameter_constraints = dict(COMMON_CONSTRAINTS)

    def __init__(
        self,
        latent_dim: int = 2,
        *,
        hidden_dims=None,
        encoder_dims=None,
        activation: str = "leaky_relu",
        slope: float = 0.2,
        likelihood: str = "gaussian",
        noise_scale: float | None = None,
        elbo: str = "mean_field",
        inference: str = "amortized",
        refine_steps: int = 3,
        iw_samples: int = 1,
        epochs: int = 200,
        batch_size: int | str = "auto",
        lr: float = 1e-3,
        lr_schedule: str = "cosine",
        pretrain_epochs: int = 0,
        n_restarts: int = 1,
        patience: int | None = 30,
        tol: float = 0.0,
        validation_fraction: float = 0.1,
        standardize: bool = True,
        device: str = "auto",
        threads: int | None = None,
        checkpoint_dir=None,
        resume: bool = False,
        pretrained=None,
        callback=None,
        random_state=None,
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.encoder_dims = encoder_dims
        self.activation = activation
        self.slope = slope
        self.likelihood = likelihood
        self.noise_scale = noise_scale
        self.elbo = elbo
        self.inference = inference
        self.refine_steps = refine_steps
        self.iw_samples = iw_samples
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.pretrain_epochs = pretrain_epochs
        self.n_restarts = n_restarts
        self.patience = patience
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.device = device
        self.threads = threads
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.pretrained = pretrained
        self.callback = callback
        self.random_state = random_state

    def _make_prior(self, n_aux: int, generator: torch.Generator) -> Prior:
        return StandardNormalPrior(self.latent_dim)
