"""``latentid explain``: which level of the identifiability hierarchy applies, and why."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from latentid.cli import app
from latentid.cli._common import console, friendly_errors, print_json
from latentid.cli.simulate import (
    FACETS_HELP,
    SPEC_DEFAULTS,
    Activation,
    Covariance,
    Prior,
    Weights,
    facets_from_options,
)
from latentid.data.real import is_real_dataset_name
from latentid.errors import InvalidParameterError
from latentid.explaining import explain_dataset, explain_model, explain_spec
from latentid.runs import load_run
from latentid.theory import Verdict

MARKS = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]–[/]", "warning": "[yellow]![/]"}
LEVEL_TITLES = {
    "3": "Level 3",
    "2": "Level 2",
    "1": "Level 1",
    "vanilla": "Vanilla (single Gaussian component)",
    "none": "Outside the theory",
}


def render(verdict: Verdict, source: str) -> None:
    console.print(f"[bold]{escape(source)}[/]")
    console.print(
        f"[bold]{LEVEL_TITLES[verdict.level]}[/]: identifiable up to {verdict.equivalence}"
        if verdict.level != "none"
        else f"[bold red]{LEVEL_TITLES['none']}[/]: {verdict.equivalence}"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("", width=2)
    table.add_column("assumption")
    table.add_column("numeric reason")
    for check in verdict.checks:
        if check.warning:
            table.add_row(MARKS["warning"], check.name, f"{check.detail}; warning: {check.warning}")
        else:
            table.add_row(MARKS[check.passed], check.name, check.detail)
    if verdict.checks:
        console.print(table)
    for note in verdict.notes:
        console.print(f"• {note}")


@app.command()
@friendly_errors
def explain(
    data: Path | None = typer.Option(
        None, "--data", help="A dataset written by 'latentid simulate' (its generator is what is judged)."
    ),
    run: Path | None = typer.Option(None, "--run", help="A run folder from 'latentid fit': the fitted model's level."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    latent_dim: int | None = typer.Option(
        None, "--latent-dim", help=f"[default: {SPEC_DEFAULTS['latent_dim']}; with --facets the sum of theirs]"
    ),
    obs_dim: int = typer.Option(10, "--obs-dim"),
    prior: Prior = typer.Option(Prior.gmm, "--prior"),
    components: int | None = typer.Option(
        None, "--components", help=f"[default: {SPEC_DEFAULTS['components']}; refused with --facets]"
    ),
    covariance: Covariance = typer.Option(Covariance.full, "--covariance"),
    weights: Weights = typer.Option(Weights.uniform, "--weights"),
    mean_scale: float = typer.Option(2.0, "--mean-scale"),
    activation: str = typer.Option(
        Activation.leaky_relu.value, "--activation", help="leaky-relu, relu, tanh, sigmoid or linear."
    ),
    output_activation: str = typer.Option("linear", "--output-activation", help="Activation of f's last layer."),
    slope: float = typer.Option(0.2, "--slope"),
    depth: int = typer.Option(6, "--depth"),
    hidden_width: int | None = typer.Option(None, "--hidden-width"),
    seed: int = typer.Option(0, "--seed"),
    facets: str | None = typer.Option(None, "--facets", help=FACETS_HELP),
) -> None:
    """Which identifiability guarantee a setting (flags), a dataset or a fitted run has, assumption by assumption.

    --json prints one object, keys in this order: source; level (3, 2 or 1, null for vanilla and none);
    level_name ("3", "2", "1", "vanilla" or "none"); in_theory; equivalence; checks, each {name, passed
    (true/false/null), detail (the sentence), figures (the numbers the sentence quotes, by name), warning
    (null, or why a passed check is shown with "!" instead of a tick)}; notes.
    """
    if data is not None and run is not None:
        raise InvalidParameterError("give --data or --run, not both.")
    if run is not None:
        verdict, source = explain_model(load_run(run).model), f"fitted model in {run}"
    elif data is not None:
        if is_real_dataset_name(data):
            raise InvalidParameterError(
                f"explain --data needs a file written by 'latentid simulate'; the generator of {data} is unknown, "
                "so no guarantee can be read off the data. Fit a model on it and run 'latentid explain --run RUN'."
            )
        verdict, source = explain_dataset(data), str(data)
    else:
        if obs_dim < 1:  # fewer observed than latent dimensions is a setting to explain; none at all is not
            raise InvalidParameterError(f"--obs-dim must be >= 1. Got {obs_dim} instead.")
        parsed = facets_from_options(facets, latent_dim=latent_dim, components=components, prior=prior)
        options = {
            "latent_dim": latent_dim,  # None: the spec's default, or the facets' sum
            "obs_dim": obs_dim,
            "prior": prior.value,
            "covariance": covariance.value,
            "weights": weights.value,
            "mean_scale": mean_scale,
            "slope": slope,
            "depth": depth,
            "hidden_width": hidden_width,
            "seed": seed,
        }
        if parsed is not None:  # the joint number of components follows from the facets
            options["facets"] = parsed
        else:
            options["components"] = SPEC_DEFAULTS["components"] if components is None else components
            options["latent_dim"] = SPEC_DEFAULTS["latent_dim"] if latent_dim is None else latent_dim
        verdict = explain_spec(options, activation=activation, output_activation=output_activation)
        source = "setting given by flags"
    if as_json:
        print_json({"source": source, **verdict.to_dict()})
    else:
        render(verdict, source)
