"""``latentid evaluate``: identifiability (and clustering) metrics for learned latents.

Thin: reads the files, calls :func:`latentid.metrics.evaluate_latents` (the one implementation)
and prints a table or JSON. The latents come from ``--latents`` or from a run folder
(``--run RUN_DIR``: a trained model's posterior means, and its predicted components as labels).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from latentid.cli import app
from latentid.cli._common import (
    DATA_DIR_HELP,
    DATA_HELP,
    SPLIT_HELP,
    Split,
    console,
    friendly_errors,
    load_data,
    print_json,
)
from latentid.data.io import read_dataset
from latentid.data.synthetic import SyntheticGenerator, SyntheticSpec, facet_blocks
from latentid.errors import DataFileError, InvalidParameterError
from latentid.gaps import likelihood_gaps
from latentid.metrics import evaluate_latents
from latentid.metrics.report import metric_description
from latentid.runs import DEEP_MODELS, check_data_for_run, load_run

CLUSTERING_MODELS = ("vade", "mfcvae", "gmm")  # the run models whose predict() gives clusters

# Keys shown around the table rather than as rows.
_NOT_ROWS = ("source", "scored_on", "split_note", "cluster_scored_on")
_BOOKKEEPING = ("cca_components", "latent_dim_true", "latent_dim_learned", "n_fit", "n_eval", "split", "seed")


def _read_array(path: Path, option: str) -> np.ndarray:
    """An array from ``path``: .npy directly (never unpickled); other formats through ``read_dataset`` (its x)."""
    if not path.exists():
        raise DataFileError(f"{path}: no such file. Check the path given to {option}.")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a file; {option} needs a file.")
    if path.suffix.lower() != ".npy":
        return read_dataset(path).x
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # corrupt file, pickled objects, ...: one readable line
        raise DataFileError(
            f"{path}: could not read the .npy file given to {option} ({type(exc).__name__}: {exc})."
        ) from exc


def _learned_latents(latents: Path | None, run: Path | None, dataset, refine: bool, seed: int):
    """The learned latents z_hat of shape (n_samples, m_hat), from a run its predicted labels, and the run."""
    if (latents is None) == (run is None):
        raise InvalidParameterError(
            "give exactly one source of learned latents: --latents Z.npy (an (n_samples, m_hat) array) "
            "or --run RUN_DIR (a folder written by 'latentid fit')."
        )
    if latents is not None:
        return _read_array(latents, "--latents"), None, None
    loaded = load_run(run)
    check_data_for_run(loaded, dataset)
    name = loaded.info.get("model")
    if refine and name not in DEEP_MODELS:
        raise InvalidParameterError(f"--refine does not apply to a {name} run: it has no decoder to refine with.")
    inputs = loaded.inputs(dataset)
    z_hat = loaded.model.transform(dataset.x, refine=refine or None, random_state=seed, **inputs)  # None: model's
    labels = loaded.model.predict(dataset.x, **inputs) if name in CLUSTERING_MODELS else None
    return z_hat, labels, loaded


def _facet_blocks(dataset) -> list[slice] | None:
    """The true facets' latent columns when the data file was simulated with facets, else None."""
    if "spec_json" not in dataset.extras:
        return None
    spec = SyntheticSpec.model_validate_json(str(dataset.extras["spec_json"]))
    return facet_blocks(spec) if spec.facets else None


def _gaps(loaded, dataset, seed: int) -> dict:
    """The likelihood-gap keys when the data file carries its generator with noise > 0, else {}.

    Only for a deep model of x alone: a linear floor has no such bound, and iVAE's bound is of p(x | u).
    """
    if loaded is None or "spec_json" not in dataset.extras:
        return {}
    if loaded.info.get("model") not in DEEP_MODELS or loaded.info.get("aux") is not None:
        return {}
    generator = SyntheticGenerator.from_arrays(dataset.extras, source=dataset.source)
    if not generator.noise > 0:
        return {}
    return likelihood_gaps(loaded.model, generator, dataset.x, random_state=seed)


def _read_labels(path: Path) -> np.ndarray:
    """Predicted labels of shape (n_samples,); a single-column (n, 1) array is flattened."""
    arr = _read_array(path, "--labels")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr


def _format(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return "n/a" if not math.isfinite(value) else f"{value:.4f}"


def _table(result: dict) -> Table:
    table = Table(
        title=f"latentid evaluate: {escape(str(result.get('source', '')))}",
        caption=result.get("split_note", ""),
        caption_justify="left",
    )
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("what it measures")
    table.add_column("scored on")
    rows = [key for key in result if key not in _NOT_ROWS]
    # Scores first, then the bookkeeping (dimensions, split sizes, seed).
    rows.sort(key=lambda key: key in _BOOKKEEPING)
    for key in rows:
        what, where = metric_description(key)
        table.add_row(key, _format(result[key]), what, where)
    return table


@app.command("evaluate")
@friendly_errors
def evaluate(
    data: str = typer.Option(..., "--data", help="The data the latents belong to; needs 'z' and/or 'c'. " + DATA_HELP),
    data_split: Split | None = typer.Option(
        None, "--data-split", help=SPLIT_HELP + " (--split here is the alignment share.)"
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    latents: Path | None = typer.Option(
        None, "--latents", help="Learned latents (posterior means), shape (n_samples, m_hat): .npy, or a file's 'x'."
    ),
    run: Path | None = typer.Option(
        None, "--run", help="A run folder from 'latentid fit': its posterior means (and labels) are scored."
    ),
    refine: bool = typer.Option(False, "--refine", help="With --run: importance-sampled posterior means."),
    labels: Path | None = typer.Option(
        None, "--labels", help="Predicted cluster labels, shape (n_samples,): adds clustering metrics (needs 'c')."
    ),
    split: float = typer.Option(0.5, "--split", help="Share of samples that fits the alignments; the rest scores."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random fit/held-out split."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Score learned latents against the ground truth at every level of the identifiability hierarchy.

    Alignments are fitted on a random --split share of the samples; every number is scored on the rest.

    Needs 'z' in the data for the identifiability metrics; 'c' in the data plus --labels for clustering.
    With --run on a file written by 'latentid simulate' (noise > 0) it also reports the likelihood gap:
    the true log p(x), the fit's ELBO and importance-weighted bound, per sample over every row.
    """
    dataset = load_data(data, data_split, data_dir)
    z_hat, run_labels, loaded = _learned_latents(latents, run, dataset, refine, seed)
    predicted = _read_labels(labels) if labels is not None else (run_labels if dataset.c is not None else None)
    result = evaluate_latents(
        z_hat, dataset, labels=predicted, split=split, seed=seed, facet_blocks=_facet_blocks(dataset)
    )
    result.update(_gaps(loaded, dataset, seed))
    if json_output:
        print_json(result)
    else:
        console.print(_table(result))
