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

    def expected_log_marginal(self, mean: Tensor, var: Tensor | None = None) -> Tensor:
        """logsumexp_c of ``expected_log_joint``: the exact mean-field prior term; shape (n,).

        With ``var=None`` this is log p(z=mean). Subclasses whose components factorise compute it without
        enumerating every component (``ProductPrior``).
        """
        return torch.logsumexp(self.expected_log_joint(mean, var), dim=-1)

    def log_joint(self, z: Tensor) -> Tensor:
        """log p(z, c) for every component; z of shape (n, latent_dim) -> (n, n_components)."""
        return self.expected_log_joint(z, None)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = logsumexp_c log p(z, c); shape (n,)."""
        return self.expected_log_marginal(z, None)

    def given(self, u: Tensor | None) -> Prior:
        """The prior of the rows of a batch given their auxiliary variables u (b, aux_dim).

        An unconditional prior ignores u and returns itself; a conditional one (iVAE) returns a
        prior with one component per row.
        """
        return self

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


def block_slices(dims: list[int]) -> list[slice]:
    """Consecutive column slices of widths ``dims``: [2, 1] -> [slice(0, 2), slice(2, 3)]."""
    stops = np.cumsum([int(d) for d in dims])
    return [slice(int(stop - int(d)), int(stop)) for stop, d in zip(stops, dims, strict=True)]


class ProductPrior(Prior):
    """p(z) = prod_j p_j(z_j): one ``MixturePrior`` per facet on its block of z (MFC-VAE).

    Itself a Gaussian mixture with prod_j K_j components (block-diagonal covariances), the joint
    component index c = (c_1, ..., c_J) in C order (``numpy.ravel_multi_index``). The joint view
    (``log_joint``, ``scale_tril``, ``weights``...) enumerates the components; ``expected_log_marginal``
    (the ELBO's prior term and ``log_prob``) and ``facet_log_responsibilities`` never do.
    """

    def __init__(self, facets: list[tuple[int, int]], covariance: str = "full") -> None:
        super().__init__()
        self.facet_shapes = [(int(m), int(k)) for m, k in facets]
        self.facets = nn.ModuleList(MixturePrior(m, k, covariance) for m, k in self.facet_shapes)
        self.blocks = block_slices([m for m, _ in self.facet_shapes])
        self.latent_dim = self.blocks[-1].stop
        self.n_components = int(np.prod([k for _, k in self.facet_shapes]))

    def _per_facet(self, mean: Tensor, var: Tensor | None) -> list[Tensor]:
        """Each facet's expected_log_joint on its block; a list of (n, K_j)."""
        return [
            facet.expected_log_joint(mean[:, block], None if var is None else var[:, block])
            for facet, block in zip(self.facets, self.blocks, strict=True)
        ]

    @staticmethod
    def _outer_sum(parts: list[Tensor]) -> Tensor:
        """(n, K_1), ..., (n, K_J) -> (n, K_1 * ... * K_J): a_1[c_1] + ... + a_J[c_J] in C order."""
        total = parts[0]
        for part in parts[1:]:
            total = (total.unsqueeze(-1) + part.unsqueeze(1)).reshape(total.shape[0], -1)
        return total

    def expected_log_joint(self, mean: Tensor, var: Tensor | None = None) -> Tensor:
        return self._outer_sum(self._per_facet(mean, var))

    def expected_log_marginal(self, mean: Tensor, var: Tensor | None = None) -> Tensor:
        return sum(torch.logsumexp(part, dim=-1) for part in self._per_facet(mean, var))

    def facet_log_responsibilities(self, z: Tensor) -> list[Tensor]:
        """log p(c_j | z_j) per facet: a list of (n, K_j), each normalised in log space."""
        return [part - torch.logsumexp(part, dim=-1, keepdim=True) for part in self._per_facet(z, None)]

    def _log_weights(self) -> Tensor:
        return self._outer_sum([facet._log_weights().unsqueeze(0) for facet in self.facets])[0]

    def _joint_index(self) -> list[Tensor]:
        """For each facet, its component in every joint component (C order); J tensors of shape (K,)."""
        grids = torch.meshgrid(*(torch.arange(k) for _, k in self.facet_shapes), indexing="ij")
        return [g.reshape(-1) for g in grids]

    def component_means(self) -> Tensor:
        index = self._joint_index()
        return torch.cat([facet.loc[i] for facet, i in zip(self.facets, index, strict=True)], dim=-1)

    def scale_tril(self) -> Tensor:
        index = self._joint_index()
        first = self.facets[0].loc
        tril = first.new_zeros(self.n_components, self.latent_dim, self.latent_dim)
        for facet, i, block in zip(self.facets, index, self.blocks, strict=True):
            tril[:, block, block] = facet.scale_tril()[i]  # block-diagonal
        return tril

    @torch.no_grad()
    def set_parameters(self, facet_parameters: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Set every facet's (weights, means, covariances); see ``MixturePrior.set_parameters``."""
        for facet, (weights, means, covariances) in zip(self.facets, facet_parameters, strict=True):
            facet.set_parameters(weights, means, covariances)


PRIORS = {"standard_normal": StandardNormalPrior, "mixture": MixturePrior, "product": ProductPrior}
