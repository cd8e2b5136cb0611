"""MFC-VAE (Falck et al. 2021): several facets, each its own latent block z_j, mixture prior and label c_j.

p(z) = prod_j sum_{c_j} pi_{j,c_j} N(z_j; mu_{j,c_j}, Sigma_{j,c_j}) (``ProductPrior``), the same encoder,
decoder, likelihood and loop as VaDE. The mean-field ELBO's prior term is the sum over facets of each
facet's logsumexp, i.e. q(c_j|x) = p(c_j | z_j) per facet in log space; with one facet it is VaDE's ELBO.
The product is itself a Gaussian mixture with prod_j K_j components (block-diagonal covariances), which
is how ``explain`` reads a fitted MFC-VAE (levels 1-2 of the hierarchy).

Warm start: pretraining as in VaDE, then one GaussianMixture per facet on that facet's block of the
encoder means. Optional schedules: KL warm-up (the prior and entropy terms weighted by epoch /
``kl_warmup_epochs``) and progressive training (facet j >= 1 fades into the decoder's input over epochs
[j P, (j + 1) P), P = ``progressive_epochs``), as in Falck et al.; held-out scores always use the full bound.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from latentid._warnings import caller_stacklevel
from latentid.errors import InvalidParameterError, LatentIDWarning
from latentid.models import params as P
from latentid.models.base import COMMON_CONSTRAINTS, LatentModel, probabilities
from latentid.models.elbo import elbo
from latentid.models.mixture_init import fit_gmm
from latentid.models.networks import LatentModule
from latentid.models.priors import Prior, ProductPrior, block_slices
from latentid.models.saved_params import fitted_facets


class MFCVAE(LatentModel):
    """Multi-facet clustering VAE: one latent block and one Gaussian-mixture prior per facet.

    Parameters
    ----------
    facets : list of (latent_dim_j, n_components_j), one pair per facet; z has sum_j latent_dim_j dims.
    covariance : 'full' or 'diag', every facet's component covariances.
    progressive_epochs : int, P above; 0 (default) trains every facet from the start.
    kl_warmup_epochs : int, epochs over which the KL part of the bound grows linearly from 0 to 1; 0: none.
    Every other parameter is VaDE's (see ``VaDE``) but for ``init_selection``, which MFC-VAE lacks; ``prior_lr``,
    ``n_init`` and the warm start apply per facet.

    Attributes
    ----------
    latent_dim : int, sum of the facets' latent dims. ``facet_slices_`` : list of slices, facet j's columns
    of ``transform``'s output. ``predict`` returns one label column per facet, (n_samples, J);
    ``predict_proba`` a list of J arrays (n_samples, K_j). ``weights_``, ``means_``, ``covariances_``
    describe the joint mixture (prod_j K_j components, C order over (c_1, ..., c_J)); the rest as VaDE.
    """

    _parameter_constraints = {
        **{k: v for k, v in COMMON_CONSTRAINTS.items() if k != "latent_dim"},
        "facets": [P.FACETS],
        "covariance": [P.Options(("diag", "full"))],
        "prior_lr": [P.Interval(float, 0.0, None, "neither"), P.NONE],
        "n_init": [P.Interval(int, 1)],
        "pretrain_objective": [P.Options(("vae", "autoencoder", "annealed_vae", "alternate"))],
        "progressive_epochs": [P.Interval(int, 0)],
        "kl_warmup_epochs": [P.Interval(int, 0)],
    }

    def __init__(
        self,
        facets=((2, 4), (2, 4)),
        *,
        covariance: str = "full",
        progressive_epochs: int = 0,
        kl_warmup_epochs: int = 0,
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
        prior_lr: float | None = None,
        lr_schedule: str = "cosine",
        pretrain_epochs: int = 100,
        pretrain_objective: str = "vae",
        n_init: int = 5,
        n_restarts: int = 3,
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
        self.facets = facets
        self.covariance = covariance
        self.progressive_epochs = progressive_epochs
        self.kl_warmup_epochs = kl_warmup_epochs
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
        self.prior_lr = prior_lr
        self.lr_schedule = lr_schedule
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_objective = pretrain_objective
        self.n_init = n_init
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

    # ------------------------------------------------------------------ facets
    @property
    def latent_dim(self) -> int:
        """Total latent dimension, sum_j latent_dim_j."""
        return int(sum(int(m) for m, _ in self.facets))

    @property
    def facet_slices_(self) -> list[slice]:
        """Facet j's columns of the latent space (of ``transform``'s output), as fitted (set_params changes the
        facets of the next fit only)."""
        return block_slices([m for m, _ in fitted_facets(self)])

    def _min_train_samples(self) -> int:
        return max(2, *(int(k) for _, k in self.facets))

    def _check_fit_data(self, X: np.ndarray) -> None:
        if self.latent_dim > X.shape[1]:  # said in the facets' terms: MFCVAE has no latent_dim parameter
            raise InvalidParameterError(
                f"The facets of MFCVAE have {self.latent_dim} latent dimensions in all (facets={self.facets!r}), "
                f"more than n_features = {X.shape[1]}, the data's columns. "
                "Use smaller facets or data with more features."
            )
        super()._check_fit_data(X)

    # ------------------------------------------------------------------ hooks
    def _make_prior(self, n_aux: int, generator: torch.Generator) -> Prior:
        self._train_epoch = None  # a fresh module starts a fresh schedule
        return ProductPrior([(int(m), int(k)) for m, k in self.facets], self.covariance)

    def _init_prior(self, module: LatentModule, z: np.ndarray, seed: int, aux: np.ndarray | None = None) -> None:
        """One GaussianMixture per facet on its block of the encoder means z (n, latent_dim), seeded."""
        seeds = np.random.SeedSequence(seed).generate_state(len(self.facets))
        module.prior.set_parameters(
            [
                fit_gmm(z[:, block], int(k), self.covariance, self.n_init, int(s))
                for block, (_, k), s in zip(self.facet_slices_, self.facets, seeds, strict=True)
            ]
        )

    def _check_schedules(self) -> None:
        """Warn of schedules that end after the fit: a facet that never fully enters the decoder, or a KL term never
        at full weight, ends it on another objective than the ELBO. A warning, not a refusal: a fit begun with such
        a schedule (before this check) resumes as it began, and a study's stored run can be refitted."""
        n_facets, epochs = len(self.facets), self.epochs
        if self.progressive_epochs > 0 and n_facets > 1 and n_facets * self.progressive_epochs > epochs - 1:
            most = (epochs - 1) // n_facets
            lower = f"lower progressive_epochs to at most {most}" if most > 0 else "drop progressive_epochs"
            warnings.warn(
                f"progressive_epochs={self.progressive_epochs} brings the last of the {n_facets} facets fully into "
                f"the decoder only at epoch {n_facets * self.progressive_epochs}, past the fit's {epochs} epochs "
                f"(counted from 0), so the fit ends before it trains as the model; {lower}, or fit for more than "
                f"{n_facets * self.progressive_epochs} epochs.",
                LatentIDWarning,
                stacklevel=caller_stacklevel(),
            )
        if self.kl_warmup_epochs > 0 and self.kl_warmup_epochs > epochs - 1:
            lower = f"lower kl_warmup_epochs to at most {epochs - 1}" if epochs > 1 else "drop kl_warmup_epochs"
            warnings.warn(
                f"kl_warmup_epochs={self.kl_warmup_epochs} reaches the KL term's full weight only at epoch "
                f"{self.kl_warmup_epochs}, past the fit's {epochs} epochs (counted from 0), so the fit ends on a "
                f"tempered bound, not the ELBO; {lower}, or fit for more epochs.",
                LatentIDWarning,
                stacklevel=caller_stacklevel(),
            )

    def _epoch_start(self, epoch: int, n_epochs: int) -> None:
        self._train_epoch = epoch

    def schedule(self, epoch: int) -> tuple[float, np.ndarray]:
        """(kl_weight, decoder gate (latent_dim,)) at 0-based training ``epoch``; (1, ones) when both are off."""
        kl_weight = 1.0 if self.kl_warmup_epochs == 0 else min(1.0, epoch / self.kl_warmup_epochs)
        gate = np.ones(self.latent_dim, dtype=np.float32)
        if self.progressive_epochs > 0:
            for j, block in enumerate(self.facet_slices_):
                if j > 0:
                    gate[block] = np.clip((epoch - j * self.progressive_epochs) / self.progressive_epochs, 0.0, 1.0)
        return kl_weight, gate

    def _loss(self, module: LatentModule, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        epoch = getattr(self, "_train_epoch", None)
        if module.training and epoch is not None:
            kl_weight, gate = self.schedule(epoch)
            if kl_weight < 1.0 or gate.min() < 1.0:
                gate_t = torch.as_tensor(gate, device=x.device, dtype=x.dtype)
                return -elbo(module, x, generator, self.elbo, kl_weight=kl_weight, decoder_gate=gate_t)
        return super()._loss(module, x, generator)

    def fit(self, X, y=None, u=None) -> MFCVAE:
        """Fit to X (n_samples, n_features); ``y`` is ignored and a ``u`` is refused (only IVAE reads one).
        Returns self."""
        self._validate_params()
        self._check_schedules()
        try:
            return super().fit(X, u=u)
        finally:
            self._train_epoch = None

    # ------------------------------------------------------------------ fitted API, per facet
    @torch.no_grad()
    def predict_proba(self, X, u=None) -> list[np.ndarray]:
        """p(c_j | z_j) at the encoder mean, per facet: a list of J arrays (n_samples, K_j)."""
        x = self._prepare(X, u)
        mean = self._batched(lambda b: self.module_.encoder(b)[0], x)
        return [probabilities(p) for p in self.module_.prior.facet_log_responsibilities(mean)]

    def predict(self, X, u=None) -> np.ndarray:
        """The most probable component of each facet; ndarray (n_samples, J) int64."""
        return np.stack([p.argmax(axis=1) for p in self.predict_proba(X, u)], axis=1).astype(np.int64)

    def sample(self, n_samples: int = 1, random_state=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw x (n, n_features), z (n, latent_dim) and the facet labels c (n, J) int64."""
        x, z, joint = super().sample(n_samples, random_state)
        shape = tuple(k for _, k in fitted_facets(self))
        return x, z, np.stack(np.unravel_index(joint, shape), axis=1).astype(np.int64)
