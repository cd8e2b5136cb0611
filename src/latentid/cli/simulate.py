"""``latentid simulate``: draw data from the paper's model class to an .npz file."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from latentid.cli import app
from latentid.cli._common import console, friendly_errors, refuse_flags
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


# The options of the Gaussian-mixture prior default to None on the command line, so that --prior
# standard-normal can refuse them even when typed with their default values; None then means
# SyntheticSpec's own default, shown in --help.
SPEC_DEFAULTS = {name: field.default for name, field in SyntheticSpec.model_fields.items()}


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
    components: int | None = typer.Option(
        None, "--components", help=f"Mixture components K (gmm only) [default: {SPEC_DEFAULTS['components']}]."
    ),
    covariance: Covariance | None = typer.Option(
        None, "--covariance", help=f"Component covariance type (gmm only) [default: {SPEC_DEFAULTS['covariance']}]."
    ),
    weights: Weights | None = typer.Option(
        None, "--weights", help=f"Mixture weights (gmm only) [default: {SPEC_DEFAULTS['weights']}]."
    ),
    mean_scale: float | None = typer.Option(
        None,
        "--mean-scale",
        help=f"Standard deviation of the component means (gmm only) [default: {SPEC_DEFAULTS['mean_scale']}].",
    ),
    activation: Activation = typer.Option(Activation.leaky_relu, "--activation", help="Hidden activation of f."),
    slope: float = typer.Option(0.2, "--slope", help="Negative slope of the leaky ReLU."),
    depth: int = typer.Option(6, "--depth", help="Number of affine layers of f (1 = linear)."),
    hidden_width: int | None = typer.Option(None, "--hidden-width", help="Hidden width, between m and n [default: n]."),
    noise: float = typer.Option(0.01, "--noise", help="Standard deviation of the Gaussian noise (0 allowed)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives a byte-identical file."),
) -> None:
    """Draw x = f(z) + noise, z from a Gaussian mixture (or N(0, I)), f a leaky-ReLU MLP."""
    if prior is Prior.standard_normal:
        refuse_flags(
            {"--components": components, "--covariance": covariance, "--weights": weights, "--mean-scale": mean_scale},
            "--prior standard-normal",
            "the mixture options shape a Gaussian mixture, and this prior is one N(0, I) component",
        )
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
