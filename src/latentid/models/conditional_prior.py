"""iVAE's prior: p(z | u) = N(mu(u), diag lambda(u)), conditioned on an observed auxiliary variable u.

``ConditionalGaussianPrior`` holds the network u -> (mu, log lambda); it is a distribution only once
``given(u)`` binds a batch of u, which returns a ``RowGaussianPrior``: one diagonal Gaussian per
row, read through the same ``Prior`` interface as the unconditional priors (one component), so
the ELBO, the importance-weighted bound and the training loop need no iVAE-specific code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from latentid.errors import InvalidParameterError
from latentid.models.networks import mlp
from latentid.models.priors import VAR_FLOOR, Prior

LOG_VAR_RANGE = (-12.0, 8.0)  # lambda(u) stays within [6e-6, 3e3]: no degenerate prior component


class RowGaussianPrior(Prior):
    """N(loc[i], diag var[i]) for row i of a batch; loc, var (b, m). Rows of z may repeat the batch
    S times (sample-major, as the ELBO and IW bound lay out S draws), shape (S * b, m)."""

    def __init__(self, loc: Tensor, var: Tensor) -> None:
        super().__init__()
        self.loc, self.var = loc, var
        self.latent_dim = loc.shape[1]
        self.n_components = 1

    def _rows(self, n: int) -> tuple[Tensor, Tensor]:
        repeats = n // self.loc.shape[0]
        if repeats * self.loc.shape[0] != n:
            raise ValueError(f"{n} rows of z do not repeat a batch of {self.loc.shape[0]} priors")
        return self.loc.repeat(repeats, 1), self.var.repeat(repeats, 1)

    def _log_weights(self) -> Tensor:
        return self.loc.new_zeros(1)

    def _gaussian_terms(self, mean: Tensor, var: Tensor | None) -> Tensor:
        loc, prior_var = self._rows(mean.shape[0])
        terms = prior_var.log().sum(-1) + ((mean - loc).pow(2) / prior_var).sum(-1)
        if var is not None:
            terms = terms + (var / prior_var).sum(-1)
        return terms.unsqueeze(-1)

    def component_means(self) -> Tensor:
        return self.loc

    def scale_tril(self) -> Tensor:
        return torch.diag_embed(self.var.sqrt())

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """One draw per row: z (b, m) and c (b,) zeros; ``n`` must equal the batch size."""
        if n != self.loc.shape[0]:
            raise InvalidParameterError(f"this prior holds {self.loc.shape[0]} rows of u; asked for {n} samples.")
        eps = torch.randn(self.loc.shape, generator=generator, device=self.loc.device, dtype=self.loc.dtype)
        return self.loc + self.var.sqrt() * eps, torch.zeros(n, dtype=torch.int64, device=self.loc.device)


class ConditionalGaussianPrior(Prior):
    """The learnable map u (b, aux_dim) -> p(z | u) = N(mu(u), diag lambda(u)) over z (b, latent_dim).

    ``hidden`` empty makes both maps linear in u, i.e. a lookup table of one mean and one variance
    vector per category when u is one-hot (the iVAE of discrete labels).
    """

    def __init__(
        self,
        aux_dim: int,
        latent_dim: int,
        hidden: Sequence[int],
        activation: str,
        slope: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.aux_dim = int(aux_dim)
        self.latent_dim = int(latent_dim)
        self.n_components = 1
        self.net = mlp((self.aux_dim, *hidden, 2 * self.latent_dim), activation, slope, generator)

    def given(self, u: Tensor | None) -> RowGaussianPrior:
        if u is None:
            raise InvalidParameterError("an iVAE's prior p(z | u) needs u: pass the auxiliary variable.")
        loc, raw = self.net(u).chunk(2, dim=-1)
        return RowGaussianPrior(loc, VAR_FLOOR + raw.clamp(*LOG_VAR_RANGE).exp())

    def _unbound(self, *_args, **_kwargs):
        raise InvalidParameterError(
            "an iVAE's prior p(z | u) is a distribution only given u; call prior.given(u) first."
        )

    _log_weights = _gaussian_terms = component_means = scale_tril = sample = _unbound
