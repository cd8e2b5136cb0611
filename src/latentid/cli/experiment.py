"""``latentid experiment consistency`` and ``latentid experiment mnist``: the seed-consistency study.

Thin: parse, build the models' parameters, call ``latentid.experiments.consistency.run_study`` (or
``experiments.mnist.run_mnist``) with a progress bar, and print its results as tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from latentid._warnings import user_warnings_shown
from latentid.cli import app
from latentid.cli._common import (
    BATCH_SIZE_HELP,
    DATA_DIR_HELP,
    HEADER_CHOICE,
    HEADER_HELP,
    X_COLUMNS_HELP,
    Header,
    batch_size_value,
    console,
    err_console,
    friendly_errors,
    note_oversubscription,
    print_notes,
    refuse_flags,
    study_interrupted,
)
from latentid.cli._progress import progress_columns
from latentid.cli.fit import CovarianceType, Device, InitSelection, Likelihood, PretrainObjective, network_dims
from latentid.cli.simulate import FACETS_HELP, Prior, facets_from_options
from latentid.errors import InvalidParameterError
from latentid.experiments.consistency import (
    CLUSTER_KEYS,
    RESULTS_FILE,
    STUDY_MODELS,
    check_seeds,
    open_study_data,
    run_study,
)
from latentid.experiments.mnist import MNIST_VADE, run_mnist

experiment_app = typer.Typer(
    name="experiment",
    help="Studies: a study file's grid run into a results store (run), or one model fitted with several seeds, "
    "scored on held-out data and compared across seeds (consistency, mnist).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.add_typer(experiment_app, name="experiment")

DATA_HELP = (
    "A data file (.npz/.npy/.csv/.tsv/.parquet; a seeded --test-fraction of its rows is held out), or mnist / "
    "fashion-mnist (trained on the published train split, scored on the test split)."
)
MNIST_DIR_HELP = (
    "The folder holding mnist/ and fashion-mnist/, the only one looked in when given [default: $LATENTID_DATA, "
    "then the user cache folder]."
)
DEVICE_HELP = (
    "auto takes a GPU when torch sees one and the networks are large (500,000 weights or more), "
    "else the CPU [default: auto]."
)
OUT_HELP = (
    "Study folder: results.json, the figures and one folder per model and seed. Rerunning the same command "
    "skips finished seeds."
)
FORCE_HELP = "Replace a study with other settings in --out (without it, such a folder is refused)."


# ---------------------------------------------------------------------------------------------- progress
@contextlib.contextmanager
def study_progress(enabled: bool = True) -> Iterator[Callable[[dict], None] | None]:
    """A callback for ``run_study(progress=...)``: one bar of seeds per model, one bar for the current stage."""
    if not enabled:
        yield None
        return
    # Started at the first event, so that a study refused before it fits anything prints its error alone.
    progress = Progress(*progress_columns(), console=err_console, transient=False)
    seed_bars: dict[str, int] = {}
    stage = {"task": None, "label": None}

    def callback(event: dict) -> None:
        if not progress.live.is_started:
            progress.start()
        model = event.get("model", "")
        if event.get("event") == "seed":
            if model not in seed_bars:
                seed_bars[model] = progress.add_task(f"{model}: seeds", total=event["n_seeds"], metrics="")
            status = event["status"]
            if status == "start":
                progress.update(seed_bars[model], metrics=f"fitting seed {event['seed']}")
                return
            metrics = event["record"]["metrics"]
            note = "already done" if status == "skipped" else _seed_line(metrics)
            progress.update(seed_bars[model], completed=event["index"] + 1, metrics="")
            progress.console.print(f"{model} seed {event['seed']}: {note}", highlight=False)
            return
        label = f"{model} seed {event.get('seed')}: {event.get('stage', 'train')}"
        if "restart" in event and event.get("n_restarts", 1) > 1:
            label += f" (restart {event['restart']} of {event['n_restarts']})"
        if label != stage["label"]:
            if stage["task"] is None:
                stage["task"] = progress.add_task(label, total=event.get("n_epochs"), metrics="")
            else:
                progress.reset(stage["task"], total=event.get("n_epochs"), description=label, metrics="")
            stage["label"] = label
        parts = [f"loss {event['loss']:.4g}"] if event.get("loss") is not None else []
        if event.get("val_elbo") is not None:
            parts.append(f"val ELBO {event['val_elbo']:.4g}")
        progress.update(stage["task"], completed=event.get("epoch", 0), metrics="  ".join(parts))

    try:
        yield callback
    finally:
        if progress.live.is_started:
            progress.stop()


def _seed_line(metrics: dict) -> str:
    parts = []
    if "test_cluster_acc" in metrics:
        parts.append(
            f"test acc {metrics['test_cluster_acc']:.3f}, NMI {metrics['test_nmi']:.3f}, "
            f"ARI {metrics['test_ari']:.3f}, train acc {metrics['train_cluster_acc']:.3f}"
        )
    parts.append(f"{metrics['seconds']:.1f} s")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------- output
def _num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_results(results: dict, out: Path) -> None:
    """Two tables on stdout: one row per model and seed; then one row per figure (mean / worst over seeds,
    cross-seed agreement), one column per model."""
    per_seed = Table(title=f"latentid experiment {results['study']}: per seed", header_style="bold")
    for column in ("model", "seed", "test acc", "test NMI", "test ARI", "train acc", "seconds"):
        per_seed.add_column(column, justify="left" if column == "model" else "right")
    for name, entry in results["models"].items():
        for record in entry["seeds"]:
            cells = [_num(record.get(key)) for key in CLUSTER_KEYS]
            per_seed.add_row(name, str(record["seed"]), *cells, _num(record["seconds"], 1))
    console.print(per_seed)
    summary = Table(title="across seeds", header_style="bold")
    summary.add_column("figure")
    names = list(results["models"])
    for name in names:
        summary.add_column(name, justify="right")
    labels = {
        "test_cluster_acc": "test acc (mean / worst)",
        "test_nmi": "test NMI (mean / worst)",
        "test_ari": "test ARI (mean / worst)",
        "train_cluster_acc": "train acc (mean / worst)",
    }
    for key, label in labels.items():
        stats = [results["models"][name]["summary"].get(key) for name in names]
        summary.add_row(label, *(f"{_num(s['mean'])} / {_num(s['worst'])}" if s else "-" for s in stats))
    cross_labels = {
        "mcc_strong": "MCC strong (mean over seed pairs)",
        "mcc_weak": "MCC weak (mean over seed pairs)",
        "mcc_cca": "MCC CCA (mean over seed pairs)",
        "cluster_ari": "cluster ARI (mean over seed pairs)",
    }
    for key, label in cross_labels.items():
        entries = [results["models"][name]["cross_seed"].get(key) for name in names]
        summary.add_row(label, *(_num(e["mean"]) if e else "-" for e in entries))
    seconds = [results["models"][name]["summary"]["seconds"] for name in names]
    timing = (f"{_num(t['mean'], 1)} / {_num(t['worst'], 1)}" for t in seconds)
    summary.add_row("seconds per fit (mean / longest)", *timing)
    console.print(summary)
    figures = ", ".join(f for entry in results["models"].values() for f in entry["figures"].values())
    console.print(
        f"Wrote {RESULTS_FILE}, {figures} and one folder per model and seed to [bold]{escape(str(out))}[/]",
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------- commands
def _check_positive(flag: str, value: int | str | None, low: int = 1) -> None:
    if value is None or value == "auto":  # --batch-size auto: the estimators' default
        return
    if value < low:
        also = " or auto" if flag == "--batch-size" else ""
        raise InvalidParameterError(f"{flag} must be an int >= {low}{also}. Got {value} instead.")


@experiment_app.command("consistency")
@friendly_errors
def consistency_command(
    data: str = typer.Option(..., "--data", help=DATA_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    model: str = typer.Option("vade", "--model", help=f"One of {', '.join(STUDY_MODELS)}."),
    latent_dim: int | None = typer.Option(
        None, "--latent-dim", help="Latent dimension m [default: 2; for mfcvae the sum of the facets']."
    ),
    components: int | None = typer.Option(None, "--components", help="vade: mixture components K [default: 4]."),
    facets: str | None = typer.Option(None, "--facets", help=f"mfcvae only (required): {FACETS_HELP}"),
    seeds: int = typer.Option(5, "--seeds", help="Fits with random_state 0, ..., seeds - 1 (at least 2)."),
    test_fraction: float | None = typer.Option(
        None, "--test-fraction", help="A file's share of rows held out for scoring (seed 0) [default: 0.2]."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    x_columns: str | None = typer.Option(None, "--x-columns", help=X_COLUMNS_HELP),
    header: Header | None = typer.Option(None, "--header", help=HEADER_HELP),
    covariance: CovarianceType | None = typer.Option(
        None, "--covariance", help="vade, mfcvae: component covariances [default: full]."
    ),
    likelihood: Likelihood | None = typer.Option(
        None, "--likelihood", help="gaussian, or bernoulli for data in [0, 1] [default: gaussian]."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum training epochs [default: the model's, 200]."),
    pretrain_epochs: int | None = typer.Option(
        None, "--pretrain-epochs", help="vade, mfcvae: pretraining epochs [default: 100]."
    ),
    pretrain_objective: PretrainObjective | None = typer.Option(
        None,
        "--pretrain-objective",
        help="vade, mfcvae: warm start, autoencoder, vae, annealed_vae or alternate [default: vae].",
    ),
    restarts: int | None = typer.Option(
        None, "--restarts", help="Whole fits per seed, best held-out ELBO kept [default: 3 vade/mfcvae, 1 vae]."
    ),
    batch_size: str | None = typer.Option(
        None, "--batch-size", parser=batch_size_value, metavar="<int|auto>", help=BATCH_SIZE_HELP
    ),
    lr: float | None = typer.Option(None, "--lr", help="Adam learning rate [default: 0.001]."),
    decoder_width: int | None = typer.Option(None, "--decoder-width", help="Width of every decoder hidden layer."),
    decoder_depth: int | None = typer.Option(None, "--decoder-depth", help="Decoder hidden layers [default: 5]."),
    encoder_width: int | None = typer.Option(None, "--encoder-width", help="Width of every encoder hidden layer."),
    encoder_depth: int | None = typer.Option(None, "--encoder-depth", help="Encoder hidden layers, 0 = linear."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads during each fit."),
    device: Device | None = typer.Option(None, "--device", help=DEVICE_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Fit one model once per seed, score each fit on held-out data, and report how consistent the seeds are:
    pairwise strong/weak MCC of their test latents, and the ARI between their clusters."""
    check_seeds(seeds)
    name = model.strip().lower()
    if name not in STUDY_MODELS:
        raise InvalidParameterError(f"unknown --model '{model}'; use one of {', '.join(STUDY_MODELS)}.")
    for flag, value, low in (
        ("--latent-dim", latent_dim, 1),
        ("--components", components, 1),
        ("--epochs", epochs, 1),
        ("--pretrain-epochs", pretrain_epochs, 0),
        ("--restarts", restarts, 1),
        ("--batch-size", batch_size, 1),
        ("--decoder-width", decoder_width, 1),
        ("--decoder-depth", decoder_depth, 1),
        ("--encoder-width", encoder_width, 1),
        ("--encoder-depth", encoder_depth, 0),
        ("--threads", threads, 1),
    ):
        _check_positive(flag, value, low)
    note_oversubscription(threads)
    context = f"--model {name}"
    if name == "vae":
        refuse_flags(
            {
                "--components": components,
                "--covariance": covariance,
                "--pretrain-epochs": pretrain_epochs,
                "--pretrain-objective": pretrain_objective,
            },
            context,
            "its prior is not a mixture with a warm start",
        )
    if name == "mfcvae":
        refuse_flags({"--components": components}, context, "each facet has its own components: give them in --facets")
        if facets is None:
            raise InvalidParameterError("--model mfcvae needs --facets, e.g. --facets 2:3,2:4 (latent_dim:components).")
    else:
        refuse_flags({"--facets": facets}, context, "only mfcvae has facets")
    parsed = facets_from_options(facets, latent_dim=latent_dim, components=None, prior=Prior.gmm)
    choice = HEADER_CHOICE[None if header is None else Header(header)]
    train, test, data_settings = open_study_data(data, data_dir, test_fraction, x_columns, choice)
    print_notes(train)
    m = sum(d for d, _ in parsed) if parsed is not None else (2 if latent_dim is None else latent_dim)
    given = {
        "likelihood": likelihood,
        "epochs": epochs,
        "n_restarts": restarts,
        "batch_size": batch_size,
        "lr": lr,
        "covariance": covariance,
        "pretrain_epochs": pretrain_epochs,
        "pretrain_objective": pretrain_objective,
        "n_components": components,
        "device": device,
        "threads": threads,
    }
    params = {key: getattr(value, "value", value) for key, value in given.items() if value is not None}
    if parsed is not None:
        params["facets"] = parsed
    else:
        params["latent_dim"] = m
    dims = network_dims(m, train.x.shape[1], (decoder_width, decoder_depth), (encoder_width, encoder_depth))
    params.update({key: value for key, value in dims.items() if value is not None})
    try:
        with study_progress(not quiet) as progress, user_warnings_shown():
            results = run_study(
                train, test, {name: params}, seeds, out, data_settings=data_settings, force=force, progress=progress
            )
    except KeyboardInterrupt:
        study_interrupted(out)
    print_results(results, out)


@experiment_app.command("mnist")
@friendly_errors
def mnist_command(
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    dataset: str = typer.Option("mnist", "--dataset", help="mnist or fashion-mnist."),
    seeds: int = typer.Option(5, "--seeds", help="Fits per model with random_state 0, ..., seeds - 1 (at least 2)."),
    models: str = typer.Option("vade,vae", "--models", help="Comma-separated: vade (the study), vae (the control)."),
    epochs: int | None = typer.Option(
        None, "--epochs", help=f"Training epochs of every model [default: {MNIST_VADE['epochs']}]."
    ),
    pretrain_epochs: int | None = typer.Option(
        None, "--pretrain-epochs", help=f"vade: pretraining epochs [default: {MNIST_VADE['pretrain_epochs']}]."
    ),
    pretrain_objective: PretrainObjective | None = typer.Option(
        None,
        "--pretrain-objective",
        help="vade: warm start, autoencoder, vae, annealed_vae or alternate "
        f"[default: {MNIST_VADE['pretrain_objective']}].",
    ),
    init_selection: InitSelection | None = typer.Option(
        None,
        "--init-selection",
        help="vade: the warm start's GaussianMixture seed kept, by likelihood or by consensus "
        f"[default: {MNIST_VADE['init_selection']}].",
    ),
    latent_dim: int | None = typer.Option(
        None, "--latent-dim", help=f"Latent dimension m [default: {MNIST_VADE['latent_dim']}]."
    ),
    components: int | None = typer.Option(
        None, "--components", help=f"vade: mixture components K [default: {MNIST_VADE['n_components']}]."
    ),
    covariance: CovarianceType | None = typer.Option(
        None,
        "--covariance",
        help=f"vade: component covariances, diag as in the VaDE paper [default: {MNIST_VADE['covariance']}].",
    ),
    likelihood: Likelihood | None = typer.Option(
        None, "--likelihood", help=f"bernoulli or gaussian [default: {MNIST_VADE['likelihood']}]."
    ),
    n_train: int | None = typer.Option(
        None, "--n-train", help="Train on a seeded random subsample of this many train images [default: all 60,000]."
    ),
    n_test: int | None = typer.Option(
        None, "--n-test", help="Score on a seeded random subsample of this many test images [default: all 10,000]."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=MNIST_DIR_HELP),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads during each fit."),
    device: Device | None = typer.Option(None, "--device", help=DEVICE_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """The consistency study on MNIST / Fashion-MNIST: VaDE with the VaDE paper's networks (784-500-500-2000,
    latent 10, K = 10, full covariances, Bernoulli likelihood) and a vanilla VAE with the same networks,
    trained on the train split and scored on the test split."""
    check_seeds(seeds)
    for flag, value, low in (
        ("--epochs", epochs, 1),
        ("--pretrain-epochs", pretrain_epochs, 0),
        ("--latent-dim", latent_dim, 1),
        ("--components", components, 1),
        ("--threads", threads, 1),
    ):
        _check_positive(flag, value, low)
    note_oversubscription(threads)
    try:
        with study_progress(not quiet) as progress, user_warnings_shown():
            results = run_mnist(
                out,
                dataset=dataset,
                seeds=seeds,
                models=models,
                n_train=n_train,
                n_test=n_test,
                data_dir=data_dir,
                force=force,
                progress=progress,
                epochs=epochs,
                pretrain_epochs=pretrain_epochs,
                pretrain_objective=None if pretrain_objective is None else pretrain_objective.value,
                init_selection=None if init_selection is None else init_selection.value,
                latent_dim=latent_dim,
                n_components=components,
                covariance=None if covariance is None else covariance.value,
                likelihood=None if likelihood is None else likelihood.value,
                threads=threads,
                device=None if device is None else device.value,
            )
    except KeyboardInterrupt:
        study_interrupted(out)
    print_results(results, out)
