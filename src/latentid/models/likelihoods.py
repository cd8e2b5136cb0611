"""Observation models p(x | f(z)): isotropic Gaussian (fixed or learned scale) and Bernoulli.

The decoder output f is the Gaussian mean, or the Bernoulli logits (the decoder's last layer
stays linear either way; the sigmoid lives here, so the decoder remains piecewise affine).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from latentid.models.priors import _softplus_inverse

LOG_2PI = math.log(2.0 * math.pi)
SCALE_FLOOR = 1e-3  # a learned noise scale never goes below this (in standardised units)


class Likelihood(nn.Module):
    """Interface: ``log_prob(x, f)`` sums over the last axis; ``sample``; ``reconstruction_loss``."""

    def log_prob(self, x: Tensor, f: Tensor) -> Tensor:
        """log p(x | f); x and f broadcast to (..., n_features) -> (...)."""
        raise NotImplementedError

    def sample(self, f: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draw x ~ p(x | f); same shape as f."""
        raise NotImplementedError

    def mean(self, f: Tensor) -> Tensor:
        """E[x | f]; same shape as f."""
        raise NotImplementedError

    def reconstruction_loss(self, x: Tensor, f: Tensor) -> Tensor:
        """A scale-free reconstruction error for autoencoder pretraining; shape (n,)."""
        raise NotImplementedError

    def init_from_residuals(self, x: Tensor, f: Tensor) -> None:
        """Warm start a learned parameter from reconstructions (no-op when nothing is learned)."""

    def fisher_diag(self, f: Tensor) -> Tensor:
        """Diagonal Fisher information of p(x | f) in f, E[-d^2 log p / df^2]; broadcastable to f's shape."""
        raise NotImplementedError


class GaussianLikelihood(Likelihood):
    """x | f ~ N(f, sigma^2 I); ``noise_scale=None`` learns sigma = SCALE_FLOOR + softplus(raw)."""

    def __init__(self, noise_scale: float | None = None) -> None:
        super().__init__()
        self.learned = noise_scale is None
        if self.learned:
            self.raw_scale = nn.Parameter(_softplus_inverse(torch.tensor(1.0 - SCALE_FLOOR)))
        else:
            self.register_buffer("fixed_scale", torch.tensor(float(noise_scale)))

    def scale(self) -> Tensor:
        """sigma, a 0-d tensor."""
        return SCALE_FLOOR + F.softplus(self.raw_scale) if self.learned else self.fixed_scale

    def log_prob(self, x: Tensor, f: Tensor) -> Tensor:
        sigma = self.scale()
        n = f.shape[-1]
        return -0.5 * ((x - f) / sigma).pow(2).sum(-1) - n * (sigma.log() + 0.5 * LOG_2PI)

    def sample(self, f: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return f + self.scale() * torch.randn(f.shape, generator=generator, device=f.device, dtype=f.dtype)

    def mean(self, f: Tensor) -> Tensor:
        return f

    def reconstruction_loss(self, x: Tensor, f: Tensor) -> Tensor:
        return 0.5 * (x - f).pow(2).sum(-1)

    def fisher_diag(self, f: Tensor) -> Tensor:
        return (1.0 / self.scale().pow(2)).expand_as(f)

    @torch.no_grad()
    def init_from_residuals(self, x: Tensor, f: Tensor) -> None:
        if self.learned:
            rms = (x - f).pow(2).mean().sqrt().clamp_min(2 * SCALE_FLOOR)
            self.raw_scale.copy_(_softplus_inverse(rms - SCALE_FLOOR))


class BernoulliLikelihood(Likelihood):
    """x | f ~ Bernoulli(sigmoid(f)) per feature, for data in [0, 1] (grey levels act as soft labels)."""

    def log_prob(self, x: Tensor, f: Tensor) -> Tensor:
        x, f = torch.broadcast_tensors(x, f)
        return -F.binary_cross_entropy_with_logits(f, x, reduction="none").sum(-1)

    def sample(self, f: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(torch.sigmoid(f), generator=generator)

    def mean(self, f: Tensor) -> Tensor:
        return torch.sigmoid(f)

    def reconstruction_loss(self, x: Tensor, f: Tensor) -> Tensor:
        return -self.log_prob(x, f)

    def fisher_diag(self, f: Tensor) -> Tensor:
        p = torch.sigmoid(f)
        return p * (1.0 - p)


def make_likelihood(name: str, noise_scale: float | None) -> Likelihood:
    """'gaussian' (fixed or learned scale) or 'bernoulli'."""
    if name == "gaussian":
        return GaussianLikelihood(noise_scale)
    return BernoulliLikelihood()
