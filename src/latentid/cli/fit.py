"""``latentid fit``, ``transform`` and ``predict``: train a model into a run folder, then use it."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from latentid.cli import app
from latentid.cli._common import console, err_console, friendly_errors
from latentid.cli._progress import training_progress
from latentid.data.io import read_dataset
from latentid.errors import InvalidParameterError
from latentid.runs import LATENTS_FILE, MODEL_DIR, fit_run, load_run, read_data_for_run, save_array


class ModelName(str, Enum):
    vade = "vade"
    vae = "vae"


class CovarianceType(str, Enum):
    diag = "diag"
    full = "full"


class Likelihood(str, Enum):
    gaussian = "gaussian"
    bernoulli = "bernoulli"


class PretrainObjective(str, Enum):
    autoencoder = "autoencoder"
    vae = "vae"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def _require_npy(out: Path) -> None:
    if out.suffix.lower() != ".npy":
        raise InvalidParameterError(f"--out must name an .npy file; got '{out}'.")
    if out.is_dir():
        raise InvalidParameterError(f"--out '{out}' is a folder; name an .npy file.")


@app.command()
@friendly_errors
def fit(
    data: Path = typer.Option(..., "--data", help="Training data (.npz/.npy/.csv/.parquet)."),
    out: Path = typer.Option(..., "--out", help="Run folder to write (model, config, log, latents)."),
    model: ModelName = typer.Option(ModelName.vade, "--model", help="vade (GMM prior) or vae (N(0, I) prior)."),
    latent_dim: int = typer.Option(2, "--latent-dim", help="Latent dimension m."),
    components: int | None = typer.Option(None, "--components", help="Mixture components K (vade) [default: 4]."),
    covariance: CovarianceType = typer.Option(CovarianceType.full, "--covariance", help="Component covariances."),
    likelihood: Likelihood = typer.Option(Likelihood.gaussian, "--likelihood", help="bernoulli for data in [0, 1]."),
    epochs: int = typer.Option(200, "--epochs", help="Maximum training epochs (early stopping may end sooner)."),
    pretrain_epochs: int = typer.Option(100, "--pretrain-epochs", help="Pretraining epochs (vade)."),
    pretrain_objective: PretrainObjective = typer.Option(
        PretrainObjective.vae, "--pretrain-objective", help="Warm start of vade: autoencoder or vanilla VAE."
    ),
    batch_size: int = typer.Option(256, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    restarts: int = typer.Option(1, "--restarts", help="Whole fits from different seeds; best held-out ELBO kept."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    device: Device = typer.Option(Device.auto, "--device", help="auto takes a GPU when torch sees one."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads during the fit."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted fit from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fit VaDE or a vanilla VAE; write the model, its config, the training log and the posterior means."""
    params = dict(
        latent_dim=latent_dim,
        likelihood=likelihood.value,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        n_restarts=restarts,
        random_state=seed,
        device=device.value,
        threads=threads,
    )
    if model is ModelName.vade:
        params.update(n_components=4 if components is None else components, covariance=covariance.value)
        params.update(pretrain_epochs=pretrain_epochs, pretrain_objective=pretrain_objective.value)
    elif components is not None:
        raise InvalidParameterError("--components applies to vade only; a vae has one N(0, I) component.")
    dataset = read_dataset(data)
    with training_progress(not quiet) as callback:
        run = fit_run(model.value, dataset, out, resume=resume, callback=callback, **params)
    console.print(
        f"Fitted {model.value} ({run.info['epochs_run']} epochs, {run.info['fit_seconds']:.1f} s) -> "
        f"[bold]{escape(str(out))}[/] ({MODEL_DIR}/, {LATENTS_FILE}, train_log.jsonl, run.json)"
    )


@app.command()
@friendly_errors
def transform(
    run: Path = typer.Option(..., "--run", help="A run folder written by 'latentid fit'."),
    data: Path = typer.Option(..., "--data", help="Data to encode."),
    out: Path = typer.Option(..., "--out", help="Output .npy of posterior means (n_samples, latent_dim)."),
    refine: bool = typer.Option(
        False,
        "--refine",
        help="Posterior mean under the fitted model by importance sampling (removes the encoder gap).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the importance sampling (--refine)."),
) -> None:
    """Write the posterior means E[z | x] of a fitted model for new data."""
    _require_npy(out)
    loaded = load_run(run)
    dataset = read_data_for_run(loaded, data)
    z = loaded.model.transform(dataset.x, refine=refine, random_state=seed)
    save_array(out, z)
    console.print(f"Wrote posterior means {z.shape} to [bold]{escape(str(out))}[/]")


@app.command()
@friendly_errors
def predict(
    run: Path = typer.Option(..., "--run", help="A run folder written by 'latentid fit'."),
    data: Path = typer.Option(..., "--data", help="Data to label."),
    out: Path = typer.Option(..., "--out", help="Output .npy of component labels (n_samples,)."),
) -> None:
    """Write the most likely mixture component of each sample."""
    _require_npy(out)
    loaded = load_run(run)
    dataset = read_data_for_run(loaded, data)
    labels = loaded.model.predict(dataset.x)
    save_array(out, labels)
    console.print(f"Wrote {len(labels):,} labels to [bold]{escape(str(out))}[/]")
    if len(loaded.model.weights_) == 1:
        err_console.print("note: this model's prior has one component, so every label is 0.")
