"""``latentid explain``: which level of the identifiability hierarchy applies, and why."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from latentid.cli import app
from latentid.cli._common import console, friendly_errors, print_json, refuse_flags, unicode_ok
from latentid.cli.simulate import (
    FACETS_HELP,
    SPEC_DEFAULTS,
    Activation,
    Covariance,
    Prior,
    Weights,
    facets_from_options,
    refuse_mixture_options,
)
from latentid.data.mixing import ACTIVATIONS, normalise_activation
from latentid.data.real import is_real_dataset_name
from latentid.data.synthetic import SyntheticGenerator
from latentid.errors import InvalidParameterError, LatentIDError
from latentid.explaining import describe_generator, explain_dataset, explain_model, explain_spec
from latentid.models.ivae import RARE_LABEL_WARNING
from latentid.runs import load_run
from latentid.theory import Verdict, assess

MARKS = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]–[/]", "warning": "[yellow]![/]"}
ASCII_MARKS = {True: "[green]ok[/]", False: "[red]x[/]", None: "[dim]-[/]", "warning": "[yellow]![/]"}
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
    marks = MARKS if unicode_ok(console) else ASCII_MARKS
    table.add_column("assumption")
    table.add_column("numeric reason")
    for check in verdict.checks:
        if check.warning:
            table.add_row(marks["warning"], check.name, f"{check.detail}; warning: {check.warning}")
        else:
            table.add_row(marks[check.passed], check.name, check.detail)
    if verdict.checks:
        console.print(table)
    bullet = "•" if unicode_ok(console) else "-"
    for note in verdict.notes:
        console.print(f"{bullet} {note}")


def _with_fit_warnings(verdict: Verdict, info: dict) -> Verdict:
    """The verdict on a fitted model, with a note for each inactive-dimension warning its fit recorded in
    run.json (the level holds for the fitted model, but a fit that uses fewer dimensions than it has says
    next to nothing about z along the others), and for iVAE's warning of labels with few rows."""
    recorded = [w for w in info.get("warnings") or [] if isinstance(w, str)]
    notes = [
        f"Warning (recorded at fit time): {w} The level above is the fitted model's; along inactive dimensions "
        "its latents carry next to no information about x."
        for w in recorded
        if "inactive" in w
    ]
    notes += [  # iVAE: a label's prior row that (nearly) nothing trained still counts as a component above
        f"Warning (recorded at fit time): {w}" for w in recorded if w.startswith(RARE_LABEL_WARNING)
    ]
    return dataclasses.replace(verdict, notes=[*verdict.notes, *notes]) if notes else verdict


def _with_data_level(verdict: Verdict, info: dict) -> Verdict:
    """The verdict on a fitted model, with a note where the file it was fitted on records a generator of a lower
    level: the model's guarantee is for data of its own class, and a diagonal VaDE fitted to full-covariance data
    (level 2) recovers their z up to an affine map at best, whatever its own level 3 says."""
    path = (info.get("data") or {}).get("path")
    if verdict.level not in ("2", "3") or not isinstance(path, str) or not path.lower().endswith(".npz"):
        return verdict  # only `latentid simulate` files (.npz) record a generator: no other file is read
    try:  # the generator's arrays alone, not x: its level is the file's
        with np.load(path, allow_pickle=False) as archive:
            if "spec_json" not in archive.files:
                return verdict
            generator = SyntheticGenerator.from_arrays(
                {key: archive[key] for key in archive.files if key not in ("x", "z", "c", "u")}, source=path
            )
        data_level = assess(*describe_generator(generator)).level
    except (OSError, ValueError, LatentIDError):  # unreadable, or a generator that cannot be read: no comparison
        return verdict
    if data_level not in ("1", "2") or int(data_level) >= int(verdict.level):
        return verdict
    note = (
        f"The data this model was fitted on ({path}) come from a generator of level {data_level}: the model's level "
        f"{verdict.level} holds for data of its own class, and on these z is recovered up to "
        f"{'an affine map' if data_level == '2' else 'its distribution, up to an affine map'} at best."
    )
    return dataclasses.replace(verdict, notes=[*verdict.notes, note])


@app.command()
@friendly_errors
def explain(
    data: Path | None = typer.Option(
        None, "--data", help="A dataset written by 'latentid simulate' (its generator is what is judged)."
    ),
    run: Path | None = typer.Option(None, "--run", help="A run folder from 'latentid fit': the fitted model's level."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    # The setting's flags default to None, so that --data and --run can refuse them even when typed with
    # their default value; None then means simulate's default, shown in --help.
    latent_dim: int | None = typer.Option(
        None, "--latent-dim", help=f"[default: {SPEC_DEFAULTS['latent_dim']}; with --facets the sum of theirs]"
    ),
    obs_dim: int | None = typer.Option(None, "--obs-dim", help=f"[default: {SPEC_DEFAULTS['obs_dim']}]"),
    prior: Prior | None = typer.Option(None, "--prior", help=f"[default: {SPEC_DEFAULTS['prior']}]"),
    components: int | None = typer.Option(
        None, "--components", help=f"[default: {SPEC_DEFAULTS['components']}; refused with --facets]"
    ),
    covariance: Covariance | None = typer.Option(
        None, "--covariance", help=f"[default: {SPEC_DEFAULTS['covariance']}]"
    ),
    weights: Weights | None = typer.Option(None, "--weights", help=f"[default: {SPEC_DEFAULTS['weights']}]"),
    mean_scale: float | None = typer.Option(None, "--mean-scale", help=f"[default: {SPEC_DEFAULTS['mean_scale']}]"),
    activation: str | None = typer.Option(
        None,
        "--activation",
        help=f"One of {', '.join(ACTIVATIONS)} [default: {Activation.leaky_relu.value}].",
    ),
    output_activation: str | None = typer.Option(
        None, "--output-activation", help="Activation of f's last layer [default: linear]."
    ),
    slope: float | None = typer.Option(None, "--slope", help=f"[default: {SPEC_DEFAULTS['slope']}]"),
    depth: int | None = typer.Option(None, "--depth", help=f"[default: {SPEC_DEFAULTS['depth']}]"),
    hidden_width: int | None = typer.Option(None, "--hidden-width", help="[default: --obs-dim]"),
    seed: int | None = typer.Option(None, "--seed", help=f"[default: {SPEC_DEFAULTS['seed']}]"),
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
    setting = {
        "latent_dim": latent_dim,
        "obs_dim": obs_dim,
        "prior": prior,
        "components": components,
        "covariance": covariance,
        "weights": weights,
        "mean_scale": mean_scale,
        "activation": activation,
        "output_activation": output_activation,
        "slope": slope,
        "depth": depth,
        "hidden_width": hidden_width,
        "seed": seed,
        "facets": facets,
    }
    if data is not None or run is not None:
        refuse_flags(
            {f"--{name.replace('_', '-')}": value for name, value in setting.items()},
            "--data" if data is not None else "--run",
            "the setting flags describe a setting to judge, and "
            + ("--data judges the file's own generator" if data is not None else "--run judges the fitted model"),
        )
    if run is not None:
        loaded = load_run(run)
        verdict = _with_fit_warnings(explain_model(loaded.model), loaded.info)
        verdict, source = _with_data_level(verdict, loaded.info), f"fitted model in {run}"
    elif data is not None:
        if is_real_dataset_name(data):
            raise InvalidParameterError(
                f"explain --data needs a file written by 'latentid simulate'; the generator of {data} is unknown, "
                "so no guarantee can be read off the data. Fit a model on it and run 'latentid explain --run RUN'."
            )
        verdict, source = explain_dataset(data), str(data)
    else:
        parsed = facets_from_options(facets, latent_dim=latent_dim, components=components, prior=prior)
        if activation is not None and normalise_activation(activation) != "leaky-relu":  # as simulate refuses it
            refuse_flags({"--slope": slope}, f"--activation {activation}", "only a leaky ReLU has a negative slope")
        if depth == 1:  # as simulate refuses it
            refuse_flags({"--hidden-width": hidden_width}, "--depth 1", "a linear f has no hidden layer")
        refuse_mixture_options(
            prior, components=components, covariance=covariance, weights=weights, mean_scale=mean_scale
        )
        given = {k: (v.value if isinstance(v, Enum) else v) for k, v in setting.items() if v is not None}
        options = {
            name: given.get(name, SPEC_DEFAULTS[name])
            for name in ("obs_dim", "prior", "covariance", "weights", "mean_scale", "slope", "depth", "seed")
        }
        options["hidden_width"] = hidden_width
        options["latent_dim"] = latent_dim  # None: the spec's default, or the facets' sum
        if options["obs_dim"] < 1:  # fewer observed than latent dimensions is a setting to explain; none is not
            raise InvalidParameterError(f"--obs-dim must be >= 1. Got {obs_dim} instead.")
        if parsed is not None:  # the joint number of components follows from the facets
            options["facets"] = parsed
        else:
            options["components"] = SPEC_DEFAULTS["components"] if components is None else components
            options["latent_dim"] = SPEC_DEFAULTS["latent_dim"] if latent_dim is None else latent_dim
        verdict = explain_spec(
            options,
            activation=Activation.leaky_relu.value if activation is None else activation,
            output_activation="linear" if output_activation is None else output_activation,
        )
        source = "setting given by flags"
    if as_json:
        print_json({"source": source, **verdict.to_dict()})
    else:
        render(verdict, source)
