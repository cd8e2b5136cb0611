"""Latent priors as distributions: p(z) = sum_c pi_c N(z; mu_c, Sigma_c), learnable or fixed.

A prior has a discrete component index c (a single component for N(0, I)), so every model reads
the same interface: ``log_joint(z)`` = log p(z, c) for each c, ``log_prob``, ``log_responsibilities``
p(c|z), ``expected_log_joint`` = E_{N(z; m, diag v)}[log p(z, c)] in closed form, ``sample``, and
the natural parameters as numpy (``weights``, ``means``, ``covariances``) for reporting.
All mixture math is in log space; weights go through a softmax and scales through exp/softplus
with a floor, so no component can become degenerate.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

LOG_2PI = math.log(2.0 * math.pi)
VAR_FLOOR = 1e-6  # diagonal covariances: sigma^2 = floor + exp(log-variance)
CHOL_FLOOR = 1e-3  # full covariances: diag(L) = floor + softplus(raw)


def _softplus_inverse(y: Tensor) -> Tensor:
    """x with softplus(x) = y, for y > 0 (stable for large and small y)."""
    return y + torch.log(-torch.expm1(-y))


class Prior(nn.Module):
    """Interface of a latent prior with components; subclasses implement ``_gaussian_terms``."""

    latent_dim: int
    n_components: int

    def _log_weights(self) -> Tensor:
        """log pi, shape (n_components,)."""
        raise NotImplementedError

    def _gaussian_terms(self, mean: Tensor, var: Tensor | None) -> Tensor:
        """log|Sigma_c| + E[(z - mu_c)^T Sigma_c^-1 (z - mu_c)] for z ~ N(mean, diag var); shape (n, K).

        ``var=None`` evaluates at the point z = mean.
        """
        raise NotImplementedError

    def expected_log_joint(self, mean: Tensor, var: Tensor | None = None) -> Tensor:
        """E_{z ~ N(mean, diag var)}[log pi_c + log N(z; mu_c, Sigma_c)], exact; shape (n, K).

        mean, var : Tensor of shape (n, latent_dim). With ``var=None`` this is log p(z=mean, c).
        """
        return self._log_weights() - 0.5 * (self.latent_dim * LOG_2PI + self._gaussian_terms(mean, var))

    def log_joint(self, z: Tensor) -> Tensor:
        """log p(z, c) for every component; z of shape (n, latent_dim) -> (n, n_components)."""
        return self.expected_log_joint(z, None)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = logsumexp_c log p(z, c); shape (n,)."""
        return torch.logsumexp(self.log_joint(z), dim=-1)

    def log_responsibilities(self, z: Tensor) -> Tensor:
        """log p(c | z), normalised in log space; shape (n, n_components). Finite for any finite z."""
        joint = self.log_joint(z)
        return joint - torch.logsumexp(joint, dim=-1, keepdim=True)

    def scale_tril(self) -> Tensor:
        """Cholesky factors L_c of the covariances; shape (K, latent_dim, latent_dim)."""
        raise NotImplementedError

    def component_means(self) -> Tensor:
        """mu_c; shape (K, latent_dim)."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw (z, c): z of shape (n, latent_dim), c of shape (n,) int64."""
        means = self.component_means().detach()
        probs = self._log_weights().exp().detach()
        c = torch.multinomial(probs, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=means.device, dtype=means.dtype)
        scale = self.scale_tril().detach()[c]  # (n, m, m)
        z = means[c] + torch.einsum("nij,nj->ni", scale, eps)
        return z, c

    @property
    def weights(self) -> np.ndarray:
        """Mixture weights pi, ndarray of shape (n_components,)."""
        return self._log_weights().detach().exp().cpu().double().numpy()

    @property
    def means(self) -> np.ndarray:
        """Component means, ndarray of shape (n_components, latent_dim)."""
        return self.component_means().detach().cpu().double().numpy()

    @property
    def covariances(self) -> np.ndarray:
        """Component covariances, ndarray of shape (n_components, latent_dim, latent_dim)."""
        tril = self.scale_tril().detach().cpu().double()
        return (tril @ tril.transpose(-1, -2)).numpy()


class StandardNormalPrior(Prior):
    """The fixed isotropic prior N(0, I) of a vanilla VAE: one component, no parameters."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.n_components = 1
        self.register_buffer("_anchor", torch.zeros(1, latent_dim))  # carries device and dtype

    def _log_weights(self) -> Tensor:
        return self._anchor.new_zeros(1)

    def _gaussian_terms(self, mean: Tensor, var: Tensor | None) -> Tensor:
        quad = mean.pow(2).sum(-1, keepdim=True)
        return quad if var is None else quad + var.sum(-1, keepdim=True)

    def scale_tril(self) -> Tensor:
        return torch.eye(self.latent_dim, device=self._anchor.device, dtype=self._anchor.dtype).unsqueeze(0)

    def component_means(self) -> Tensor:
        return self._anchor


class MixturePrior(Prior):
    """A learnable Gaussian mixture with ``covariance`` 'diag' or 'full'.

    Parameters: ``logits`` (K,) -> pi = softmax(logits); ``loc`` (K, m);
    diag: ``log_var`` (K, m) -> sigma^2 = VAR_FLOOR + exp(log_var);
    full: ``tril_raw`` (K, m, m) strictly-lower part and ``diag_raw`` (K, m) ->
    L = tril(tril_raw, -1) + diag(CHOL_FLOOR + softplus(diag_raw)), Sigma = L L^T.
    """

    def __init__(self, latent_dim: int, n_components: int, covariance: str = "full") -> None:
        super().__init__()
        if covariance not in ("diag", "full"):
            raise ValueError(f"covariance must be 'diag' or 'full'; got {covariance!r}")
        self.latent_dim = int(latent_dim)
        self.n_components = int(n_components)
        self.covariance = covariance
        k, m = self.n_components, self.latent_dim
        self.logits = nn.Parameter(torch.zeros(k))
        self.loc = nn.Parameter(torch.zeros(k, m))
        if covariance == "diag":
            self.log_var = nn.Parameter(torch.zeros(k, m))
        else:
            self.tril_raw = nn.Parameter(torch.zeros(k, m, m))
            self.diag_raw = nn.Parameter(_softplus_inverse(torch.full((k, m), 1.0 - CHOL_FLOOR)))

    def _log_weights(self) -> Tensor:
        return torch.log_softmax(self.logits, dim=-1)

    def component_means(self) -> Tensor:
        return self.loc

    def variances(self) -> Tensor:
        """Diagonal covariances, shape (K, m) (diag only)."""
        return VAR_FLOOR + self.log_var.exp()

    def scale_tril(self) -> Tensor:
        if self.covariance == "diag":
            return torch.diag_embed(self.variances().sqrt())
        diag = CHOL_FLOOR + F.softplus(self.diag_raw)
        return torch.tril(self.tril_raw, diagonal=-1) + torch.diag_embed(diag)

    def _gaussian_terms(self, mean: Tensor, var: Tensor | None) -> Tensor:
        diff = mean.unsqueeze(1) - self.loc  # (n, K, m)
        if self.covariance == "diag":
            prec = 1.0 / self.variances()  # (K, m)
            terms = self.variances().log().sum(-1) + torch.einsum("nkm,km->nk", diff.pow(2), prec)
            return terms if var is None else terms + var @ prec.T
        tril = self.scale_tril()
        eye = torch.eye(self.latent_dim, device=tril.device, dtype=tril.dtype).expand_as(tril)
        tril_inv = torch.linalg.solve_triangular(tril, eye, upper=False)  # (K, m, m): L_c^-1
        white = torch.einsum("kij,nkj->nki", tril_inv, diff)  # L_c^-1 (mean - mu_c)
        log_det = 2.0 * torch.diagonal(tril, dim1=-2, dim2=-1).log().sum(-1)  # (K,)
        terms = log_det + white.pow(2).sum(-1)
        if var is None:
            return terms
        # tr(Sigma_c^-1 diag(v)) = sum_ij (L_c^-1)_ij^2 v_j
        return terms + torch.einsum("kij,nj->nk", tril_inv.pow(2), var)

    @torch.no_grad()
    def set_parameters(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        """Set pi, mu, Sigma from numpy (e.g. a GaussianMixture fit); diag takes (K, m) variances.

        weights : (K,); means : (K, m); covariances : (K, m) for 'diag', (K, m, m) for 'full'.
        """
        dev = self.loc.device
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float64).clamp_min(1e-12)
        self.logits.copy_(w.log().to(dev))
        self.loc.copy_(torch.as_tensor(np.asarray(means), dtype=torch.float32, device=dev))
        cov = torch.as_tensor(np.asarray(covariances), dtype=torch.float64)
        if self.covariance == "diag":
            self.log_var.copy_((cov - VAR_FLOOR).clamp_min(1e-12).log().to(dev))
            return
        tril = torch.linalg.cholesky(cov)
        diag = torch.diagonal(tril, dim1=-2, dim2=-1)
        self.tril_raw.copy_(torch.tril(tril, diagonal=-1).to(dev))
        self.diag_raw.copy_(_softplus_inverse((diag - CHOL_FLOOR).clamp_min(1e-6)).to(dev))


PRIORS = {"standard_normal": StandardNormalPrior, "mixture": MixturePrior}
