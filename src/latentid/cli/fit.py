"""``latentid fit``, ``transform`` and ``predict``: train a model into a run folder, then use it."""

from __future__ import annotations

import contextlib
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from latentid._atomic import DISK_FULL
from latentid._shell import shell_quoted
from latentid.cli import app
from latentid.cli._common import (
    BATCH_SIZE_HELP,
    DATA_DIR_HELP,
    DATA_HELP,
    FORCE_HELP,
    HEADER_HELP,
    SPLIT_HELP,
    X_COLUMNS_HELP,
    Header,
    Split,
    batch_size_value,
    console,
    err_console,
    friendly_errors,
    load_data,
    note_oversubscription,
    refuse_existing,
    refuse_flags,
    runs_columns_named,
)
from latentid.cli._progress import training_progress
from latentid.cli._resume import ADJUSTABLE_ON_RESUME, flag, options_for_resume, require, typed_options
from latentid.cli.simulate import FACETS_HELP, Prior, facets_from_options
from latentid.data.io import TABLE_SUFFIXES, TEXT_SUFFIXES, data_suffix
from latentid.data.synthetic import recorded_spec
from latentid.errors import DataFileError, InvalidParameterError, LatentIDError
from latentid.models import IVAE, MFCVAE, VaDE
from latentid.models.networks import DEFAULT_DEPTH, default_decoder_widths
from latentid.models.params import MAX_LAYERS
from latentid.runs import (
    CLUSTERING_MODELS,
    FINISHED,
    LATENTS_FILE,
    LINEAR_MODELS,
    MODEL_DIR,
    MODELS,
    REPLACED_DIR,
    RUN_FILE,
    RUNNING,
    aux_values,
    check_data_for_run,
    fit_run,
    has_clusters,
    load_run,
    make_model,
    read_run_info,
    refuse_occupied_out,
    save_array,
)


class ModelName(str, Enum):
    vade = "vade"
    vae = "vae"
    mfcvae = "mfcvae"
    ivae = "ivae"
    pca = "pca"
    fastica = "fastica"
    gmm = "gmm"


class AuxSource(str, Enum):
    c = "c"
    u = "u"


DEEP = (ModelName.vade, ModelName.vae, ModelName.mfcvae, ModelName.ivae)
DEEP_NAMES = tuple(model.value for model in DEEP)
MIXTURE_WARM_START = (ModelName.vade, ModelName.mfcvae)  # the models with a mixture prior and its warm start
MODEL_HELP = (
    "vade (GMM prior), vae (N(0, I) prior), mfcvae (one GMM per facet, --facets), ivae (prior given an observed u, "
    "--aux), or a linear floor: pca, fastica, gmm (a Gaussian mixture on x; its latents are PCA's)."
)


class CovarianceType(str, Enum):
    diag = "diag"
    full = "full"


class Likelihood(str, Enum):
    gaussian = "gaussian"
    bernoulli = "bernoulli"


class InitSelection(str, Enum):
    likelihood = "likelihood"
    consensus = "consensus"


class PretrainObjective(str, Enum):
    autoencoder = "autoencoder"
    vae = "vae"
    annealed_vae = "annealed_vae"
    alternate = "alternate"


class Inference(str, Enum):
    amortized = "amortized"
    refined = "refined"


class ElboEstimator(str, Enum):
    mean_field = "mean_field"
    vade = "vade"
    marginal = "marginal"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


# The options that only VaDE has (the mixture prior and its warm start) default to None on the command
# line, so that a vae can refuse them even when typed with their default values; None then resolves
# to the estimator's own default, shown in --help.
VADE_DEFAULTS = VaDE().get_params()
MFCVAE_DEFAULTS = MFCVAE().get_params()
IVAE_DEFAULTS = IVAE().get_params()


# The options of the networks and the training loop: a linear floor refuses every one of them.
TRAINING_OPTIONS = (
    "decoder_width",
    "decoder_depth",
    "encoder_width",
    "encoder_depth",
    "likelihood",
    "epochs",
    "pretrain_epochs",
    "pretrain_objective",
    "batch_size",
    "lr",
    "inference",
    "iw_samples",
    "refine_steps",
    "restarts",
    "elbo",
    "noise_scale",
    "patience",
    "standardize",
    "device",
    "threads",
)
# Every option of `fit` that shapes the run, as stored in run.json for --resume (not --out, --resume, --quiet).
FIT_OPTIONS = (
    "data",
    "split",
    "data_dir",
    "x_columns",
    "header",
    "model",
    "latent_dim",
    "components",
    "covariance",
    "facets",
    "aux",
    "kl_warmup_epochs",
    "progressive_epochs",
    "init_selection",
    "seed",
    *TRAINING_OPTIONS,
)
ENUM_OPTIONS: dict[str, type[Enum]] = {
    "split": Split,
    "header": Header,
    "model": ModelName,
    "covariance": CovarianceType,
    "aux": AuxSource,
    "likelihood": Likelihood,
    "pretrain_objective": PretrainObjective,
    "init_selection": InitSelection,
    "inference": Inference,
    "elbo": ElboEstimator,
    "device": Device,
}


def _check_size(flag: str, value: int | None, low: int, high: int | None = None) -> None:
    if value is not None and value < low:
        raise InvalidParameterError(f"{flag} must be an int >= {low}. Got {value} instead.")
    if value is not None and high is not None and value > high:
        raise InvalidParameterError(f"{flag} must be at most {high:,}. Got {value:,} instead.")


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


def data_for_run(
    loaded, data: str, split: Split | None, data_dir: Path | None, x_columns: str | None, header: Header | None
):
    """The data a run is applied to (one row will do), checked against it; a CSV/Parquet file takes the run's
    --x-columns and --header unless given others."""
    recorded = None
    if data_suffix(data) in TABLE_SUFFIXES:
        options = loaded.info.get("options") or {}
        recorded = options.get("x_columns") if x_columns is None else None
        x_columns = recorded if x_columns is None else x_columns
        if data_suffix(data) in TEXT_SUFFIXES:
            header = options.get("header") if header is None else header
    unneeded = unread_roles(loaded.info.get("aux"))  # an iVAE reads its u (or c) again
    with runs_columns_named(recorded):
        dataset = load_data(data, split, data_dir, x_columns, header, min_samples=1, unneeded=unneeded)
        return check_data_for_run(loaded, dataset)


def unread_roles(aux: str | None) -> tuple[str, ...]:
    """The ground-truth roles a fit, transform or predict does not read: all of z, c, u but iVAE's ``aux``."""
    return tuple(role for role in ("z", "c", "u") if role != aux)


def _require_npy(out: Path, force: bool, what: str = "posterior means") -> None:
    if out.suffix.lower() != ".npy":
        raise InvalidParameterError(f"--out must name an .npy file; got '{out}'.")
    if out.is_dir():
        raise InvalidParameterError(f"--out '{out}' is a folder; name an .npy file.")
    folder = out.parent
    if out.name == LATENTS_FILE and (folder / RUN_FILE).is_file():  # not even with --force: the run refers to it
        raise InvalidParameterError(
            f"--out '{out}' is the run folder's own {LATENTS_FILE} (the posterior means of the data it was fitted "
            f"on); write the {what} elsewhere, e.g. --out {folder / ('labels.npy' if what == 'labels' else 'z.npy')}."
        )
    if folder.name == MODEL_DIR and (folder.parent / RUN_FILE).is_file():
        raise InvalidParameterError(f"--out '{out}' is inside a run's {MODEL_DIR}/ folder; write elsewhere.")
    refuse_existing(out, force)


@app.command()
@friendly_errors
def fit(
    data: str | None = typer.Option(
        None, "--data", help=DATA_HELP + " Required, except with --resume (the run folder records it)."
    ),
    out: Path = typer.Option(..., "--out", help="Run folder to write (model, config, log, latents)."),
    split: Split | None = typer.Option(None, "--split", help=SPLIT_HELP),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    x_columns: str | None = typer.Option(None, "--x-columns", help=X_COLUMNS_HELP),
    header: Header | None = typer.Option(None, "--header", help=HEADER_HELP),
    model: ModelName | None = typer.Option(None, "--model", help=MODEL_HELP + " [default: vade]"),
    latent_dim: int | None = typer.Option(
        None, "--latent-dim", help="Latent dimension m [default: 2; for mfcvae the sum of the facets']."
    ),
    components: int | None = typer.Option(
        None,
        "--components",
        help=f"Mixture components K (vade, gmm) [default: {VADE_DEFAULTS['n_components']}].",
    ),
    covariance: CovarianceType | None = typer.Option(
        None,
        "--covariance",
        help=f"Component covariances (vade, mfcvae, gmm) [default: {VADE_DEFAULTS['covariance']}].",
    ),
    facets: str | None = typer.Option(None, "--facets", help=f"mfcvae only (required): {FACETS_HELP}"),
    aux: AuxSource | None = typer.Option(
        None,
        "--aux",
        help="ivae only (required): its observed u, 'c' = the data set's labels, 'u' = the file's 'u' array.",
    ),
    kl_warmup_epochs: int | None = typer.Option(
        None, "--kl-warmup-epochs", help="mfcvae: epochs over which the KL term grows from 0 to 1 [default: 0]."
    ),
    progressive_epochs: int | None = typer.Option(
        None,
        "--progressive-epochs",
        help="mfcvae: facet j >= 1 fades into the decoder over epochs [j P, (j+1) P) [default: 0, off].",
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
    likelihood: Likelihood | None = typer.Option(
        None, "--likelihood", help="gaussian, or bernoulli for data in [0, 1] [default: gaussian]."
    ),
    epochs: int | None = typer.Option(
        None,
        "--epochs",
        help=f"Maximum training epochs, early stopping may end sooner [default: {VADE_DEFAULTS['epochs']}].",
    ),
    pretrain_epochs: int | None = typer.Option(
        None,
        "--pretrain-epochs",
        help=f"Pretraining epochs (vade, mfcvae) [default: {VADE_DEFAULTS['pretrain_epochs']}]; ivae: epochs of "
        f"a PCA warm start [default: {IVAE_DEFAULTS['pretrain_epochs']}, a random start].",
    ),
    pretrain_objective: PretrainObjective | None = typer.Option(
        None,
        "--pretrain-objective",
        help="Warm start (vade, mfcvae): autoencoder, vanilla VAE, annealed_vae (a VAE whose KL term is weighted "
        "up from 0 over the first half), or alternate (vae for odd restarts, annealed_vae for even ones; the "
        f"held-out ELBO picks) [default: {VADE_DEFAULTS['pretrain_objective']}].",
    ),
    init_selection: InitSelection | None = typer.Option(
        None,
        "--init-selection",
        help="vade: which of the warm start's GaussianMixture seeds starts the fit, the most likely or the one "
        "whose clusters the other seeds agree with most [default: likelihood].",
    ),
    batch_size: str | None = typer.Option(
        None, "--batch-size", parser=batch_size_value, metavar="<int|auto>", help=BATCH_SIZE_HELP
    ),
    lr: float | None = typer.Option(None, "--lr", help=f"Adam learning rate [default: {VADE_DEFAULTS['lr']}]."),
    inference: Inference | None = typer.Option(
        None,
        "--inference",
        help="amortized: the encoder's q in the bound; refined: each sample's posterior mode refined by "
        f"Gauss-Newton steps, the decoder trained on the bound around it (slower) [default: "
        f"{VADE_DEFAULTS['inference']}].",
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
        "vade and mfcvae, 1 for vae and ivae].",
    ),
    elbo: ElboEstimator | None = typer.Option(
        None,
        "--elbo",
        help="Estimator of the bound's prior term: mean_field (exact), vade (Jiang et al.'s) or marginal "
        f"[default: {VADE_DEFAULTS['elbo']}].",
    ),
    noise_scale: float | None = typer.Option(
        None,
        "--noise-scale",
        help="gaussian: fix the noise sd (data units) instead of learning it [default: learned].",
    ),
    patience: int | None = typer.Option(
        None,
        "--patience",
        help=f"Stop after this many epochs without a held-out improvement; 0 = never [default: "
        f"{VADE_DEFAULTS['patience']}].",
    ),
    standardize: bool | None = typer.Option(
        None,
        "--standardize/--no-standardize",
        help="gaussian: centre x and divide by one global scale inside the model (results are in data units "
        "either way) [default: --standardize].",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of every random choice [default: 0]."),
    device: Device | None = typer.Option(
        None,
        "--device",
        help=(
            "auto takes a GPU when torch sees one and the networks are large (500,000 weights or more), "
            "else the CPU [default: auto]."
        ),
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads during the fit (torch's; for pca, fastica and gmm, the BLAS library's)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the interrupted fit in --out from its last checkpoint, with the options it was started "
        "with (flags typed again must agree; --epochs, --threads and --device may change).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace the run (finished, interrupted or failed) already in --out: its run.json, model/, latents, "
        "log and checkpoints are set aside, deleted once the new fit has finished, and put back if it fails; other "
        "files in the folder are kept.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fit a model (VaDE, VAE, MFC-VAE, iVAE or a linear floor); write the model, its config, the training
    log and the posterior means into a run folder."""
    given = typed_options(locals(), FIT_OPTIONS)
    if force and resume:
        raise InvalidParameterError(
            "--force and --resume contradict each other: --force replaces the run, --resume continues it. Drop one."
        )
    refuse_occupied_out(out.expanduser(), resume=resume, force=force)  # before any note: they came before it
    if resume and given.get("model") is not None and ModelName(given["model"]) not in DEEP:
        _refuse_inapplicable(ModelName(given["model"]), {**_restore(given), "resume": True})
    if resume:
        same_fit = _same_fit(_run_features(out))
        begun_with = _defaults_changed_since(out, same_fit)
        options = options_for_resume(out, given, same_fit, begun_with)
        for name, value in begun_with.items():
            note = f"the default of {flag(name)} has changed since this fit began; it goes on with {flag(name)} {value}"
            err_console.print(f"note: {escape(note)}", soft_wrap=True, highlight=False)
    else:
        options = given
    if options is None:
        _check_size("--epochs", given.get("epochs"), 1)  # checked as a fresh fit's are, though nothing runs
        _check_size("--threads", given.get("threads"), 1)
        if not (out / MODEL_DIR).is_dir():
            load_run(out)  # its one line: run.json says finished, model/ is gone
        info = read_run_info(out) or {}
        done = f", {plural(info.get('epochs_run', 0), 'epoch')}" if info.get("model") in DEEP_NAMES else ""
        finished = f"{out} holds a finished run ({info.get('model')}{done}); nothing to resume."
        began = (info.get("params") if isinstance(info.get("params"), dict) else {}).get("epochs")
        asked = given.get("epochs")
        # (a run fitted at the default --epochs records none: then more epochs than it ran is "more")
        more = asked is not None and (asked != began if began is not None else asked > info.get("epochs_run", 0))
        if more and info.get("model") in DEEP_NAMES:
            finished = finished[:-1] + (
                f": --resume continues an interrupted fit, and a finished one is not trained further. For "
                f"{plural(given['epochs'], 'epoch')}, fit into another --out (or replace this run with --force)."
            )
        console.print(finished, markup=False, highlight=False)  # run.json's model is read from a file: no markup
        return
    o = _restore(options)
    require(options, "data", out, resume)
    model = o["model"]
    _check_size("--decoder-width", o["decoder_width"], 1)
    _check_size("--decoder-depth", o["decoder_depth"], 1, MAX_LAYERS)
    _check_size("--encoder-width", o["encoder_width"], 1)
    _check_size("--encoder-depth", o["encoder_depth"], 0, MAX_LAYERS)
    _check_size("--patience", o["patience"], 0)
    _check_size("--threads", o["threads"], 1)
    if o["encoder_depth"] == 0 and o["encoder_width"] is not None:
        raise InvalidParameterError(
            "--encoder-width does not apply to --encoder-depth 0: a linear encoder has no hidden layers."
        )
    if o["noise_scale"] is not None and not o["noise_scale"] > 0:
        raise InvalidParameterError(f"--noise-scale must be > 0. Got {o['noise_scale']} instead.")
    _refuse_inapplicable(model, {**o, "resume": resume})
    parsed_facets = _facets_for(model, o["facets"], o["latent_dim"])
    unneeded = unread_roles(None if o["aux"] is None else o["aux"].value)
    dataset = load_data(o["data"], o["split"], o["data_dir"], o["x_columns"], o["header"], unneeded=unneeded)
    _note_other_facets(dataset, parsed_facets)
    if o["aux"] is not None:
        aux_values(dataset, o["aux"].value)  # a file without that u is refused before any progress bar starts
    if model in DEEP:
        params = _deep_params(model, o, parsed_facets, dataset.x.shape[1])
        note_oversubscription(o["threads"])
        if resume:
            probe = make_model(model.value, **params)  # settings refused in one line, before any note on them
            probe._validate_params()
            probe._resolve_device()
            for note in _resume_changes(out, params):
                err_console.print(f"note: {escape(note)}", soft_wrap=True, highlight=False)
    else:
        params = _linear_params(model, o)
        note_oversubscription(o["threads"])
    try:
        with training_progress(not quiet and model in DEEP) as callback, _blas_threads(model, o["threads"]):
            run = fit_run(
                model.value,
                dataset,
                out,
                resume=resume,
                force=force,
                callback=callback,
                aux=None if o["aux"] is None else o["aux"].value,
                command=["latentid", *sys.argv[1:]],
                options=options,
                **params,
            )
    except KeyboardInterrupt:
        info = read_run_info(out)
        if info is not None and info["status"] == FINISHED:  # Ctrl-C in the last instants: the run is complete
            complete = f"interrupted after the fit finished: {out} holds the complete run"
            err_console.print(escape(complete), soft_wrap=True, highlight=False)
            raise typer.Exit(130) from None
        resumable = model in DEEP and info is not None
        message = (
            f"interrupted: continue with 'latentid fit --out {shell_quoted(out)} --resume'"
            if resumable
            else "interrupted"
        )
        if resumable and (out / REPLACED_DIR).is_dir():  # an interrupted --force: the old run is not gone yet
            message += f"; the run it replaces waits in {out / REPLACED_DIR} until then, and is deleted when it ends"
        err_console.print(escape(message), soft_wrap=True, highlight=False)
        raise typer.Exit(130) from None
    except OSError as exc:
        info = read_run_info(out) if exc.errno in DISK_FULL and model in DEEP else None
        if info is None or info["status"] != RUNNING:
            raise
        raise DataFileError(  # the checkpoints written so far are kept: the fit goes on from the last one
            f"{exc.filename or out}: no space left on the device. Free some space, then continue with "
            f"'latentid fit --out {shell_quoted(out)} --resume'."
        ) from None
    written = (
        f"{MODEL_DIR}/, {LATENTS_FILE}, train_log.jsonl, run.json"
        if model in DEEP
        else f"{MODEL_DIR}/, {LATENTS_FILE}, run.json"
    )
    took = f"{plural(run.info['epochs_run'], 'epoch')}, " if model in DEEP else ""
    console.print(
        f"Fitted {model.value} ({took}{run.info['fit_seconds']:.1f} s) -> [bold]{escape(str(out))}[/] ({written})"
    )
    for warning in run.info.get("warnings", []):
        err_console.print(f"note: {escape(warning)} (recorded in run.json)", soft_wrap=True, highlight=False)


def plural(count: int, noun: str) -> str:
    """'1 epoch', '2 epochs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _restore(options: dict) -> dict:
    """Every fit option by name: the enum options as enums again, the rest as stored; None where not given."""
    restored = {name: options.get(name) for name in FIT_OPTIONS}
    for name, kind in ENUM_OPTIONS.items():
        if restored[name] is not None:
            restored[name] = kind(restored[name])
    restored["model"] = restored["model"] or ModelName.vade
    restored["seed"] = 0 if restored["seed"] is None else restored["seed"]
    return restored


def _refuse_inapplicable(model: ModelName, options: dict) -> None:
    """One-line errors for flags the chosen model has no use for (typed, even with their default value)."""

    def pick(*names: str) -> dict:
        return {f"--{name.replace('_', '-')}": options[name] for name in names}

    context = f"--model {model.value}"
    if model not in DEEP:
        refuse_flags(  # --threads applies: it limits the BLAS threads of the scikit-learn fit
            pick(*(name for name in TRAINING_OPTIONS if name != "threads")) | {"--resume": options["resume"] or None},
            context,
            "a linear floor is fitted by scikit-learn (PCA in closed form, FastICA and the GMM by their own "
            "iterations), with no networks or training loop",
        )
    if model is ModelName.ivae:  # its only warm start is the PCA start: --pretrain-epochs N > 0 asks for it
        refuse_flags(
            pick("components", "covariance", "pretrain_objective"),
            context,
            "its prior is p(z | u), not a mixture, and its one warm start is the PCA start (--pretrain-epochs N)",
        )
    elif model is not ModelName.gmm:
        if model not in MIXTURE_WARM_START:
            refuse_flags(
                pick("components", "covariance", "pretrain_epochs", "pretrain_objective"),
                context,
                "its prior is not a mixture with a warm start" if model in DEEP else "only gmm has mixture components",
            )
        elif model is ModelName.mfcvae:
            refuse_flags(pick("components"), context, "each facet has its own components: give them in --facets")
    if model is not ModelName.vade:
        refuse_flags(pick("init_selection"), context, "only vade chooses its starting mixture among seeds")
    if model is not ModelName.mfcvae:
        refuse_flags(
            pick("facets", "kl_warmup_epochs", "progressive_epochs"), context, "only mfcvae has facets and schedules"
        )
    if model is not ModelName.ivae:
        refuse_flags(pick("aux"), context, "only ivae reads an observed auxiliary variable u")
    elif options["aux"] is None:
        raise InvalidParameterError(
            "--model ivae needs --aux c (the data set's labels as u) or --aux u (the file's 'u' array)."
        )
    if model is ModelName.ivae and options["inference"] is Inference.refined:
        raise InvalidParameterError("--inference refined does not apply to --model ivae: its inference is amortized.")
    if options["likelihood"] is Likelihood.bernoulli:
        refuse_flags(pick("noise_scale", "standardize"), "--likelihood bernoulli", "it has no noise scale")
    if options["inference"] is Inference.refined or (options["iw_samples"] or 1) > 1:
        why = "the bound trained is importance-weighted, with no separate prior-term estimator"
        trained = "--inference refined" if options["inference"] is Inference.refined else "--iw-samples > 1"
        refuse_flags(pick("elbo"), trained, why)
    if options["inference"] is not Inference.refined:
        refuse_flags(
            pick("refine_steps"),
            f"--inference {(options['inference'] or Inference.amortized).value}",
            "only refined inference refines",
        )


def _facets_for(model: ModelName, facets: str | None, latent_dim: int | None) -> list[tuple[int, int]] | None:
    """mfcvae's parsed --facets (required), checked against --latent-dim; None for other models."""
    if model is not ModelName.mfcvae:
        return None
    if facets is None:
        raise InvalidParameterError("--model mfcvae needs --facets, e.g. --facets 2:3,2:4 (latent_dim:components).")
    # --components is refused for mfcvae by _refuse_inapplicable; the prior here is always a mixture
    return list(facets_from_options(facets, latent_dim=latent_dim, components=None, prior=Prior.gmm))


def _resume_changes(out: Path, params: dict) -> list[str]:
    """Notes on what a --resume with ``params`` changes that the result depends on: the epoch count (the learning
    rate's schedule is laid over the fit's epochs) and torch's thread count (the order floats are added in)."""
    from latentid.runs import THREADS_FIELD, fit_threads

    info = read_run_info(out) or {}
    began = info.get("params") if isinstance(info.get("params"), dict) else {}
    notes = []
    if type(began.get("epochs")) is int and params.get("epochs", began["epochs"]) < began["epochs"]:
        notes.append(
            f"the fit began with {began['epochs']} epochs and now ends at {params.get('epochs')}: at once where that "
            "many have run already; the model will not be that of a fit of that many epochs from the start"
        )
    elif type(began.get("epochs")) is int and began["epochs"] != params.get("epochs"):
        notes.append(
            f"the fit began with {began['epochs']} epochs and goes on to {params.get('epochs')}: the learning rate's "
            "schedule is laid out anew over them from here, so the model will not be that of a fit of "
            f"{params.get('epochs')} epochs from the start"
        )
    threads = [t for t in info.get(THREADS_FIELD) or [] if type(t) is int]
    now = fit_threads(params)
    if threads and threads[-1] != now:
        notes.append(
            f"the fit ran with {threads[-1]} torch thread(s) and goes on with {now}: the model will differ a little "
            f"from a fit with one thread count throughout (add --threads {threads[-1]} to keep it reproducible)"
        )
    return notes


def _blas_threads(model: ModelName, threads: int | None):
    """For a linear floor, --threads as the BLAS threads of its scikit-learn fit (a deep model's are torch's)."""
    if model in DEEP or threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


def _note_other_facets(dataset, facets: list[tuple[int, int]] | None) -> None:
    """A ``note:`` when mfcvae's facets are not those the data file was simulated with (a choice, not an error)."""
    if facets is None:
        return
    try:
        spec = recorded_spec(dataset.extras, dataset.source)
    except DataFileError:  # fit does not need the generator: an unreadable one only leaves the note out
        return
    if spec is None:
        return
    true = [tuple(f) for f in spec.facets] if spec.facets else None
    if true == [tuple(f) for f in facets]:
        return
    given = ",".join(f"{m}:{k}" for m, k in facets)
    if true is None:
        dims = plural(spec.latent_dim, "latent dimension")
        simulated = f"one mixture of {plural(spec.components, 'component')} in {dims}"
    else:
        simulated = "--facets " + ",".join(f"{m}:{k}" for m, k in true)
    err_console.print(
        f"note: --facets {given} are not the facets the data were simulated with ({simulated}); evaluate scores "
        "the fit against the true ones.",
        soft_wrap=True,
        highlight=False,
    )


def _run_features(out: Path) -> int | None:
    """The number of features the run in ``out`` was started on (run.json's data record), else None."""
    info = read_run_info(out) if out.is_dir() else None
    n_features = ((info or {}).get("data") or {}).get("n_features")
    return n_features if isinstance(n_features, int) else None


def _linear_params(model: ModelName, o: dict) -> dict:
    """The estimator parameters of a linear floor from the fit options ``o``."""
    params = {"latent_dim": 2 if o["latent_dim"] is None else o["latent_dim"], "random_state": o["seed"]}
    if model is ModelName.gmm:
        params["n_components"] = VADE_DEFAULTS["n_components"] if o["components"] is None else o["components"]
        params["covariance"] = (o["covariance"] or CovarianceType(VADE_DEFAULTS["covariance"])).value
    return params


def _same_fit(n_features: int | None):
    """Whether two sets of fit options make the same model: the same class with the same parameters, its
    defaults included (what ``options_for_resume`` asks of a flag typed again). None without ``n_features``;
    ``same.settings(options)`` gives (model name, its parameters)."""
    if n_features is None:
        return None

    def settings(options: dict) -> tuple[str, dict]:
        o = _restore(options)
        model = o["model"]
        facets = _facets_for(model, o["facets"], o["latent_dim"])
        params = _deep_params(model, o, facets, n_features) if model in DEEP else _linear_params(model, o)
        estimator = make_model(model.value, **params)
        resolved = estimator.get_params(deep=False)
        if model in DEEP:  # the networks as built: no widths given means the default ones
            resolved["hidden_dims"], resolved["encoder_dims"] = estimator._network_widths(n_features)
        return model.value, resolved

    def same(before: dict, after: dict) -> bool:
        try:
            return settings(before) == settings(after)
        except (LatentIDError, ValueError, TypeError, KeyError):  # a value that makes no model: not the run's
            return False

    same.settings = settings
    return same


def _defaults_changed_since(out: Path, same_fit) -> dict:
    """The fit options an interrupted fit in ``out`` began with by default, where today's default differs (an
    upgrade of latentid changed it): {option: the value its checkpoints record}. Without them the resume was
    refused both ways: the checkpoint named today's default as a change, and the flag typed with the old value was
    refused as not the run's. Empty when nothing changed or nothing can be read."""
    from latentid.checkpoint import load_checkpoint

    info = read_run_info(out) if out.is_dir() and same_fit is not None else None
    stored = (info or {}).get("options")
    checkpoints = sorted(out.glob("restart-*.pt")) + sorted(out.glob("pretrain-*.pt")) if info else []
    if not isinstance(stored, dict) or info["status"] != RUNNING or not checkpoints:
        return {}
    try:
        began = load_checkpoint(checkpoints[0]).get("config") or {}
        name, today = same_fit.settings(stored)
    except (LatentIDError, ValueError, TypeError, KeyError):
        return {}  # the resume itself names what is wrong
    if began.get("class") != MODELS[name].__name__:
        return {}
    return {
        option: value
        for option, value in began.items()
        if option in FIT_OPTIONS
        and option not in stored
        and option not in ADJUSTABLE_ON_RESUME
        and isinstance(value, (int, float, str, bool))
        and today.get(option) != value
    }


def _deep_params(model: ModelName, o: dict, facets, n_features: int) -> dict:
    """The estimator parameters of a deep model from the fit options ``o`` (None: the model's default)."""
    given = {
        "likelihood": o["likelihood"],
        "epochs": o["epochs"],
        "inference": o["inference"],
        "batch_size": o["batch_size"],
        "lr": o["lr"],
        "iw_samples": o["iw_samples"],
        "refine_steps": o["refine_steps"],
        "n_restarts": o["restarts"],
        "device": o["device"],
        "kl_warmup_epochs": o["kl_warmup_epochs"],
        "progressive_epochs": o["progressive_epochs"],
        "elbo": o["elbo"],
        "noise_scale": o["noise_scale"],
        "standardize": o["standardize"],
    }
    params = {name: getattr(v, "value", v) for name, v in given.items() if v is not None}
    params.update(random_state=o["seed"], threads=o["threads"])
    if o["patience"] is not None:
        params["patience"] = o["patience"] or None  # 0: no early stopping
    latent_dim = (
        sum(m for m, _ in facets) if facets is not None else (2 if o["latent_dim"] is None else o["latent_dim"])
    )
    if facets is not None:
        params["facets"] = facets
    else:
        params["latent_dim"] = latent_dim
    if model is ModelName.ivae and o["pretrain_epochs"] is not None:
        params["pretrain_epochs"] = o["pretrain_epochs"]
    if model in MIXTURE_WARM_START:
        defaults = VADE_DEFAULTS if model is ModelName.vade else MFCVAE_DEFAULTS
        names = {
            "covariance": "covariance",
            "pretrain_epochs": "pretrain_epochs",
            "pretrain_objective": "pretrain_objective",
        }
        if model is ModelName.vade:
            names["n_components"] = "components"
            names["init_selection"] = "init_selection"
        for name, option in names.items():
            value = o[option]
            params[name] = defaults[name] if value is None else getattr(value, "value", value)
    dims = network_dims(
        latent_dim, n_features, (o["decoder_width"], o["decoder_depth"]), (o["encoder_width"], o["encoder_depth"])
    )
    params.update(dims)
    return params


@app.command()
@friendly_errors
def transform(
    run: Path = typer.Option(..., "--run", help="A run folder written by 'latentid fit'."),
    data: str = typer.Option(..., "--data", help="Data to encode. " + DATA_HELP),
    split: Split | None = typer.Option(None, "--split", help=SPLIT_HELP),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    x_columns: str | None = typer.Option(None, "--x-columns", help=X_COLUMNS_HELP + " [default: the run's]"),
    header: Header | None = typer.Option(None, "--header", help=HEADER_HELP.replace("auto]", "the run's]")),
    out: Path = typer.Option(..., "--out", help="Output .npy of posterior means (n_samples, latent_dim)."),
    refine: bool = typer.Option(
        False,
        "--refine",
        help="Posterior mean under the fitted model by importance sampling (removes the encoder gap).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the importance sampling (--refine, or a run of refined inference) [default: 0]."
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Write the posterior means E[z | x] of a fitted model for new data."""
    if seed is not None and seed < 0:
        raise InvalidParameterError(f"--seed must be a non-negative int. Got {seed} instead.")
    _require_npy(out, force)
    loaded = load_run(run)
    if refine and loaded.info.get("model") in LINEAR_MODELS:
        raise InvalidParameterError(f"--refine does not apply to a {loaded.info['model']} run: it has no decoder.")
    refined = refine or getattr(loaded.model, "inference", "amortized") == "refined"
    if seed is not None and not refined:  # the encoder's means draw nothing: a seed would change nothing
        if loaded.info.get("model") in LINEAR_MODELS:
            raise InvalidParameterError(f"--seed does not apply to a {loaded.info['model']} run: it draws nothing.")
        raise InvalidParameterError("--seed seeds the importance sampling of --refine; add --refine or drop --seed.")
    dataset = data_for_run(loaded, data, split, data_dir, x_columns, header)
    # refine None: the model decides (refined inference refines)
    z = loaded.model.transform(dataset.x, refine=refine or None, random_state=seed or 0, **loaded.inputs(dataset))
    save_array(out, z, replace=force)
    what = "refined posterior means (importance-sampled under the fitted model)" if refined else "posterior means"
    console.print(f"Wrote {what} {z.shape} to [bold]{escape(str(out))}[/]")


@app.command()
@friendly_errors
def predict(
    run: Path = typer.Option(..., "--run", help="A run folder written by 'latentid fit'."),
    data: str = typer.Option(..., "--data", help="Data to label. " + DATA_HELP),
    split: Split | None = typer.Option(None, "--split", help=SPLIT_HELP),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    x_columns: str | None = typer.Option(None, "--x-columns", help=X_COLUMNS_HELP + " [default: the run's]"),
    header: Header | None = typer.Option(None, "--header", help=HEADER_HELP.replace("auto]", "the run's]")),
    out: Path = typer.Option(
        ..., "--out", help="Output .npy of component labels (n_samples,), or (n_samples, J) for J facets."
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Write the most likely mixture component of each sample (of each facet, for mfcvae)."""
    _require_npy(out, force, "labels")
    loaded = load_run(run)
    name = loaded.info.get("model")
    if not has_clusters(loaded.model):
        raise InvalidParameterError(
            f"--run {run}: the model of this run ({name}) has no clusters to predict (only "
            f"{', '.join(CLUSTERING_MODELS)} with more than one component assign samples to components). "
            "Use 'latentid transform' for its latents."
        )
    dataset = data_for_run(loaded, data, split, data_dir, x_columns, header)
    labels = loaded.model.predict(dataset.x, **loaded.inputs(dataset))
    save_array(out, labels, replace=force)
    console.print(f"Wrote {len(labels):,} labels {labels.shape} to [bold]{escape(str(out))}[/]")
