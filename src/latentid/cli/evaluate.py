"""``latentid evaluate``: identifiability (and clustering) metrics for learned latents.

Thin: reads the files, calls :func:`latentid.metrics.evaluate_latents` (the one implementation)
and prints a table or JSON. The latents come from ``--latents`` or from a run folder
(``--run RUN_DIR``: a trained model's posterior means, and its predicted components as labels).
On a file written by ``latentid simulate`` the same function also scores two baselines on the same
rows and split: the oracle (E[z | x] under the file's generator, and its Bayes classifier's clusters) and PCA.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from latentid.cli import app
from latentid.cli._common import (
    DATA_DIR_HELP,
    DATA_HELP,
    HEADER_HELP,
    SPLIT_HELP,
    X_COLUMNS_HELP,
    Header,
    Split,
    console,
    err_console,
    friendly_errors,
    load_data,
    print_json,
    print_unfolded,
    refuse_flags,
    runs_columns_named,
)
from latentid.cli._progress import progress_columns
from latentid.data.io import TABLE_SUFFIXES, TEXT_SUFFIXES, data_suffix, read_dataset
from latentid.data.provenance import data_provenance
from latentid.data.real import is_real_dataset_name
from latentid.data.synthetic import SyntheticGenerator, facet_blocks, recorded_spec
from latentid.errors import DataFileError, InvalidParameterError, LatentIDError
from latentid.gaps import likelihood_gaps
from latentid.metrics import evaluate_latents
from latentid.metrics._validation import MIN_SAMPLES
from latentid.metrics.activity import inactive_dimensions, latent_signal_to_noise
from latentid.metrics.report import arrange_result, metric_description
from latentid.runs import DEEP_MODELS, check_data_for_run, has_clusters, load_run, read_run_info


def _share(value: str) -> float:
    """--split's parser: a number; a word such as 'test' is pointed to --data-split."""
    try:
        return float(value)
    except ValueError:
        # BadParameter, not ValueError: older typer releases drop a ValueError's message.
        raise typer.BadParameter(
            f"'{value}' is not a number: --split is the share of samples that fits the alignments (e.g. 0.5); "
            "the train/test/all split of --data mnist|fashion-mnist is --data-split."
        ) from None


_share.__name__ = "float"  # --help shows the metavar FLOAT


def _check_split(split: float, n_samples: int) -> None:
    """Refuse a --split outside (0, 1), or one that leaves too few samples on either side, naming what works."""
    if not 0.0 < split < 1.0:
        raise InvalidParameterError(
            f"--split must be strictly between 0 and 1 (the share of samples that fits the alignments); "
            f"got {split}. Try 0.5."
        )
    n_fit = int(round(split * n_samples))
    if min(n_fit, n_samples - n_fit) < MIN_SAMPLES:
        low, high = MIN_SAMPLES / n_samples, 1 - MIN_SAMPLES / n_samples
        works = f"between {low:.3g} and {high:.3g} (0.5 is usual)" if low < high else "none: add samples"
        raise InvalidParameterError(
            f"--split {split} leaves {n_fit} of {n_samples:,} samples to fit the alignments and "
            f"{n_samples - n_fit} to score them; each side needs at least {MIN_SAMPLES}. A --split that works: {works}."
        )


BASELINES = ("oracle", "pca")
ORACLE_SAMPLES = 128  # importance draws per row for the oracle baseline (its MAP search costs more than these)


def _read_array(path: Path, option: str) -> np.ndarray:
    """An array from ``path``: .npy directly (never unpickled); other formats through ``read_dataset`` (its x)."""
    if not path.exists():
        raise DataFileError(f"{path}: no such file. Check the path given to {option}.")
    if path.is_dir():
        raise DataFileError(f"{path}: is a folder, not a file; {option} needs a file.")
    if path.suffix.lower() != ".npy":
        return read_dataset(path, ground_truth=False).x  # one array: every column, whatever its name
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
        if refine:
            raise InvalidParameterError(
                "--refine applies only to --run (it recomputes a fitted model's posterior means); "
                "latents given by --latents are scored as they are. Drop --refine."
            )
        z_hat = _read_array(latents, "--latents")
        if z_hat.ndim != 2:
            hint = " (a 1-D file of predicted labels goes to --labels)" if z_hat.ndim == 1 else ""
            raise InvalidParameterError(
                f"{latents}: --latents needs a 2-D array of shape (n_samples, m_hat); got shape {z_hat.shape}{hint}."
            )
        return z_hat, None, None
    loaded = load_run(run)
    check_data_for_run(loaded, dataset)
    name = loaded.info.get("model")
    if refine and name not in DEEP_MODELS:
        raise InvalidParameterError(f"--refine does not apply to a {name} run: it has no decoder to refine with.")
    inputs = loaded.inputs(dataset)
    z_hat = loaded.model.transform(dataset.x, refine=refine or None, random_state=seed, **inputs)  # None: model's
    labels = loaded.model.predict(dataset.x, **inputs) if has_clusters(loaded.model) else None
    return z_hat, labels, loaded


def _facet_blocks(dataset) -> list[slice] | None:
    """The true facets' latent columns when the data file was simulated with facets, else None."""
    spec = recorded_spec(dataset.extras, dataset.source)
    return facet_blocks(spec) if spec is not None and spec.facets else None


@contextlib.contextmanager
def _working(what: str):
    """A bar on stderr for the slow step, counting the rows the oracle has done (with the time left), on a
    terminal only (nothing in logs or pipes); a step with no oracle pass shows its bar empty."""
    if not err_console.is_terminal:
        yield
        return
    from latentid.oracle import reporting_rows

    with Progress(*progress_columns("rows"), console=err_console, transient=True) as progress:
        task = progress.add_task(escape(f"evaluate: {what}"), total=None, rows="rows")

        def rows_done(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with reporting_rows(rows_done):
            yield


# SyntheticGenerator.misfit beyond which x is not what the file's generator drew: 0.3-1.7 for the x it drew (noise
# 1e-5 to 1, every generator tried, slices of 10 rows and more), 3 to 3,000 for the same x shifted by a tenth of its
# sd or standardised (noise 0.01-0.05). With noise 0 the share of x's variance off the image: up to 1e-3 for its own
# draws (the MAP of a deep or ReLU f is not exact), 0.006-0.008 shifted by a tenth of an sd, 0.3 standardised.
MISFIT_LIMIT, MISFIT_LIMIT_NOISELESS = 3.0, 0.02


def _changed_since_simulated(dataset) -> str:
    """A note when the file records its generator but its x is not what that generator draws (changed after
    'latentid simulate': standardised, rescaled, another file's x); "" otherwise. Rows taken out are fine."""
    if "spec_json" not in dataset.extras:
        return ""
    generator = SyntheticGenerator.from_arrays(dataset.extras, source=dataset.source)
    misfit = generator.misfit(dataset.x)
    noisy = generator.noise > 0
    if not misfit > (MISFIT_LIMIT if noisy else MISFIT_LIMIT_NOISELESS):
        return ""
    if noisy:
        left = "no oracle baseline and no likelihood gap"
        how = f"its rows lie {misfit:.3g} times as far from the generator's image as its noise puts them"
        how += "; about 1 for its own draws"
    else:
        left = "no oracle baseline"
        how = f"{misfit:.1%} of its variance lies off the generator's image; about 0 for its own draws"
    return (
        f"{left}: x is not what the file's generator draws ({how}): was x changed after 'latentid simulate' "
        "(standardised, rescaled)? Score against the file simulate wrote"
    )


def _generator_scores_wanted(dataset, loaded, no_baselines: bool) -> bool:
    """Whether anything evaluate computes reads the file's generator (the oracle, the gaps): only then is the
    file's x checked against it (0.3-6 s)."""
    oracle = not no_baselines and dataset.z is not None
    gaps = loaded is not None and loaded.info.get("model") in DEEP_MODELS and loaded.info.get("aux") is None
    return "spec_json" in dataset.extras and (oracle or gaps)


def _gaps(loaded, dataset, seed: int) -> tuple[dict, list[str]]:
    """The likelihood-gap keys when the data file carries its generator with noise > 0, else {}; with a note
    when a deep model's run gets none.

    Only for a deep model of x alone: a linear floor has no such bound, and iVAE's bound is of p(x | u).
    """
    if loaded is None or "spec_json" not in dataset.extras or loaded.info.get("model") not in DEEP_MODELS:
        return {}, []
    if loaded.info.get("aux") is not None:
        return {}, [
            "no likelihood gap: the model's bound is of p(x | u), not of p(x), whose true log-likelihood the gap needs"
        ]
    generator = SyntheticGenerator.from_arrays(dataset.extras, source=dataset.source)
    if not generator.noise > 0:
        return {}, ["no likelihood gap: the data was simulated with noise 0, where log p(x) is not a density"]
    return likelihood_gaps(loaded.model, generator, dataset.x, random_state=seed), []


def _baselines(dataset, split: float, seed: int, blocks, with_oracle: bool = True) -> tuple[dict, list[str]]:
    """The oracle's and PCA's scores on the same rows, split and seed, with notes: identifiability, and for the
    oracle also clustering (the Bayes classifier argmax p(c | x)) where the file has true classes.

    Only for a file that carries its generator (written by 'latentid simulate') and its true z; else ({}, []).
    A baseline that cannot be computed is left out with a note saying why; ``with_oracle`` False leaves the oracle
    out (x is not what the file's generator draws, ``_changed_since_simulated``).
    """
    if "spec_json" not in dataset.extras or dataset.z is None:
        return {}, []
    generator = SyntheticGenerator.from_arrays(dataset.extras, source=dataset.source)
    m = int(dataset.z.shape[1])
    n = len(dataset.x)

    def oracle():  # E[z | x], and the Bayes classifier's labels where the file has true classes
        posterior = generator.posterior(dataset.x, n_samples=ORACLE_SAMPLES, random_state=seed)
        labels = None if dataset.c is None else generator.bayes_labels(posterior.component_probs)
        return posterior.mean, labels

    def pca():
        from latentid.models import PCA

        return PCA(m, random_state=seed).fit(dataset.x).transform(dataset.x), None

    out, notes = {}, []
    for name, latents_and_labels in (("oracle", oracle), ("pca", pca))[0 if with_oracle else 1 :]:
        try:
            latents, labels = latents_and_labels()
            result = evaluate_latents(latents, dataset, labels=labels, split=split, seed=seed, facet_blocks=blocks)
        except LatentIDError as exc:
            notes.append(f"{name} baseline left out: {exc}")
            continue
        out[name] = {
            key: value
            for key, value in result.items()
            if metric_description(key)[1].startswith("held-out") and isinstance(value, (int, float, np.number))
        }
    if "oracle" in out:
        how = f"the MAP, then {ORACLE_SAMPLES} importance draws per row" if generator.noise > 0 else "noise 0: the MAP"
        notes.append(
            f"oracle: E[z | x] under the data file's own generator ({how}; on all {n:,} rows, "
            "about 2 ms per row at 10 features and 80 at 300, "
            "--no-baselines skips it): the ceiling no encoder beats on average"
            + (
                "; its clusters are the Bayes classifier's, argmax p(c | x) under the generator (per facet: of the "
                "facet's marginal), the clustering ceiling"
                if dataset.c is not None
                else ""
            )
        )
    if "pca" in out:
        notes.append(f"pca: PCA with latent_dim {m} (the true m) fitted on x of all {n:,} rows: the linear floor")
    if out:
        notes.append("baselines are scored like the model: the same rows, the same --split and --seed")
    return out, notes


def _data_record(data: str, data_split: Split | None, dataset) -> dict:
    """What the latents were scored against: the file's absolute path (or the published data set's name and
    split), its SHA-256 as run.json records it (of the file's bytes; of x for a published set), its size."""
    record = data_provenance(dataset)
    published = is_real_dataset_name(data)
    return {
        "source": str(data).lower() if published else record["path"],
        "data_split": (data_split.value if data_split is not None else "train") if published else None,
        "sha256": record["sha256"],
        "sha256_of": record["sha256_of"],
        "n_samples": record["n_samples"],
        "n_features": record["n_features"],
    }


def _latent_activity(loaded, dataset, z_hat: np.ndarray, refine: bool) -> dict | None:
    """Per learned dimension of a deep model's run, the encoder means' spread over the rows against its
    posterior sd (``metrics.activity``), and the dimensions that carry almost no information. ``z_hat`` are
    the latents scored: the encoder means themselves unless the posterior was refined."""
    if loaded is None or loaded.info.get("model") not in DEEP_MODELS:
        return None
    inputs = loaded.inputs(dataset)
    refined = refine or getattr(loaded.model, "inference", "amortized") == "refined"
    means = loaded.model.transform(dataset.x, refine=False, **inputs) if refined else z_hat
    snr = latent_signal_to_noise(means, loaded.model.posterior_sd(dataset.x, **inputs))
    return {"signal_to_noise": [float(v) for v in snr], "inactive": inactive_dimensions(snr)}


def _activity_note(activity: dict | None) -> list[str]:
    """A note naming the collapsed dimensions, when there are any."""
    if not activity or not activity["inactive"]:
        return []
    snr, inactive = activity["signal_to_noise"], activity["inactive"]
    m, used = len(snr), len(snr) - len(inactive)
    listed = ", ".join(f"{j} ({snr[j]:.2f})" for j in inactive)
    return [
        f"inactive latent dimension(s) {listed}: their posterior means vary over the data less than the encoder's "
        f"own posterior sd (signal-to-noise in brackets, below 1), so they carry almost no information about x "
        f"and the fit uses {used} of its {m} dimensions"
    ]


def _fit_data_note(loaded, data: dict) -> list[str]:
    """A note when the run was fitted on other data than the data scored (as run.json records it)."""
    fitted = loaded.info.get("data") if loaded is not None else None
    if not isinstance(fitted, dict) or not fitted.get("sha256") or fitted["sha256"] == data["sha256"]:
        return []
    where = fitted.get("path") or fitted.get("source")
    return [f"the run was fitted on other data: {where} (sha256 {str(fitted['sha256'])[:12]}...)"]


def _scored_record(run: Path | None, latents: Path | None, labels: Path | None, loaded, refine: bool) -> dict:
    """What was scored: the run or latents file (absolute paths), the labels file, the run's model, refinement."""
    refined = bool(refine) or (loaded is not None and getattr(loaded.model, "inference", None) == "refined")
    return {
        "run": None if run is None else str(Path(run).resolve()),
        "latents": None if latents is None else str(Path(latents).resolve()),
        "labels": None if labels is None else str(Path(labels).resolve()),
        "model": None if loaded is None else loaded.info.get("model"),
        "refine": refined,
    }


def _labels_note(labels: Path | None, predicted, dataset, loaded) -> list[str]:
    """Where the clustering scores of --labels come from, when that could be misread: beside a run whose model
    has no clusters, and when the labels are the data's own true classes."""
    if labels is None:
        return []
    notes = []
    if loaded is not None:
        notes.append(
            f"the clustering scores are those of --labels {labels}, not of the run: its model "
            f"({loaded.info.get('model')}) has no clusters"
        )
    classes = getattr(dataset, "c", None)
    if classes is not None and np.shape(predicted) == np.shape(classes) and _same_partition(predicted, classes):
        notes.append(
            f"--labels {labels} are the data's true classes 'c' (up to renaming): their clustering scores are 1 by "
            "construction"
        )
    return notes


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether labels a and b, of one shape (n,) or (n, k), group the rows alike: b is a one-to-one renaming of a."""
    if np.array_equal(a, b):
        return True
    try:
        codes = [np.unique(np.asarray(v).reshape(len(v), -1), axis=0, return_inverse=True)[1].ravel() for v in (a, b)]
    except TypeError:  # labels numpy cannot sort (mixed types): equality was the test
        return False
    pairs = np.unique(np.stack(codes, axis=1), axis=0)
    return len(pairs) == codes[0].max() + 1 == codes[1].max() + 1


def _read_labels(path: Path) -> np.ndarray:
    """Predicted labels of shape (n_samples,); a single-column (n, 1) array is flattened."""
    arr = _read_array(path, "--labels")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return arr


COUNTS = ("n_fit", "n_eval", "iw_samples", "n_clusters", "n_classes")


def _format(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = "n/a" if not math.isfinite(value) else f"{value:.4f}"
    return "0.0000" if text == "-0.0000" else text  # a collapsed latent's R^2 of -1e-17


def _title(report: dict) -> str:
    scored, data = report["scored"], report["data"]
    if scored["run"] is not None:
        what = f"run {scored['run']} ({scored['model']}{', refined' if scored['refine'] else ''})"
    else:
        what = f"latents {scored['latents']}"
    where = data["source"] + (f" ({data['data_split']})" if data["data_split"] else "")
    return f"latentid evaluate: {what} against {where}, {data['n_samples']:,} samples, sha256 {data['sha256'][:12]}"


def _table(report: dict) -> tuple[Table, list[str], list[list[str]]]:
    """The report's table, with its header and cells (for ``print_unfolded``); its title and notes are printed
    apart, as lines that are never wrapped or padded to the table's width (a long path was cut mid-name)."""
    table = Table()
    baselines = [name for name in BASELINES if name in report["baselines"]]
    header = ["metric", "value", *baselines, "what it measures", "scored on"]
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for name in baselines:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("what it measures")
    table.add_column("scored on")
    rows = []
    for key, value in report["metrics"].items():
        cells = [
            _format(report["baselines"][name][key]) if key in report["baselines"][name] else "" for name in baselines
        ]
        rows.append([key, _format(value), *cells, metric_description(key)[0], report["scored_on"][key] or ""])
    # Then the bookkeeping: the numbers the scores were computed with, and the split.
    split_keys = {"share": "split", "seed": "seed", "n_fit": "n_fit", "n_eval": "n_eval"}
    bookkeeping = {**report["settings"], **{split_keys[k]: v for k, v in report["split"].items()}}
    for key, value in bookkeeping.items():  # counts grouped as the title's (1,000), a seed as it is typed
        shown = f"{value:,}" if key in COUNTS and isinstance(value, (int, np.integer)) else _format(value)
        rows.append([key, shown, *[""] * len(baselines), metric_description(key)[0], ""])
    for row in rows:
        table.add_row(*row)
    return table, header, rows


@app.command("evaluate")
@friendly_errors
def evaluate(
    data: str = typer.Option(..., "--data", help="The data the latents belong to; needs 'z' and/or 'c'. " + DATA_HELP),
    data_split: Split | None = typer.Option(
        None, "--data-split", help=SPLIT_HELP + " (--split here is the alignment share.)"
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    x_columns: str | None = typer.Option(
        None, "--x-columns", help=X_COLUMNS_HELP + " [default: with --run, the run's]"
    ),
    header: Header | None = typer.Option(
        None, "--header", help=HEADER_HELP.replace("auto]", "with --run, the run's; else auto]")
    ),
    latents: Path | None = typer.Option(
        None, "--latents", help="Learned latents (posterior means), shape (n_samples, m_hat): .npy, or a file's 'x'."
    ),
    run: Path | None = typer.Option(
        None, "--run", help="A run folder from 'latentid fit': its posterior means (and labels) are scored."
    ),
    refine: bool = typer.Option(
        False, "--refine", help="With --run only: importance-sampled posterior means (refused with --latents)."
    ),
    labels: Path | None = typer.Option(
        None,
        "--labels",
        help="Predicted cluster labels, shape (n_samples,), or (n_samples, n_facets) one column per facet as "
        "MFC-VAE predicts them: adds clustering metrics (needs 'c').",
    ),
    split: float = typer.Option(
        0.5, "--split", parser=_share, help="Share of samples that fits the alignments; the rest scores."
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        help="Seed of the random fit/held-out split, and of every random draw the scores take: --refine's, the "
        "ELBO's and bound's, the oracle's and the true log-likelihood's.",
    ),
    no_baselines: bool = typer.Option(
        False,
        "--no-baselines",
        help=(
            "Skip the oracle and PCA baselines of a simulated file "
            "(the oracle costs about 2 ms per row at 10 features, 80 ms at 300)."
        ),
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Score learned latents against the ground truth at every level of the identifiability hierarchy.

    Alignments are fitted on a random --split share of the samples; the identifiability and clustering scores
    are computed on the rest, counts and the likelihood gap on every sample (the column "scored on" says which).

    Needs 'z' in the data for the identifiability metrics; 'c' in the data plus --labels for clustering
    (a run's own labels only for models that cluster: vade, mfcvae, gmm).
    With --run on a file written by 'latentid simulate' (noise > 0) it also reports the likelihood gap:
    the true log p(x), the fit's ELBO and importance-weighted bound, per sample over every row.
    On such a file it also scores the oracle (E[z | x] under the true model) and PCA (m = the true m) on the
    same rows, split and seed: the columns "oracle" and "pca" (--no-baselines skips them).

    --json prints one object, keys in this order:
    scored {run, latents, labels: absolute paths or null; model: the run's model or null; refine};
    data {source: absolute path or published data set name; data_split; sha256 (as run.json records it);
    sha256_of ("file" or "x"); n_samples; n_features};
    split {share, seed, n_fit, n_eval}; settings {latent_dim_true, latent_dim_learned, cca_components, ...};
    metrics {name: number}; scored_on {name: where it was scored: held-out, fit split or all samples};
    baselines {oracle: {name: number}, pca: {name: number}} ({} when none); latent_activity {signal_to_noise
    (per learned dimension: its posterior means' sd over the rows / the encoder's posterior sd), inactive (the
    dimensions below 1)} for a deep model's run, else null; notes [sentences].
    """
    recorded = None
    if run is not None and data_suffix(data) in TABLE_SUFFIXES:
        options = (read_run_info(run) or {}).get("options") or {}
        recorded = options.get("x_columns") if x_columns is None else None
        x_columns = recorded if x_columns is None else x_columns
        if data_suffix(data) in TEXT_SUFFIXES:
            header = options.get("header") if header is None else header
    if not is_real_dataset_name(data):  # named here as evaluate's flags (the reader calls the split --split)
        refuse_flags(
            {"--data-split": data_split, "--data-dir": data_dir},
            f"the file {data}",
            "they choose the split and folder of --data mnist or --data fashion-mnist",
        )
    with runs_columns_named(recorded):
        dataset = load_data(data, data_split, data_dir, x_columns, header)
    _check_split(split, len(dataset.x))
    data_record = _data_record(data, data_split, dataset)  # hashed now: the bytes just read, not a later file
    z_hat, run_labels, loaded = _learned_latents(latents, run, dataset, refine, seed)
    if labels is not None and run_labels is not None:
        raise InvalidParameterError(
            f"--labels would replace the clusters of the run's own model ({loaded.info.get('model')}), and its "
            "scores would be credited to the run. Drop --labels to score the run's clusters, or score other labels "
            "with --latents (e.g. the run's latents.npy) and --labels."
        )
    predicted = _read_labels(labels) if labels is not None else (run_labels if dataset.c is not None else None)
    blocks = _facet_blocks(dataset)
    with warnings.catch_warnings():  # a collapsed latent's warning goes into notes, once, not as a Python warning
        warnings.simplefilter("ignore", UserWarning)
        result = evaluate_latents(
            z_hat,
            dataset,
            labels=predicted,
            split=split,
            seed=seed,
            facet_blocks=blocks,
            **({"latents_name": f"{latents} (--latents)"} if latents is not None else {}),
            **({"labels_name": f"{labels} (--labels)"} if labels is not None else {}),
        )
    changed = _changed_since_simulated(dataset) if _generator_scores_wanted(dataset, loaded, no_baselines) else ""
    if changed:  # the file's generator no longer describes its x: every score under it would be wrong
        gaps, gap_notes = {}, [changed]
    elif loaded is not None and loaded.info.get("model") in DEEP_MODELS:  # no bar for models that have no bound
        with _working("likelihood gaps (the true log p(x))"):
            gaps, gap_notes = _gaps(loaded, dataset, seed)
    else:
        gaps, gap_notes = {}, []
    result.update(gaps)
    arranged = arrange_result(result)
    if no_baselines:
        baselines, notes = {}, ["baselines skipped (--no-baselines)"]
    else:
        with _working("oracle baseline (E[z | x])"):
            baselines, notes = _baselines(dataset, split, seed, blocks, with_oracle=not changed)
        if not baselines and dataset.z is not None and "spec_json" not in dataset.extras:
            notes.append(
                "no oracle or PCA baseline: the data does not record its generator (files written by "
                "'latentid simulate' do)"
            )
    notes += gap_notes
    if blocks is None and dataset.z is not None and np.ndim(dataset.c) == 2 and np.shape(dataset.c)[1] > 1:
        notes.append(
            "no facet{j}_affine_r2: the file does not record which columns of z belong to which facet (files "
            "written by 'latentid simulate --facets' do)"
        )
    notes += _fit_data_note(loaded, data_record)
    notes += _labels_note(labels, predicted, dataset, loaded)
    activity = _latent_activity(loaded, dataset, z_hat, refine)
    notes += _activity_note(activity)
    report = {
        "scored": _scored_record(run, latents, labels, loaded, refine),
        "data": data_record,
        "split": arranged["split"],
        "settings": arranged["settings"],
        "metrics": arranged["metrics"],
        "scored_on": arranged["scored_on"],
        "baselines": baselines,
        "latent_activity": activity,
        "notes": arranged["notes"] + notes,
    }
    if json_output:
        print_json(report)
    else:
        console.print(_title(report), markup=False, highlight=False, soft_wrap=True)
        print_unfolded(*_table(report))  # a log or a pipe (80 columns) wrapped each description over many lines
        for note in report["notes"]:
            console.print(note, markup=False, highlight=False, soft_wrap=True)
