"""``latentid simulate``: draw data from the paper's model class to an .npz file."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from latentid.cli import app
from latentid.cli._common import console, friendly_errors
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.errors import InvalidParameterError


class Prior(str, Enum):
    gmm = "gmm"
    standard_normal = "standard-normal"


class Covariance(str, Enum):
    full = "full"
    diag = "diag"
    isotropic = "isotropic"


class Weights(str, Enum):
    uniform = "uniform"
    dirichlet = "dirichlet"


class Activation(str, Enum):
    leaky_relu = "leaky-relu"
    relu = "relu"
    tanh = "tanh"


def spec_from_options(**options) -> SyntheticSpec:
    """Build a validated spec from CLI option values (Enums unwrapped, None means default)."""
    values = {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items() if v is not None}
    return SyntheticSpec.create(**values)


@app.command()
@friendly_errors
def simulate(
    out: Path = typer.Option(..., "--out", help="Output .npz file (x, z, c and the generator)."),
    samples: int = typer.Option(20_000, "--samples", help="Number of samples."),
    latent_dim: int = typer.Option(2, "--latent-dim", help="Latent dimension m."),
    obs_dim: int = typer.Option(10, "--obs-dim", help="Observed dimension n (>= m)."),
    prior: Prior = typer.Option(Prior.gmm, "--prior", help="Gaussian mixture, or one N(0, I) component."),
    components: int = typer.Option(4, "--components", help="Number of mixture components K."),
    covariance: Covariance = typer.Option(Covariance.full, "--covariance", help="Component covariance type."),
    weights: Weights = typer.Option(Weights.uniform, "--weights", help="Mixture weights."),
    mean_scale: float = typer.Option(2.0, "--mean-scale", help="Standard deviation of the component means."),
    activation: Activation = typer.Option(Activation.leaky_relu, "--activation", help="Hidden activation of f."),
    slope: float = typer.Option(0.2, "--slope", help="Negative slope of the leaky ReLU."),
    depth: int = typer.Option(6, "--depth", help="Number of affine layers of f (1 = linear)."),
    hidden_width: int | None = typer.Option(None, "--hidden-width", help="Hidden width, between m and n [default: n]."),
    noise: float = typer.Option(0.01, "--noise", help="Standard deviation of the Gaussian noise (0 allowed)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives a byte-identical file."),
) -> None:
    """Draw x = f(z) + noise, z from a Gaussian mixture (or N(0, I)), f a leaky-ReLU MLP."""
    if samples < 1:
        raise InvalidParameterError(f"--samples must be >= 1. Got {samples} instead.")
    if out.suffix != ".npz":
        raise InvalidParameterError(f"--out must name an .npz file; got '{out}'.")
    spec = spec_from_options(
        latent_dim=latent_dim,
        obs_dim=obs_dim,
        prior=prior,
        components=components,
        covariance=covariance,
        weights=weights,
        mean_scale=mean_scale,
        activation=activation,
        slope=slope,
        depth=depth,
        hidden_width=hidden_width,
        noise=noise,
        seed=seed,
    )
    start = time.perf_counter()
    generator = spec.build()
    data = generator.sample(samples)
    save_simulation(out, generator, data)
    console.print(
        f"Wrote {samples:,} samples (x: {data.x.shape[1]}-D, z: {data.z.shape[1]}-D, "
        f"{spec.components} component(s)) to [bold]{escape(str(out))}[/] in {time.perf_counter() - start:.1f} s."
    )
