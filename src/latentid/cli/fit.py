"""``latentid fit``, ``transform`` and ``predict``: train a model into a run folder, then use it."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from latentid.cli import app
from latentid.cli._common import console, err_console, friendly_errors, refuse_flags
from latentid.cli._progress import training_progress
from latentid.data.io import read_dataset
from latentid.errors import InvalidParameterError
from latentid.models import VaDE
from latentid.models.networks import DEFAULT_DEPTH, default_decoder_widths
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


class Inference(str, Enum):
    amortized = "amortized"
    refined = "refined"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


# The options that only VaDE has (the mixture prior and its warm start) default to None on the command
# line, so that a vae can refuse them even when typed with their default values; None then resolves
# to the estimator's own default, shown in --help.
VADE_DEFAULTS = VaDE().get_params()


def _check_size(flag: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        raise InvalidParameterError(f"{flag} must be an int >= {low}. Got {value} instead.")


def network_dims(
    latent_dim: int,
    n_features: int,
    decoder: tuple[int | None, int | None],
    encoder: tuple[int | None, int | None],
) -> dict[str, list[int] | None]:
    """``hidden_dims`` and ``encoder_dims`` from the (width, depth) flags; None where neither was given.

    None keeps the model's own default (and an encoder that mirrors the decoder). A width without a
    depth keeps the default depth, a depth without a width the default width; an encoder given only
    in part takes the other half from the decoder it would mirror.
    """
    dec_width, dec_depth = decoder
    enc_width, enc_depth = encoder
    hidden = None
    if dec_width is not None or dec_depth is not None:
        depth = DEFAULT_DEPTH if dec_depth is None else dec_depth
        hidden = (
            list(default_decoder_widths(latent_dim, n_features, depth)) if dec_width is None else [dec_width] * depth
        )
    encoder_dims = None
    if enc_width is not None or enc_depth is not None:
        mirrored = hidden if hidden is not None else list(default_decoder_widths(latent_dim, n_features))
        depth = len(mirrored) if enc_depth is None else enc_depth
        width = mirrored[-1] if enc_width is None else enc_width  # the encoder's first layer mirrors the last
        encoder_dims = [width] * depth
    return {"hidden_dims": hidden, "encoder_dims": encoder_dims}


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
    components: int | None = typer.Option(
        None, "--components", help=f"Mixture components K (vade only) [default: {VADE_DEFAULTS['n_components']}]."
    ),
    covariance: CovarianceType | None = typer.Option(
        None, "--covariance", help=f"Component covariances (vade only) [default: {VADE_DEFAULTS['covariance']}]."
    ),
    decoder_width: int | None = typer.Option(
        None, "--decoder-width", help="Width of every decoder hidden layer [default: the number of data features]."
    ),
    decoder_depth: int | None = typer.Option(
        None, "--decoder-depth", help=f"Decoder hidden layers, >= 1 [default: {DEFAULT_DEPTH}]."
    ),
    encoder_width: int | None = typer.Option(
        None, "--encoder-width", help="Width of every encoder hidden layer [default: the decoder's width]."
    ),
    encoder_depth: int | None = typer.Option(
        None, "--encoder-depth", help="Encoder hidden layers, 0 = linear [default: the decoder's depth]."
    ),
    likelihood: Likelihood = typer.Option(Likelihood.gaussian, "--likelihood", help="bernoulli for data in [0, 1]."),
    epochs: int = typer.Option(200, "--epochs", help="Maximum training epochs (early stopping may end sooner)."),
    pretrain_epochs: int | None = typer.Option(
        None, "--pretrain-epochs", help=f"Pretraining epochs (vade only) [default: {VADE_DEFAULTS['pretrain_epochs']}]."
    ),
    pretrain_objective: PretrainObjective | None = typer.Option(
        None,
        "--pretrain-objective",
        help=f"Warm start (vade only): autoencoder or vanilla VAE [default: {VADE_DEFAULTS['pretrain_objective']}].",
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help=f"Minibatch size [default: {VADE_DEFAULTS['batch_size']}]."
    ),
    lr: float | None = typer.Option(None, "--lr", help=f"Adam learning rate [default: {VADE_DEFAULTS['lr']}]."),
    inference: Inference = typer.Option(
        Inference(VADE_DEFAULTS["inference"]),
        "--inference",
        help="amortized: the encoder's q in the bound; refined: each sample's posterior mode refined by "
        "Gauss-Newton steps, the decoder trained on the bound around it (slower).",
    ),
    iw_samples: int | None = typer.Option(
        None,
        "--iw-samples",
        help=f"Importance samples per point in the training bound, 1 = ELBO [default: {VADE_DEFAULTS['iw_samples']}].",
    ),
    refine_steps: int | None = typer.Option(
        None,
        "--refine-steps",
        help=f"Gauss-Newton steps per sample with --inference refined [default: {VADE_DEFAULTS['refine_steps']}].",
    ),
    restarts: int | None = typer.Option(
        None,
        "--restarts",
        help=f"Whole fits from different seeds; best held-out ELBO kept [default: {VADE_DEFAULTS['n_restarts']} for "
        "vade, 1 for vae].",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    device: Device = typer.Option(Device.auto, "--device", help="auto takes a GPU when torch sees one."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads during the fit."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted fit from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fit VaDE or a vanilla VAE; write the model, its config, the training log and the posterior means."""
    vade_only = {
        "--components": components,
        "--covariance": covariance,
        "--pretrain-epochs": pretrain_epochs,
        "--pretrain-objective": pretrain_objective,
    }
    if model is ModelName.vae:
        refuse_flags(vade_only, "--model vae", "a vae has one fixed N(0, I) prior and no warm start")
    _check_size("--decoder-width", decoder_width, 1)
    _check_size("--decoder-depth", decoder_depth, 1)
    _check_size("--encoder-width", encoder_width, 1)
    _check_size("--encoder-depth", encoder_depth, 0)
    if encoder_depth == 0 and encoder_width is not None:
        raise InvalidParameterError(
            "--encoder-width does not apply to --encoder-depth 0: a linear encoder has no hidden layers."
        )
    if inference is not Inference.refined:
        refuse_flags(
            {"--refine-steps": refine_steps}, f"--inference {inference.value}", "only refined inference refines"
        )
    given = {
        "batch_size": batch_size,
        "lr": lr,
        "iw_samples": iw_samples,
        "refine_steps": refine_steps,
        "n_restarts": restarts,
    }
    params = dict(
        latent_dim=latent_dim,
        likelihood=likelihood.value,
        epochs=epochs,
        inference=inference.value,
        **{name: value for name, value in given.items() if value is not None},
        random_state=seed,
        device=device.value,
        threads=threads,
    )
    if model is ModelName.vade:
        names = ("n_components", "covariance", "pretrain_epochs", "pretrain_objective")
        for name, value in zip(names, vade_only.values(), strict=True):
            params[name] = VADE_DEFAULTS[name] if value is None else getattr(value, "value", value)
    dataset = read_dataset(data)
    n_features = dataset.x.shape[1]
    params.update(network_dims(latent_dim, n_features, (decoder_width, decoder_depth), (encoder_width, encoder_depth)))
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
    z = loaded.model.transform(dataset.x, refine=refine or None, random_state=seed)  # None: the model decides
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
