"""``latentid simulate``: draw data from the paper's model class to an .npz file."""

from __future__ import annotations

import re
import time
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from latentid.cli import app
from latentid.cli._common import FORCE_HELP, console, friendly_errors, refuse_existing, refuse_flags
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


FACETS_FORMAT = "comma-separated latent_dim:components pairs of positive integers, e.g. '2:3,2:4'"
FACETS_HELP = (
    "MFC-VAE facets as latent_dim:components pairs, e.g. '2:3,2:4': z = (z_1, ..., z_J), one Gaussian mixture "
    "per facet, the prior their product."
)
_FACET = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*", re.ASCII)


MIN_SAMPLES = 2


def parse_facets(text: str) -> tuple[tuple[int, int], ...]:
    """'2:3,2:4' -> ((2, 3), (2, 4)); anything else is one InvalidParameterError naming --facets."""
    matches = [_FACET.fullmatch(part) for part in text.split(",")]
    pairs = [(int(match[1]), int(match[2])) for match in matches if match is not None]
    if len(pairs) != len(matches) or any(min(pair) < 1 for pair in pairs):
        raise InvalidParameterError(f"--facets must be {FACETS_FORMAT}; got '{text}'.")
    return tuple(pairs)


def facets_from_options(
    facets: str | None, *, latent_dim: int | None, components: int | None, prior: Prior
) -> tuple[tuple[int, int], ...] | None:
    """Parse --facets and refuse what contradicts it: --components, --prior standard-normal and a
    --latent-dim other than the sum of the facets' dimensions. None when --facets is not given."""
    if facets is None:
        return None
    parsed = parse_facets(facets)
    refuse_flags(
        {"--components": components, "--prior standard-normal": prior if prior is Prior.standard_normal else None},
        "--facets",
        "each facet has its own Gaussian mixture and number of components (the joint count is their product)",
    )
    total = sum(m for m, _ in parsed)
    if latent_dim is not None and latent_dim != total:
        raise InvalidParameterError(
            f"--latent-dim ({latent_dim}) must equal the sum of the latent dimensions given by --facets ({total}); "
            "drop --latent-dim or fix it."
        )
    return parsed


def refuse_mixture_options(prior: Prior | None, **mixture) -> None:
    """With --prior standard-normal, refuse the Gaussian mixture's options that were given (not None):
    components, covariance, weights, mean_scale."""
    if prior is Prior.standard_normal:
        refuse_flags(
            {f"--{name.replace('_', '-')}": value for name, value in mixture.items()},
            "--prior standard-normal",
            "the mixture options shape a Gaussian mixture, and this prior is one N(0, I) component",
        )


def describe_facets(spec: SyntheticSpec) -> str:
    """'2 facets (dim:components) 2:3, 2:4 -> 12 joint components' for summaries."""
    listed = ", ".join(f"{m}:{k}" for m, k in spec.facets or ())
    n = len(spec.facets or ())
    return (
        f"{n} facet{'' if n == 1 else 's'} (dim:components) {listed} -> {spec.components} joint "
        f"component{'' if spec.components == 1 else 's'}"
    )


def spec_from_options(**options) -> SyntheticSpec:
    """Build a validated spec from CLI option values (Enums unwrapped, None means default)."""
    values = {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items() if v is not None}
    return SyntheticSpec.create(**values)


@app.command()
@friendly_errors
def simulate(
    out: Path = typer.Option(..., "--out", help="Output .npz file (x, z, c and the generator)."),
    samples: int = typer.Option(20_000, "--samples", help="Number of samples."),
    latent_dim: int | None = typer.Option(
        None,
        "--latent-dim",
        help=f"Latent dimension m [default: {SPEC_DEFAULTS['latent_dim']}; with --facets the sum of theirs].",
    ),
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
    slope: float | None = typer.Option(
        None, "--slope", help=f"Negative slope of the leaky ReLU (leaky-relu only) [default: {SPEC_DEFAULTS['slope']}]."
    ),
    depth: int = typer.Option(6, "--depth", help="Number of affine layers of f (1 = linear)."),
    hidden_width: int | None = typer.Option(None, "--hidden-width", help="Hidden width, between m and n [default: n]."),
    noise: float = typer.Option(0.01, "--noise", help="Standard deviation of the Gaussian noise (0 allowed)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives a byte-identical file."),
    facets: str | None = typer.Option(None, "--facets", help=FACETS_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Draw x = f(z) + noise, z from a Gaussian mixture (or N(0, I), or a product of per-facet mixtures),
    f a leaky-ReLU MLP."""
    parsed_facets = facets_from_options(facets, latent_dim=latent_dim, components=components, prior=prior)
    refuse_mixture_options(prior, components=components, covariance=covariance, weights=weights, mean_scale=mean_scale)
    if activation is not Activation.leaky_relu:
        refuse_flags({"--slope": slope}, f"--activation {activation.value}", "only a leaky ReLU has a negative slope")
    if depth == 1:
        refuse_flags({"--hidden-width": hidden_width}, "--depth 1", "a linear f has no hidden layer")
    if samples < MIN_SAMPLES:  # every reader refuses fewer (validate_matrix): refuse before writing
        raise InvalidParameterError(
            f"--samples must be >= {MIN_SAMPLES}: the file would hold too few samples to read back. Got {samples}."
        )
    if out.suffix != ".npz":
        raise InvalidParameterError(f"--out must name an .npz file; got '{out}'.")
    refuse_existing(out, force)
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
        facets=parsed_facets,
    )
    start = time.perf_counter()
    generator = spec.build()
    data = generator.sample(samples)
    save_simulation(out, generator, data, replace=force)
    mixture = describe_facets(spec) if spec.facets is not None else f"{spec.components} component(s)"
    console.print(
        f"Wrote {samples:,} samples (x: {data.x.shape[1]}-D, z: {data.z.shape[1]}-D, "
        f"{mixture}) to [bold]{escape(str(out))}[/] in {time.perf_counter() - start:.1f} s."
    )
