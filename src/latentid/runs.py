"""Run folders: what ``latentid fit`` writes and every later command reads.

A run folder holds
    run.json          what was fitted on what: status ("running" from the start, "finished" at the end,
                      "failed" with the ``error`` when training diverged: resuming would only repeat it),
                      the command line and its options, the data's absolute path and SHA-256, model,
                      seed, device used, versions, wall time, what the fit warned of (``warnings``,
                      e.g. FastICA not converging); after a --resume, ``options`` are the ones the
                      fit went on with, ``resumed`` and ``resume_commands`` say when and how
    model/            the fitted estimator (``LatentModel.save``: config.json + model.pt)
    latents.npy       posterior means of the training data, (n_samples, latent_dim) float32
    train_log.jsonl   one line per epoch (pretraining and training, every restart)
    restart-<r>.pt    deep models: the last epoch's training checkpoint of restart r (1-based), for --resume
    pretrain-<r>.pt   deep models with pretraining: the last pretraining epoch's checkpoint of restart r, for --resume
    pretrained-<r>.pt deep models with pretraining: restart r's warm-start weights (reusable as ``pretrained``)
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from latentid._atomic import atomic_path, write_text_atomic
from latentid._folder_lock import folder_lock
from latentid._shell import shell_quoted
from latentid._warnings import caller_stacklevel, user_warnings
from latentid.checkpoint import ARRAYS_NAME, CONFIG_NAME, STAGED_SUFFIX, WEIGHTS_NAME, versions
from latentid.data.io import Dataset, _name_list, file_state
from latentid.data.provenance import data_provenance
from latentid.errors import (
    DataFileError,
    InvalidDataError,
    InvalidParameterError,
    LatentIDError,
    LatentIDWarning,
    TrainingDivergedError,
)
from latentid.models import IVAE, MFCVAE, PCA, VAE, FastICA, GMMBaseline, LinearModel, VaDE
from latentid.models.base import LatentModel
from latentid.models.feature_names import set_names
from latentid.models.loading import load_model

DEEP_MODELS: dict[str, type[LatentModel]] = {"vade": VaDE, "vae": VAE, "mfcvae": MFCVAE, "ivae": IVAE}
LINEAR_MODELS: dict[str, type[LinearModel]] = {"pca": PCA, "fastica": FastICA, "gmm": GMMBaseline}
MODELS: dict[str, type[LatentModel] | type[LinearModel]] = {**DEEP_MODELS, **LINEAR_MODELS}
CLUSTERING_MODELS = ("vade", "mfcvae", "gmm")  # the models whose predict() gives clusters
AUX_SOURCES = ("c", "u")  # where iVAE's auxiliary variable comes from: the data set's labels or its 'u' array
RUN_FILE = "run.json"
MODEL_DIR = "model"
LATENTS_FILE = "latents.npy"
REPLACED_DIR = ".replaced-run"  # a run that --force replaces waits here until the new fit has finished
# where that run's files go one by one; the folder is renamed REPLACED_DIR once all are in, so a kill part-way
# leaves this name, and the move is undone (``undo_interrupted_set_aside``), never taken for a whole run
SETTING_ASIDE_DIR = REPLACED_DIR + ".moving"
RUNNING, FINISHED, FAILED = "running", "finished", "failed"  # run.json's status


@dataclass(frozen=True)
class Run:
    """A loaded run: the fitted model and what run.json says about it."""

    path: Path
    model: LatentModel | LinearModel
    info: dict

    def inputs(self, data: Dataset) -> dict:
        """The keyword arguments besides X that this run's model reads (iVAE: u from the same source as at fit)."""
        aux = self.info.get("aux")
        if aux is None:
            return {}
        fitted_columns = self.info.get("aux_label_columns")
        if aux == "c" and fitted_columns is not None and label_columns(data) not in (None, fitted_columns):
            raise InvalidDataError(
                f"{data.source}: has {label_columns(data)} label column(s) 'c', but this iVAE was fitted with "
                f"u = {fitted_columns} label column(s) (--aux c): its labels would mean other things. Use data "
                "labelled as at fit."
            )
        return {"u": aux_values(data, aux)}


def make_model(name: str, **params) -> LatentModel | LinearModel:
    """An unfitted estimator by its command-line name ('vade', 'vae', 'mfcvae', 'ivae', 'pca', 'fastica', 'gmm')."""
    if name not in MODELS:
        raise InvalidParameterError(f"Unknown model '{name}'. Use one of: {', '.join(MODELS)}.")
    return MODELS[name](**params)


def has_clusters(model) -> bool:
    """Does a fitted model cluster? Only the mixture models (those with ``predict``: ``models.base.has_clusters``),
    and only with more than one component."""
    if not hasattr(model, "predict"):
        return False
    weights = getattr(model, "weights_", None)
    return weights is None or np.size(weights) > 1


JOINT_LABEL_BASE = 1000  # --aux c on several label columns: each column's labels 0-999 ...
JOINT_LABEL_COLUMNS = 6  # ... and at most 6 columns, so that the joint label fits in int64


def aux_values(data: Dataset, aux: str) -> np.ndarray:
    """iVAE's u from a data set: 'c' its labels (n,) (several label columns: ``joint_labels``), 'u' its
    auxiliary matrix (n, aux_dim). A one-line error when the file has none."""
    if aux not in AUX_SOURCES:
        raise InvalidParameterError(f"--aux must be one of {', '.join(AUX_SOURCES)}; got '{aux}'.")
    values = data.c if aux == "c" else data.u
    if values is None:
        what = "labels 'c'" if aux == "c" else "auxiliary array 'u'"
        # 'latentid simulate' writes c, never u: name it only where it helps
        simulated = "a file written by 'latentid simulate', " if aux == "c" else ""
        raise InvalidDataError(
            f"{data.source}: has no {what} for --aux {aux}. Use {simulated}an .npz with that array, or a "
            f"CSV/Parquet file with a column named {aux} (or {aux}0, {aux}1, ...)."
        )
    if aux == "c" and values.ndim == 2:  # one label column per facet: the joint label
        values = joint_labels(values, data.source)
    return values


def joint_labels(columns: np.ndarray, source: str) -> np.ndarray:
    """One label per row from J label columns (n, J), the same for the same labels in every file:
    (c_1, ..., c_J) -> sum_j c_j * 1000^(J - j), so (2, 3) is 2003. Numbering the label tuples found in one
    file would give another file (a subset, a test split) other numbers for the same tuples."""
    n_columns = columns.shape[1]
    numeric = np.issubdtype(columns.dtype, np.number) or columns.dtype == bool
    whole = numeric and np.all(np.isfinite(columns)) and np.all(columns == np.round(columns))
    if n_columns > JOINT_LABEL_COLUMNS or not whole or columns.min() < 0 or columns.max() >= JOINT_LABEL_BASE:
        raise InvalidDataError(
            f"{source}: its {n_columns} label columns 'c' cannot be joined into one label for --aux c: that takes "
            f"at most {JOINT_LABEL_COLUMNS} columns of whole numbers 0-{JOINT_LABEL_BASE - 1}. Pass one label "
            "column, or the labels as a continuous 'u' (--aux u)."
        )
    powers = JOINT_LABEL_BASE ** np.arange(n_columns - 1, -1, -1, dtype=np.int64)
    return columns.astype(np.int64) @ powers


def label_columns(data: Dataset) -> int | None:
    """How many label columns the data set's 'c' has (None: no labels)."""
    return None if data.c is None else 1 if data.c.ndim == 1 else int(data.c.shape[1])


def hidden_widths(model: LatentModel) -> dict[str, list[int]]:
    """The hidden-layer widths of a fitted model's decoder (latent to data) and encoder (data to latent)."""

    def widths(part: nn.Module) -> list[int]:
        return [layer.out_features for layer in part.modules() if isinstance(layer, nn.Linear)]

    module = model.module_
    found = {"decoder_hidden_widths": widths(module.decoder)[:-1]}  # the last Linear is the output layer
    trunk = getattr(module.encoder, "trunk", None)  # the MLP before the mean and log-variance heads
    if trunk is not None:
        found["encoder_hidden_widths"] = widths(trunk)
    return found


def save_array(path: Path, array: np.ndarray, replace: bool = True) -> None:
    """np.save through a temporary file and a rename; ``replace=False`` keeps a file another command has put
    at ``path`` meanwhile (FileExistsError, ``atomic_path``)."""
    with atomic_path(path, replace=replace) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def read_run_info(path: str | Path) -> dict | None:
    """run.json of a run folder (None when there is none). A run.json without ``status`` (older latentid, or an
    edit) is a finished run where ``model/`` holds a saved model, else an interrupted one: a folder of
    checkpoints alone was never declared finished with nothing to use."""
    if (Path(path) / SETTING_ASIDE_DIR).is_dir():
        # under the folder's lock: a fit --force (or another reader) may be at it; then the folder is left as is
        with contextlib.suppress(DataFileError, OSError), fit_lock(Path(path), wait=0.0):
            undo_interrupted_set_aside(Path(path))
    file = Path(path) / RUN_FILE
    if not file.is_file():
        return None
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # Recursion: nested deep
        raise DataFileError(f"{file}: unreadable ({type(exc).__name__}). Delete the run folder and fit again.") from exc
    if not isinstance(info, dict):
        raise DataFileError(f"{file}: not a latentid run record. Delete the run folder and fit again.")
    if "status" not in info:
        info["status"] = FINISHED if (Path(path) / MODEL_DIR / CONFIG_NAME).is_file() else RUNNING
    _check_field_types(info, file)
    return info


# The fields of run.json that commands read, and the JSON types they must have (None: the field may be null).
_RUN_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "model": (str,),
    "options": (dict, type(None)),  # null in a run fitted from Python (fit_run, the demo): no command line
    "data": (dict, type(None)),
    "command": (list, type(None)),
}
_WHOLE_OPTIONS = (  # fit's options that take an int; --resume hands them to the estimator as stored
    "latent_dim",
    "components",
    "kl_warmup_epochs",
    "progressive_epochs",
    "decoder_width",
    "decoder_depth",
    "encoder_width",
    "encoder_depth",
    "epochs",
    "pretrain_epochs",
    "iw_samples",
    "refine_steps",
    "restarts",
    "patience",
    "seed",
    "threads",
)
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "data": (str,),
    "out": (str,),
    "model": (str,),
    **dict.fromkeys(_WHOLE_OPTIONS, (int,)),
    "lr": (int, float),
    "noise_scale": (int, float),
}
_JSON_TYPE_NAMES = {
    str: "text",
    dict: "an object",
    list: "a list",
    type(None): "null",
    int: "a whole number",
    float: "a number",
}


def _check_field_types(info: dict, file: Path) -> None:
    """DataFileError naming the first field of run.json (or of its options) whose type a command cannot read:
    a hand edit, which otherwise ended in a Python traceback."""
    options = info.get("options")
    fields = [(key, info[key], types) for key, types in _RUN_FIELD_TYPES.items() if key in info]
    if isinstance(options, dict):
        fields += [(f"options.{key}", options[key], types) for key, types in _OPTION_TYPES.items() if key in options]
    for key, value, types in fields:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            want = " or ".join(_JSON_TYPE_NAMES[t] for t in types if not (t is int and float in types))
            raise DataFileError(
                f"{file}: its {key} is {json.dumps(value)[:40]}, not {want}: the file was edited or damaged. "
                "Restore it, or delete the run folder and fit again."
            )


STUDY_FILE = "study.json"  # the settings file of a consistency study's folder (``experiments.consistency``)


def interrupted_message(path: Path) -> str:
    message = (
        f"{path}: holds an interrupted fit (run.json says 'running'; no finished model yet). "
        f"Continue it with 'latentid fit --out {shell_quoted(path)} --resume', or delete the folder."
    )
    return message + replaced_run_note(path)


def replaced_run_note(path: Path) -> str:
    """For a folder whose interrupted fit was replacing a run (--force): where that run waits, else ''."""
    aside = Path(path) / REPLACED_DIR
    if not aside.is_dir():
        return ""
    return (
        f" The run it replaces waits in {aside} (deleted when this fit finishes; a new --force keeps it and "
        "replaces the interrupted fit instead)."
    )


def running_message(path: Path) -> str:
    """One line for a folder a fit holds now; for a seed folder of a study running now, that the study is."""
    path = Path(path)
    if is_study_seed(path) and fit_in_progress(path.parent.parent):
        return f"{path}: a latentid study is fitting this seed now; wait for it to finish, or choose another --out."
    return (
        f"{path}: another latentid fit is writing into this folder now. Wait for it to finish (or stop it), "
        "or choose another --out."
    )


def is_study_seed(path: Path) -> bool:
    """Whether ``path`` is a seed folder of ``latentid experiment consistency`` / ``mnist``: <out>/<model>/seed-<n>
    with the study's settings in <out>."""
    return Path(path).name.startswith("seed-") and (Path(path).parent.parent / STUDY_FILE).is_file()


def study_seed_message(path: Path) -> str:
    """For a study seed folder with checkpoints and no run.json yet: being fitted now, or interrupted;
    ``fit --resume`` cannot continue it, the study's own command can."""
    study = path.parent.parent
    if fit_in_progress(study):
        return f"{path}: a latentid study is fitting this seed now; wait for it to finish."
    return (
        f"{path}: holds an interrupted fit of a study seed (checkpoints, no finished model). Run the same "
        f"'latentid experiment ...' command again (--out {shell_quoted(study)}) to continue it, or delete the folder."
    )


def fit_in_progress(path: Path) -> bool:
    """Whether a fit holds the lock of the run folder ``path`` (``fit_lock``) at this moment. Asked with a
    reader's lock, which other readers' do not exclude: asking with the fit's own made a fit starting that
    moment be refused as if another fit were running."""
    if not Path(path).is_dir():
        return False
    try:
        with folder_lock(Path(path), "busy", shared=True):  # (the message is never shown: only whether it is held)
            return False
    except DataFileError:
        return True


FIT_LOCK_WAIT = 2.0  # seconds a fit waits for readers of the folder (load_run, fit_in_progress) to let go


def fit_lock(out: Path, wait: float = FIT_LOCK_WAIT, busy: str | None = None):
    """Hold an exclusive lock on the run folder ``out`` while a fit writes into it: a second ``fit`` (a
    ``--resume`` or ``--force`` started while the first still runs) is refused in one line instead of writing
    the same checkpoints, and a reader (``load_run``) that finds it held, or its run.json rewritten, while it
    read says a fit is writing (``folder_lock``). ``busy``: the refusal's message [a fit is writing]."""
    return folder_lock(out, busy or running_message(out), wait=wait)


def failed_message(path: str | Path, info: dict) -> str:
    """One line for a run folder whose fit diverged: what went wrong, and how to fit again."""
    error = " ".join(str(info.get("error") or "no reason recorded").split()).rstrip(".")
    return (
        f"{path}: holds no model: its fit failed ({error}). "
        "Fit again with other settings and --force to replace it, or choose another --out."
    )


def json_params(params: dict) -> dict:
    """The estimator parameters that run.json records: those with a plain JSON value."""
    return {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool, list, type(None)))}


def refuse_occupied_out(out: Path, *, resume: bool, force: bool, locked: bool = False) -> dict | None:
    """Refuse an ``out`` that is no folder, holds a fit running now, a seed folder of a study running now, a
    failed, finished or interrupted run that neither ``resume`` nor ``force`` takes on, or files that are not a
    run's; return its run.json (None: none). ``fit_run`` checks it, again once it holds the folder's lock
    (``locked``: another fit may have written there in between), and the command line before its notes: they
    came before such a refusal."""
    if out.exists() and not out.is_dir():
        raise DataFileError(f"{out}: exists and is not a folder; choose another --out.")
    if is_study_seed(out) and fit_in_progress(out.parent.parent):  # first: it also holds the seed it fits now
        raise DataFileError(
            f"{out}: is a seed folder of the latentid study running now in {out.parent.parent}; a fit here would take "
            "the study's files. Wait for the study to finish, or choose another --out."
        )
    if not locked and fit_in_progress(out):  # before anything reads its run.json as an interrupted or finished fit
        raise DataFileError(running_message(out))
    earlier = read_run_info(out)
    if earlier is not None and earlier["status"] == FAILED and not force:
        raise DataFileError(failed_message(out, earlier))
    if earlier is not None and not resume and not force:
        if earlier["status"] == RUNNING:
            raise DataFileError(
                interrupted_message(out).replace(
                    ", or delete the folder", ", add --force to replace it, or choose another --out"
                )
            )
        raise DataFileError(f"{out}: already holds a finished run. Add --force to replace it, or choose another --out.")
    if earlier is None and not resume and not force and out.is_dir():
        others = foreign_entries(out)
        if others:
            clashes = [name for name in others if name in (*RUN_FILES, MODEL_DIR)] + [
                name for name in others if any(fnmatch.fnmatch(name, p) for p in CHECKPOINT_PATTERNS)
            ]
            beside = f"in place of your {', '.join(clashes)}" if clashes else "beside them"
            raise DataFileError(
                f"{out}: holds {len(others)} file(s) or folder(s) that are not a latentid run (e.g. "
                f"'{(clashes or others)[0]}'): the run's files would be mixed among them. Choose a new or empty "
                f"--out, or add --force to write the run {beside}."
            )
    return earlier


def fit_run(
    model_name: str,
    data: Dataset,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    callback=None,
    aux: str | None = None,
    command: list[str] | None = None,
    options: dict | None = None,
    **params,
) -> Run:
    """Fit ``model_name`` on ``data.x`` and write a run folder at ``out``; see the module docstring.

    ``aux``: where iVAE's u comes from ('c' or 'u', see ``aux_values``); required for 'ivae', refused otherwise.
    ``command`` (the command line) and ``options`` (the command's options, what ``--resume`` reads back) go
    into run.json, which is written with status "running" before the fit starts and "finished" after it.
    Resuming a finished run changes nothing and returns it. ``force`` replaces a run already in ``out``
    (finished or interrupted): its files (``RUN_FILES``) are deleted once the new fit's parameters are
    checked, other files in the folder are kept.
    """
    if not isinstance(data, Dataset):  # an array went on to fail deep inside ('ndarray' has no attribute 'source')
        raise InvalidParameterError(
            f"fit_run takes a latentid Dataset (read_dataset(path), or Dataset(x=X)); got {type(data).__name__}."
        )
    out = Path(out).expanduser()
    earlier = refuse_occupied_out(out, resume=resume, force=force)
    if resume and not out.is_dir():
        raise DataFileError(f"{out}: nothing to resume (no such run folder). Drop --resume to start afresh.")
    if resume and earlier is not None and earlier["status"] == FINISHED:
        return load_run(out)
    if (model_name == "ivae") != (aux is not None):
        raise InvalidParameterError(
            "--model ivae needs --aux c (the data's labels) or --aux u (its 'u' array) as its observed u."
            if aux is None
            else f"--aux applies only to --model ivae (a {model_name} reads x alone)."
        )
    inputs = {} if aux is None else {"u": aux_values(data, aux)}
    deep = model_name in DEEP_MODELS
    run_control = {"checkpoint_dir": str(out.resolve()), "resume": resume, "callback": callback} if deep else {}
    model = make_model(model_name, **run_control, **params)
    # Bad settings (an epoch count of 0, a GPU torch cannot see) are refused before anything in the folder
    # changes: before an old run is set aside (--force), or a resume's command is added to run.json.
    validate = getattr(model, "_validate_params", None)
    if validate is not None:
        validate()
    if deep:
        model._resolve_device()
    provenance = data_provenance(data)  # before the folder is made: a data file changed since its read is refused
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    with fit_lock(out):  # one fit at a time writes into a run folder
        # What another command did between the check above and taking the lock (a fit that finished here
        # meanwhile is not replaced without --force).
        earlier = refuse_occupied_out(out, resume=resume, force=force, locked=True)
        if resume and earlier is not None and earlier["status"] == FINISHED:
            return _load_run(out, "cpu")  # (load_run would take the lock held here for a fit's)
        if force and not resume:
            earlier = None
        created = created and not any(out.iterdir())  # (another fit may have created it too, and finished)
        started = {
            "status": RUNNING,
            "model": model_name,
            "command": command,
            "options": options,
            "data": provenance,
            "seed": params.get("random_state"),
            "params": json_params(params),  # what a --resume compares the flags typed again with
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **({THREADS_FIELD: [fit_threads(params)]} if deep else {}),
        }
        if resume and deep:  # a damaged checkpoint is named before anything in the folder changes
            from latentid.checkpoint import load_checkpoint

            for pattern in ("restart-*.pt", "pretrain-*.pt"):
                for checkpoint in sorted(out.glob(pattern)):
                    load_checkpoint(checkpoint)
        if earlier is not None:  # a resumed fit keeps the record of how it started, with the options it goes on with
            moved = _moved_data_record(earlier.get("data"), data)
            started = {
                **earlier,
                **({"data": moved} if moved is not None else {}),
                "options": earlier.get("options") if options is None else options,
                "resumed": [*earlier.get("resumed", []), time.strftime("%Y-%m-%dT%H:%M:%S")],
                "resume_commands": [*earlier.get("resume_commands", []), command],
                **({THREADS_FIELD: [*_recorded_threads(earlier), fit_threads(params)]} if deep else {}),
                # (a session before threads were recorded is None: the list stays one entry per session)
            }
        replaced = set_aside_run_files(out) if force and not resume and not created else None
        write_text_atomic(out / RUN_FILE, json.dumps(started, indent=2))
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)  # (ConvergenceWarning is one)
                model.fit(data.x, **inputs)
        except BaseException as exc:
            # A fit refused before it trained leaves nothing behind; one that trained keeps its
            # checkpoint so that --resume can continue it, unless it diverged: resuming from the last good
            # checkpoint would diverge again, so run.json says it failed, and why.
            # A replacing fit (--force) that fails puts the run it replaced back; one interrupted goes on as the
            # folder's run (resumable), as the user asked, unless the model has nothing to resume (pca, fastica,
            # gmm): then the old run comes back whatever stopped the fit.
            if replaced is not None and (isinstance(exc, Exception) or not deep):
                restore_run_files(out, replaced)
            elif resume and isinstance(exc, LatentIDError) and not isinstance(exc, TrainingDivergedError):
                # a resume refused (its data or settings do not match the checkpoints) leaves the record as it was,
                # or absent where there was none
                if earlier is not None:
                    write_text_atomic(out / RUN_FILE, json.dumps(earlier, indent=2))
                else:
                    (out / RUN_FILE).unlink(missing_ok=True)
            elif created and out.is_dir() and {p.name for p in out.iterdir()} <= {RUN_FILE}:
                (out / RUN_FILE).unlink(missing_ok=True)
                out.rmdir()
            elif not deep:  # a linear fit that did not end has nothing to resume: no 'running' record is left
                (out / RUN_FILE).unlink(missing_ok=True)
            elif isinstance(exc, TrainingDivergedError) and out.is_dir():
                failed = {**started, "status": FAILED, "error": str(exc), "failed": time.strftime("%Y-%m-%dT%H:%M:%S")}
                write_text_atomic(out / RUN_FILE, json.dumps(failed, indent=2))
            elif (out / RUN_FILE).is_file():  # interrupted, to be resumed: its time counts toward fit_seconds
                sessions = [*started.get(SESSIONS_FIELD, []), round(time.perf_counter() - start, 3)]
                write_text_atomic(out / RUN_FILE, json.dumps({**started, SESSIONS_FIELD: sessions}, indent=2))
            raise
        sessions = [*started.get(SESSIONS_FIELD, []), round(time.perf_counter() - start, 3)]
        seconds = sum(sessions)
        fit_warnings = user_warnings(caught)  # into run.json (the command prints each as a note)
        # The table's column names go into the saved model, so that a DataFrame given to it in Python is checked
        # by name; the command line reads arrays and checks names itself (check_data_for_run), so not here.
        set_names(model, data.x_names)
        model.save(out / MODEL_DIR)
        set_names(model, None)
        save_array(out / LATENTS_FILE, model.transform(data.x, **inputs))
        labels = {"aux_label_columns": label_columns(data)} if aux == "c" else {}
        info = run_record(model_name, model, data, params, seconds, aux=aux, provenance=started["data"], **labels)
        info = {**started, **info, SESSIONS_FIELD: sessions, "warnings": fit_warnings}
        recorded = started.get(THREADS_FIELD, [])
        threads = sorted({t for t in recorded if t is not None})
        if len(threads) > 1 or (threads and None in recorded):
            info["threads_note"] = mixed_threads_note(threads, unknown=None in recorded)
        began = (started.get("params") or {}).get("epochs") if isinstance(started.get("params"), dict) else None
        if deep and type(began) is int and began != params.get("epochs"):
            info["epochs_note"] = (
                f"the fit began with {began} epochs and went on to {params.get('epochs')} (--resume --epochs): the "
                "learning rate's schedule was laid out anew part-way, so a fit of that many epochs from the start "
                "gives another model"
            )
        if len(sessions) < 1 + len(started.get("resumed", [])):  # a session killed outright recorded no time
            info["fit_seconds_note"] = (
                f"the sum of {len(sessions)} of the fit's {1 + len(started.get('resumed', []))} sessions: a session "
                "killed outright (SIGKILL, a crash) records no time"
            )
        write_text_atomic(out / RUN_FILE, json.dumps(info, indent=2))
        # The run a --force replaced is deleted once the new one is written, also when that fit was interrupted
        # and finished by a --resume.
        shutil.rmtree(out / REPLACED_DIR, ignore_errors=True)
        return Run(out, model, info)


# run.json: the seconds of each session of a fit (the first, then each --resume) whose end was seen (it finished,
# or Ctrl-C / an error interrupted it); fit_seconds is their sum.
SESSIONS_FIELD = "session_seconds"
# run.json: torch's CPU threads in each session of a deep model's fit. Sums of floats are added up in another order
# with another thread count, so a fit's last digits (and, over many epochs, more) depend on it.
THREADS_FIELD = "torch_threads"


def fit_threads(params: dict) -> int:
    """The torch CPU threads a deep model's fit with ``params`` runs with (its ``threads``, else torch's own)."""
    import torch

    return int(params.get("threads") or torch.get_num_threads())


def _recorded_threads(earlier: dict) -> list[int | None]:
    """The thread counts of an interrupted run's sessions, one per session (the first, then each resume): None for
    a session whose run.json was written before they were kept."""
    sessions = 1 + len(earlier.get("resumed") or [])
    threads = earlier.get(THREADS_FIELD)
    known = [t if type(t) is int else None for t in threads] if isinstance(threads, list) else []
    return [None] * max(0, sessions - len(known)) + known[-sessions:]


def mixed_threads_note(threads: list[int], unknown: bool = False) -> str:
    """What a fit whose sessions ran with different torch thread counts (``threads``, sorted; ``unknown``: some
    session's count was not recorded) differs in."""
    counts = " and ".join(map(str, threads))
    if unknown:
        return (
            f"some of the fit's sessions ran with {counts} torch thread(s), and an earlier one with a count not "
            "recorded (latentid kept none then): with another count, the model differs a little from a fit with "
            "one thread count throughout"
        )
    return (
        f"the fit's sessions ran with {counts} torch threads: the model differs a little from a fit with one thread "
        "count throughout, which alone reproduces it exactly"
    )


RUN_FILES = (RUN_FILE, LATENTS_FILE, "train_log.jsonl")  # with model/ and the checkpoints below
CHECKPOINT_PATTERNS = ("restart-*.pt", "pretrained-*.pt", "pretrain-*.pt")
_WEIGHTS = (WEIGHTS_NAME, ARRAYS_NAME)
MODEL_FILES = (CONFIG_NAME, *_WEIGHTS, *(name + STAGED_SUFFIX for name in _WEIGHTS))  # .new: a save's staging


def _moved_data_record(recorded, data: Dataset) -> dict | None:
    """The data record of a resumed run whose file the resume read from another path (the same bytes, which the
    resume has checked): the recorded one with its ``source`` and ``path`` made the new ones; else None."""
    if not isinstance(recorded, dict) or recorded.get("path") is None:
        return None
    path = Path(data.source)
    if not path.is_file() or str(path.resolve()) == recorded["path"]:
        return None
    return {**recorded, "source": data.source, "path": str(path.resolve())}


def run_files(out: Path) -> list[Path]:
    """The files of the run in ``out`` that latentid writes, and nothing else: run.json, latents.npy,
    train_log.jsonl, the checkpoints, and model/'s config.json, model.pt and arrays.npz (and their staged .new)."""
    files = [out / name for name in RUN_FILES]
    files += [file for pattern in CHECKPOINT_PATTERNS for file in sorted(out.glob(pattern))]
    files += [out / MODEL_DIR / name for name in MODEL_FILES]
    return [file for file in files if file.is_file()]


def foreign_entries(out: Path) -> list[str]:
    """Names in ``out``, a folder without run.json, that a fit there would mix its files among (sorted): all
    of them but the folder a replaced run waits in. Without run.json no run owns them, so a latents.npy,
    train_log.jsonl or model/ there is the user's, which the fit would overwrite."""
    return sorted(entry.name for entry in out.iterdir() if entry.name not in (REPLACED_DIR, SETTING_ASIDE_DIR))


def _prune_model_dir(out: Path) -> None:
    model_dir = out / MODEL_DIR
    if model_dir.is_dir() and not any(model_dir.iterdir()):
        model_dir.rmdir()


def refuse_linked_folders(out: Path) -> None:
    """Refuse a run folder whose model/ or set-aside folders are symbolic links, before latentid moves, replaces or
    deletes files in them: a link may point anywhere (a run folder shared or downloaded), and the move would take
    the files it points at, or write over them. (A linked file is moved as the link itself, which is safe.)"""
    for name in (MODEL_DIR, REPLACED_DIR, SETTING_ASIDE_DIR):
        if (Path(out) / name).is_symlink():
            raise DataFileError(
                f"{Path(out) / name}: is a symbolic link; latentid does not move or write a run's files through a "
                "link, which could point outside the run folder. Put the folder itself in its place, or fit into "
                "another --out."
            )


def remove_run_files(out: Path) -> None:
    """Delete ``run_files(out)`` (model/ itself only when that leaves it empty)."""
    refuse_linked_folders(out)
    for file in run_files(out):
        file.unlink()
    _prune_model_dir(out)


def set_aside_run_files(out: Path) -> Path:
    """Move ``run_files(out)`` into a hidden folder of ``out`` (returned), so that a replacing fit that fails
    can put them back (``restore_run_files``).

    Where that folder is left by a replacing fit that was interrupted, it holds the run that fit was replacing,
    and the folder's own files are that unfinished fit's: those are deleted and the waiting run is kept, so a
    run is only ever lost to one that finished.
    """
    refuse_linked_folders(out)
    undo_interrupted_set_aside(out)
    aside = out / REPLACED_DIR
    if aside.exists():
        info = read_run_info(out)
        if info is not None and info.get("status") == FINISHED:  # stale: its replacement finished since
            shutil.rmtree(aside)
        else:
            remove_run_files(out)
            return aside
    moving = out / SETTING_ASIDE_DIR
    for file in run_files(out):
        target = moving / file.relative_to(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        file.replace(target)
    moving.mkdir(exist_ok=True)  # a folder with no run files still sets an (empty) run aside
    moving.replace(aside)  # one rename: the whole run waits, or none of it does
    _prune_model_dir(out)
    return aside


def undo_interrupted_set_aside(out: Path) -> None:
    """Put back the files a ``set_aside_run_files`` killed part-way had moved (the rest of that run is still in
    ``out``: nothing is written there before the set-aside ends). Call it only holding ``fit_lock(out)``."""
    moving = Path(out) / SETTING_ASIDE_DIR
    if not moving.is_dir():
        return
    refuse_linked_folders(out)
    for file in sorted(p for p in moving.rglob("*") if p.is_file()):
        target = Path(out) / file.relative_to(moving)
        target.parent.mkdir(parents=True, exist_ok=True)
        file.replace(target)
    shutil.rmtree(moving, ignore_errors=True)


def restore_run_files(out: Path, aside: Path) -> None:
    """Delete the failed fit's files in ``out`` and move back those ``set_aside_run_files`` kept in ``aside``."""
    remove_run_files(out)  # refuses linked folders first
    for file in sorted(p for p in aside.rglob("*") if p.is_file()):
        target = out / file.relative_to(aside)
        target.parent.mkdir(parents=True, exist_ok=True)
        file.replace(target)
    shutil.rmtree(aside)


def run_record(
    model_name: str, model, data: Dataset, params: dict, seconds: float, provenance: dict | None = None, **extra
) -> dict:
    """What run.json says of a finished fit of ``model`` on ``data``; ``extra`` (e.g. ``aux``) is added.

    ``provenance``: the data's ``data_provenance`` when already computed. ``best_restart`` counts from 1,
    as the log and the checkpoint file names do.
    """
    best = getattr(model, "best_restart_", None)
    return {
        "status": FINISHED,
        "model": model_name,
        "aux": None,
        "seed": params.get("random_state"),
        **extra,
        "data": provenance if provenance is not None else data_provenance(data),
        "n_samples": int(data.x.shape[0]),
        "n_features": int(data.x.shape[1]),
        "params": json_params(params),
        **(hidden_widths(model) if model_name in DEEP_MODELS else {}),
        "device": str(getattr(model, "device_", "cpu")),
        "fit_seconds": round(seconds, 3),
        "epochs_run": int(getattr(model, "n_iter_", 0) or 0),
        "best_restart": None if best is None else int(best) + 1,
        "versions": versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def load_run(path: str | Path, device: str | None = "cpu") -> Run:
    """Load a finished run folder written by ``fit_run``; a one-line error if ``path`` is not one, or
    holds an interrupted fit (with the command that continues it).

    ``device`` places a deep model: 'cpu' by default, where the command line's transform, predict and evaluate
    run (``load_model``'s default is 'auto'); 'auto', 'cuda' or 'cuda:N' to place it elsewhere.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such folder. Give the --out folder of 'latentid fit'.")
    read_run_info(path)  # first: it puts back what an interrupted --force set aside, under the fit's lock
    if not path.is_dir() or ((path / STUDY_FILE).is_file() and not (path / RUN_FILE).is_file()):
        return _load_run(path, device)  # no run folder (a study's is named as such whether it runs or not)
    # A fit --force replacing the run meanwhile showed a reader a folder halfway through (run.json gone, model/
    # missing) with advice to delete it, or one fit's run.json with another's model. The folder is read as it is
    # and read again if a fit held it, or its run.json changed (every fit writes one as it starts and as it ends),
    # at any moment of the read: then it says a fit is writing. Readers hold no lock, so none keeps a fit waiting.
    for _ in range(READ_ATTEMPTS):
        before = _run_file_state(path)
        if fit_in_progress(path):
            break
        try:
            run = _load_run(path, device)
        except DataFileError:
            if fit_in_progress(path) or _run_file_state(path) != before:
                continue  # the refusal was of a folder being rewritten: read it again, or say a fit is writing
            raise
        if not fit_in_progress(path) and _run_file_state(path) == before:
            return run
    raise DataFileError(running_message(path))


READ_ATTEMPTS = 3  # reads of a run folder a fit rewrote meanwhile, before load_run says a fit is writing


def _run_file_state(path: Path) -> tuple | None:
    """``file_state`` of the run folder's run.json, None without one: a fit's every write of it (an atomic
    replace) changes the inode."""
    try:
        return file_state(path / RUN_FILE)
    except OSError:
        return None


def _load_run(path: Path, device: str | None) -> Run:
    """``load_run``'s reading of the folder ``path``, which exists (its checks for a fit meanwhile are load_run's)."""
    info = read_run_info(path)
    checkpoints = info is None and path.is_dir() and any(path.glob("restart-*.pt"))
    if checkpoints and is_study_seed(path):
        raise DataFileError(study_seed_message(path))
    if info is None and (path / MODEL_DIR / "config.json").is_file() and not fit_in_progress(path):
        raise DataFileError(
            f"{path}: has a fitted {MODEL_DIR}/ but no {RUN_FILE} (deleted or lost), so the run's record (its data, "
            f"options and columns) is gone. Restore {RUN_FILE}, fit again, or load {path / MODEL_DIR} in Python "
            "with latentid.models.load_model."
        )
    if checkpoints or (info is not None and info["status"] == RUNNING):
        raise DataFileError(running_message(path) if fit_in_progress(path) else interrupted_message(path))
    if info is not None and info["status"] == FAILED:
        raise DataFileError(failed_message(path, info))
    if info is None and (path / STUDY_FILE).is_file():  # a study's folder: its fits are its seed folders
        seeds = sorted(path.glob(f"*/seed-*/{MODEL_DIR}"))
        example = f", e.g. {seeds[0].parent}" if seeds else ""
        raise DataFileError(
            f"{path}: is the folder of a study ('latentid experiment'), not of one fit. Give one of its fits, the "
            f"<model>/seed-<n> folders{example}."
        )
    if info is not None and not (path / MODEL_DIR).is_dir():
        raise DataFileError(
            f"{path}: its {RUN_FILE} says the fit finished, but {MODEL_DIR}/ is missing (deleted or moved). Restore "
            f"{MODEL_DIR}/, or fit again with --force."
        )
    if info is None or not (path / MODEL_DIR).is_dir():
        raise DataFileError(
            f"{path}: not a latentid run folder (no {RUN_FILE} and {MODEL_DIR}/). "
            "Give the --out folder of 'latentid fit'."
        )
    model = load_model(path / MODEL_DIR, device=device)
    named = MODELS.get(info.get("model")) if "model" in info else type(model)
    if named is not type(model):
        raise DataFileError(
            f"{path / RUN_FILE}: says the model is {info.get('model')!r}, but {MODEL_DIR}/ holds a "
            f"{type(model).__name__}: the file was edited or the folder mixed. Restore run.json, or fit again."
        )
    set_names(model, None)  # commands pass arrays; check_data_for_run checks the columns against run.json's
    return Run(path, model, info)


def check_data_for_run(run: Run, data: Dataset) -> Dataset:
    """``data`` unchanged if it has the run's features, else a one-line error: another number of columns, or,
    where both the fit's table and this one have a header, columns named or ordered differently (a model reads
    columns by position, so a reordered table would give wrong latents without a word)."""
    expected = run.model.n_features_in_
    fitted = (run.info.get("data") or {}).get("x_columns")
    if data.x.shape[1] != expected:
        have, which = data.x.shape[1], ""
        if isinstance(fitted, list) and data.x_names is not None:  # both tables have a header: name the difference
            extra = [name for name in data.x_names if name not in fitted]
            missing = [name for name in fitted if name not in data.x_names]
            parts = [f"not in the fit's: {_name_list(extra)}"] if extra else []
            parts += [f"missing here: {_name_list(missing)}"] if missing else []
            which = f" ({'; '.join(parts)})" if parts else ""
            if not missing:
                listed = ",".join(fitted) if len(fitted) <= 12 else f"(the {len(fitted)} in run.json's data.x_columns)"
                which += f". Choose the fitted columns with --x-columns {listed}"
        elif isinstance(fitted, list) and len(fitted) <= 12:  # this file has no names: say which the fit had
            which = f" (columns {', '.join(fitted)} of a table)"
        raise DataFileError(
            f"{data.source}: has {have} feature{'' if have == 1 else 's'} but the run in {run.path} was fitted on "
            f"{expected}{which}."
        )
    if isinstance(fitted, list) and data.x_names is None:  # as the Python API warns of a frame without names
        shown = ", ".join(fitted) if len(fitted) <= 12 else f"the {len(fitted)} columns of run.json's data.x_columns"
        warnings.warn(
            f"{data.source} has no column names: its columns are taken as those the run was fitted on ({shown}), "
            "in that order",
            LatentIDWarning,
            stacklevel=caller_stacklevel(),
        )
    if isinstance(fitted, list) and data.x_names is not None and list(data.x_names) != fitted:
        at = next(i for i, (a, b) in enumerate(zip(data.x_names, fitted, strict=True)) if a != b)
        how = "in another order" if sorted(data.x_names) == sorted(fitted) else "differently"
        raise DataFileError(
            f"{data.source}: x's columns are named {how} than at fit (column {at} is '{data.x_names[at]}' here, "
            f"'{fitted[at]}' in the data the run in {run.path} was fitted on). Reorder or rename them to match, "
            "or choose them with --x-columns."
        )
    return data
