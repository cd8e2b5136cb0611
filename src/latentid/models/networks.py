"""MLP encoder and decoder builders, and the module that holds a whole model.

The decoder is theory-faithful by default: a leaky-ReLU MLP with a *linear* output layer whose
widths never shrink from ``latent_dim`` to ``n_features`` (every hidden width is ``n_features``),
so with full-rank weights it is injective (level 2 of the hierarchy). Other widths or activations
are allowed; ``latentid.explain`` then reports which guarantee is left.
Weights are initialised from an explicit torch.Generator, never from the global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from latentid.models.cpu_linear import Linear
from latentid.models.likelihoods import Likelihood
from latentid.models.priors import Prior

# Hidden layers of the default decoder (and of the mirrored encoder). 5 hidden layers (6 affine maps) match
# the depth of the default simulation; on it VaDE's affine R^2 rose from 0.71 +- 0.06 (depth 4) to 0.74 +- 0.01
# over 3 seeds at 20k samples, at about the same cost (benchmarks/vade_quality.py).
DEFAULT_DEPTH = 5
LOGVAR_RANGE = (-30.0, 15.0)  # encoder log-variances are clamped here: no 0 or inf variances

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


def default_decoder_widths(latent_dim: int, n_features: int, depth: int = DEFAULT_DEPTH) -> tuple[int, ...]:
    """Hidden widths m <= n_1 <= ... <= n (all ``n_features``): the widest injective choice."""
    return (max(latent_dim, n_features),) * depth


def make_activation(name: str, slope: float) -> nn.Module:
    """An activation module from its name; ``slope`` is the leaky-ReLU negative slope."""
    return nn.LeakyReLU(slope) if name == "leaky_relu" else ACTIVATIONS[name]()


def _linear(n_in: int, n_out: int, slope: float, generator: torch.Generator) -> nn.Linear:
    """A Linear layer with He-uniform weights for a leaky ReLU of ``slope`` and small uniform biases."""
    layer = torch.nn.utils.skip_init(Linear, n_in, n_out)  # no draw from the global RNG
    with torch.no_grad():
        nn.init.kaiming_uniform_(layer.weight, a=slope, nonlinearity="leaky_relu", generator=generator)
        bound = 1.0 / math.sqrt(n_in)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def mlp(
    widths: Sequence[int], activation: str, slope: float, generator: torch.Generator, final_activation: bool = False
) -> nn.Sequential:
    """Linear -> act -> ... -> Linear through ``widths`` (input first); the output is linear by default."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(_linear(n_in, n_out, slope, generator))
        if final_activation or i < len(widths) - 2:
            layers.append(make_activation(activation, slope))
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """q(z|x) = N(mean(x), diag exp(logvar(x))): an MLP trunk and two linear heads."""

    def __init__(
        self,
        n_features: int,
        latent_dim: int,
        hidden: Sequence[int],
        activation: str,
        slope: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        widths = (n_features, *hidden)
        self.trunk = mlp(widths, activation, slope, generator, final_activation=True) if hidden else nn.Identity()
        self.mean = _linear(widths[-1], latent_dim, slope, generator)
        self.logvar = _linear(widths[-1], latent_dim, slope, generator)
        with torch.no_grad():  # start near unit posterior variances
            self.logvar.weight.mul_(0.01)
            self.logvar.bias.zero_()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (n, n_features) -> (mean, logvar), each (n, latent_dim)."""
        h = self.trunk(x)
        return self.mean(h), self.logvar(h).clamp(*LOGVAR_RANGE)


def build_decoder(
    latent_dim: int, n_features: int, hidden: Sequence[int], activation: str, slope: float, generator: torch.Generator
) -> nn.Sequential:
    """f: R^latent_dim -> R^n_features, an MLP with a linear output layer (Linear layers in order)."""
    return mlp((latent_dim, *hidden, n_features), activation, slope, generator)


class LatentModule(nn.Module):
    """Encoder, decoder, prior and likelihood of one model, plus the data standardisation.

    ``x_shift`` (n_features,) and ``x_scale`` (scalar) map data to the model's space:
    x_model = (x - x_shift) / x_scale. One global scale keeps isotropic noise isotropic.

    A model with an observed auxiliary variable (iVAE) has ``n_aux`` > 0: its batches are
    [x_model, u] of shape (b, n_features + n_aux), its encoder reads the whole row and its prior
    is conditioned on u (``observed_and_prior``). Every other model has ``n_aux`` = 0.
    """

    def __init__(
        self, encoder: GaussianEncoder, decoder: nn.Sequential, prior: Prior, likelihood: Likelihood, n_aux: int = 0
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.prior = prior
        self.likelihood = likelihood
        self.n_aux = int(n_aux)
        n_features = decoder[-1].out_features
        self.register_buffer("x_shift", torch.zeros(n_features))
        self.register_buffer("x_scale", torch.ones(()))

    def observed_and_prior(self, batch: Tensor) -> tuple[Tensor, Prior]:
        """Split a batch (b, n_features + n_aux) into x (b, n_features) and the prior of its rows."""
        if not self.n_aux:
            return batch, self.prior
        n_features = self.x_shift.shape[0]
        return batch[:, :n_features], self.prior.given(batch[:, n_features:])

    def standardize(self, x: Tensor) -> Tensor:
        """Data space -> model space; shape kept."""
        return (x - self.x_shift) / self.x_scale

    def unstandardize(self, x: Tensor) -> Tensor:
        """Model space -> data space; shape kept."""
        return x * self.x_scale + self.x_shift
