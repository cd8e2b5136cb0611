"""The seed-consistency study: fit a model once per seed, score each fit on a held-out test split, and
compare the seeds with one another (the consistency form of identifiability: no ground truth needed).

Per model and seed ``s`` (``random_state = s``) the model is fitted on the train split only; the test
split is never seen by a fit. Labels, when the data have them, are read only after a fit, to score it.
Across seeds, every pair of fits is compared on the test split: strong and weak MCC of their posterior
means (``latentid.metrics.consistency``) and, for a clustering model, the ARI between their predicted
clusters.

The study folder ``out``::

    study.json                          the settings the folder belongs to (checked on every rerun)
    results.json                        what ``run_study`` returns, written at the end
    latents_<model>.png                 seed 0's test latents in 2-D (PCA), coloured by class
    consistency_<model>.png             pairwise strong and weak MCC across seeds (heat maps)
    <model>/seed-<s>/model/             the fitted estimator (``model.save``; ``load_model`` reads it)
    <model>/seed-<s>/test_latents.npy   posterior means of the test split, (n_test, latent_dim) float32
    <model>/seed-<s>/test_labels.npy    predicted clusters of the test split, (n_test,) int64 (clustering models)
    <model>/seed-<s>/train_log.jsonl    one line per epoch
    <model>/seed-<s>/run.json           as ``latentid fit`` writes it: the seed folder is a run folder
    <model>/seed-<s>/metrics.json       the seed's scores; written last, it marks the seed finished

Every file is written atomically. A rerun with the same settings skips finished seeds and continues an
interrupted fit from its last per-epoch checkpoint (removed once the seed is finished); more seeds or
another model extend the study, while a model with other settings, or other data, is refused unless
``force`` (which replaces the study).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from latentid._atomic import write_text_atomic
from latentid.checkpoint import jsonable
from latentid.data.io import Dataset
from latentid.data.real import is_real_dataset_name
from latentid.data.sources import open_data
from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError, LatentIDWarning
from latentid.metric_versions import METRICS_VERSION
from latentid.metrics import cluster_report, consistency
from latentid.models.fitting import data_fingerprint
from latentid.runs import RUN_FILE, STUDY_FILE, fit_lock, make_model, run_record, save_array

STUDY_MODELS = ("vade", "vae", "mfcvae")
CLUSTERING_MODELS = ("vade", "mfcvae")  # the models whose prior has clusters (predict gives labels)
MODEL_TITLES = {"vade": "VaDE", "mfcvae": "MFC-VAE"}  # as the papers write them
# how the starting mixture is chosen among its n_init seeds (VaDE's init_selection)
SELECTION_WORDS = {"likelihood": "likelihood", "consensus": "consensus (the one the others agree with most, mean ARI)"}
MIN_SEEDS = 2
MIN_ROWS = 20  # each split: the cross-seed MCC fits its alignments on half the test rows and scores the other half
SPLIT_SEED = 0  # the seed of the file's held-out split and of any subsample: the same rows for every seed
SETTINGS_FILE = STUDY_FILE
LABELS_KEY = "labels_fingerprint"  # of a data file's labels c, in the study's data settings
RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.json"
MODEL_DIR = "model"
LATENTS_FILE = "test_latents.npy"
LABELS_FILE = "test_labels.npy"
CLUSTER_KEYS = ("test_cluster_acc", "test_nmi", "test_ari", "train_cluster_acc")
# Parameters that steer a fit without being part of the study's settings (and the ones the study sets itself).
NOT_SETTINGS = ("threads", "device", "callback", "checkpoint_dir", "resume")
SET_BY_STUDY = ("random_state", "callback", "checkpoint_dir", "resume")
LABELS_NOTE = (
    "Labels are never used to fit or select a model: they are read after each fit, to score it. "
    "Fits see the train split only; test_* scores and the cross-seed figures are on the test split."
)

Progress = Callable[[dict], None]


# ---------------------------------------------------------------------------------------------- data
def take_rows(data: Dataset, rows: np.ndarray, source: str) -> Dataset:
    """The rows ``rows`` (k,) of every per-sample array of ``data``, as a new Dataset named ``source``."""
    pick = lambda a: None if a is None else a[rows]  # noqa: E731
    return replace(data, x=data.x[rows], z=pick(data.z), c=pick(data.c), u=pick(data.u), source=source, extras={})


def subsample(data: Dataset, n: int | None, flag: str = "--n-train", seed: int = SPLIT_SEED) -> Dataset:
    """A seeded random subsample of ``n`` rows of ``data`` (kept in their order); all rows when n is None."""
    if n is None:
        return data
    total = len(data.x)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not MIN_ROWS <= n <= total:
        raise InvalidParameterError(f"{flag} must be an int in [{MIN_ROWS}, {total}] ({data.source}); got {n!r}.")
    rows = np.sort(np.random.default_rng(seed).permutation(total)[:n])
    return take_rows(data, rows, f"{data.source}, {n} rows drawn with seed {seed}")


def holdout_split(data: Dataset, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[Dataset, Dataset]:
    """Split ``data`` into (train, test) with a seeded random ``test_fraction`` share of rows held out.

    The same (data, test_fraction, seed) always give the same rows, so every seed of a study is scored
    on the same held-out samples. Both parts keep the rows' original order.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise InvalidParameterError(
            f"--test-fraction must be a number strictly between 0 and 1; got {test_fraction!r}."
        )
    n = len(data.x)
    n_test = int(round(test_fraction * n))
    if n_test < MIN_ROWS or n - n_test < MIN_ROWS:
        raise InvalidDataError(
            f"{data.source}: {n} rows split by --test-fraction {test_fraction} into {n - n_test} train and {n_test} "
            f"test rows; each part needs at least {MIN_ROWS}. Use more rows or another --test-fraction."
        )
    order = np.random.default_rng(seed).permutation(n)
    test_rows, train_rows = np.sort(order[:n_test]), np.sort(order[n_test:])
    return (
        take_rows(data, train_rows, f"{data.source} (train: {n - n_test} rows)"),
        take_rows(data, test_rows, f"{data.source} (test: {n_test} rows held out with seed {seed})"),
    )


def open_study_data(
    data: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    test_fraction: float | None = None,
    x_columns: str | None = None,
    header: bool | None = None,
) -> tuple[Dataset, Dataset, dict]:
    """(train, test, data_settings) for ``--data``: a published data set's own train and test splits, or a
    file with a seeded ``test_fraction`` (default 0.2) of its rows held out.

    ``data_settings`` is what identifies the data in the study's settings (a file by the fingerprints of
    its x and its labels, not by its path, so that a moved file is still the same study while one whose
    labels changed is not: its seeds would be scored against other classes). ``x_columns``: a CSV/Parquet
    file's x columns and ``header`` whether a CSV/TSV's first row names them (see
    ``latentid.data.io.read_dataset``); the notes of the file's reading are in ``train.notes``.
    """
    if is_real_dataset_name(data):
        if test_fraction is not None:
            raise InvalidParameterError(
                f"--test-fraction does not apply to --data {data}: a published data set is trained on its train "
                "split and scored on its test split. Drop it."
            )
        name = str(data).lower()
        train, test = open_data(name, "train", data_dir, x_columns), open_data(name, "test", data_dir, x_columns)
        return train, test, {"data": name, "train": "published train split", "test": "published test split"}
    fraction = 0.2 if test_fraction is None else test_fraction
    full = open_data(data, None, data_dir, x_columns, header=header)
    train, test = holdout_split(full, fraction)
    settings = {
        "data": "file",
        "fingerprint": data_fingerprint(full.x),
        LABELS_KEY: None if full.c is None else data_fingerprint(np.asarray(full.c, dtype=np.int64)),
        "n_rows": len(full.x),
        "test_fraction": fraction,
        "split_seed": SPLIT_SEED,
    }
    return train, test, settings


def _label_vector(c: np.ndarray | None) -> np.ndarray | None:
    """Labels as one column (n,): several columns (one per facet) become one joint label per row."""
    if c is None:
        return None
    c = np.asarray(c)
    if c.ndim == 1:
        return c.astype(np.int64)
    return np.unique(c, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


# ---------------------------------------------------------------------------------------------- settings
_DATA_DIFFERENCES = {  # the data settings that identify a file, said in words
    "data.fingerprint": "the data file's x differ from those the study was run on",
    f"data.{LABELS_KEY}": "the data file's labels c differ from those the study's seeds were scored against",
}


def _normalised(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists, numpy scalars as Python numbers)."""
    return json.loads(json.dumps(_plain(value)))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return jsonable(value) if not isinstance(value, (list, tuple)) else [_plain(v) for v in value]


def model_settings(name: str, params: Mapping[str, Any]) -> dict:
    """Every parameter of the estimator that shapes its fit (its defaults filled in), as JSON values."""
    full = make_model(name, **params).get_params(deep=False)
    return _normalised({k: v for k, v in full.items() if k not in NOT_SETTINGS and k != "random_state"})


def _first_difference(old: Any, new: Any, where: str) -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            found = _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if old != new:
        return _DATA_DIFFERENCES.get(where) or f"{where}: {json.dumps(old)} in the folder, {json.dumps(new)} now"
    return None


def _difference_in_shared(old: dict, new: dict) -> str | None:
    """The first setting in which two studies differ, over the data and the models both name; None if none.

    A study written before the labels were fingerprinted (its data settings lack the key) is compared on x.
    """
    shared = {**old, "models": {k: v for k, v in old["models"].items() if k in new["models"]}}
    mine = {**new, "models": {k: v for k, v in new["models"].items() if k in old["models"]}}
    if isinstance(old.get("data"), dict) and isinstance(mine.get("data"), dict):
        if LABELS_KEY not in old["data"]:
            mine = {**mine, "data": {k: v for k, v in mine["data"].items() if k != LABELS_KEY}}
    return _first_difference(shared, mine, "")


def _read_settings(out: Path) -> dict:
    path = out / SETTINGS_FILE
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(
            f"{path}: unreadable study settings ({type(exc).__name__}). Use --force to replace it."
        ) from exc
    if not isinstance(settings, dict) or not isinstance(settings.get("models"), dict):
        raise DataFileError(f"{path}: not a latentid study. Use --force to replace it, or another --out.")
    return settings


def _remove_study(out: Path) -> None:
    """Delete what a study writes into ``out`` (settings, results, figures, model folders); nothing else."""
    for name in STUDY_MODELS:
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    for path in [out / RESULTS_FILE, *out.glob("latents_*.png"), *out.glob("consistency_*.png"), out / SETTINGS_FILE]:
        if path.is_file():
            path.unlink()


def claim_folder(out: Path, settings: dict, force: bool = False) -> dict:
    """Make ``out`` the folder of a study with ``settings`` (``{"study", "data", "models": {name: params}}``).

    A new or empty folder is claimed; a folder of the same study (same data, and the same parameters for
    every model both name) is extended (new models added); a folder of another study is refused with a
    one-line error naming the first differing setting, or replaced when ``force``. A non-empty folder that
    holds no study is refused either way. Returns the settings now in the folder.
    """
    if out.exists() and not out.is_dir():
        raise DataFileError(f"{out}: exists and is not a folder; choose another --out.")
    if out.is_dir() and (out / SETTINGS_FILE).exists():
        try:
            old = _read_settings(out)
        except DataFileError:
            if not force:
                raise
            old = None
        difference = "the settings file is unreadable" if old is None else _difference_in_shared(old, settings)
        if difference is None:
            settings = {**settings, "models": {**old["models"], **settings["models"]}}
        elif force:
            _remove_study(out)
        else:
            raise InvalidParameterError(
                f"{out} holds a study with other settings ({difference}). Use another --out, or --force to "
                f"replace that study (every model in it: {', '.join(old['models'])})."
            )
    elif out.is_dir() and any(out.iterdir()):
        raise DataFileError(
            f"{out}: holds files but no study ({SETTINGS_FILE}); choose a new or empty --out folder for a study."
        )
    write_text_atomic(out / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")
    return settings


# ---------------------------------------------------------------------------------------------- one seed
def _seed_dir(out: Path, name: str, seed: int) -> Path:
    return out / name / f"seed-{seed}"


def _read_finished(folder: Path) -> dict | None:
    """The seed's metrics.json record when the seed is finished (its files all there), else None."""
    path = folder / METRICS_FILE
    if not path.is_file() or not (folder / LATENTS_FILE).is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # an unreadable marker: the seed is fitted again
    return record if isinstance(record, dict) and isinstance(record.get("metrics"), dict) else None


def _restart_number(model) -> int | None:
    """The kept restart, numbered from 1 as in the log, the progress bar and the checkpoint file names."""
    index = getattr(model, "best_restart_", None)
    return None if index is None else int(index) + 1


def fit_seed(
    name: str,
    params: Mapping[str, Any],
    seed: int,
    train: Dataset,
    test: Dataset,
    folder: Path,
    progress: Progress | None = None,
    checkpoints: bool = True,
) -> dict:
    """Fit ``name`` with ``random_state=seed`` on ``train.x`` (n_train, d); score it; write the seed's folder.

    Returns the metrics.json record: ``metrics`` (keys ``seed``, ``test_cluster_acc``, ``test_nmi``,
    ``test_ari``, ``train_cluster_acc``, ``seconds``; the cluster keys only for a clustering model and
    labelled data) and ``fit`` (epochs run, best epoch and restart, final held-out ELBO).
    """
    folder.mkdir(parents=True, exist_ok=True)
    busy = (
        f"{folder}: a latentid fit started outside this study is writing into the seed folder now; wait for it to "
        "finish (or stop it), then run the study again."
    )
    with fit_lock(folder, busy=busy):  # a fit begun there before the study would have its checkpoints taken
        return _fit_seed(name, params, seed, train, test, folder, progress, checkpoints)


def _fit_seed(name, params, seed, train, test, folder, progress, checkpoints) -> dict:
    """``fit_seed``'s work, holding the seed folder's lock."""

    def callback(event: dict) -> None:
        progress({**event, "event": "epoch", "model": name, "seed": seed})

    control = {"checkpoint_dir": str(folder), "resume": True} if checkpoints else {}
    # an interrupted fit (training or pretraining) continues from its checkpoint
    resumed = checkpoints and any([*folder.glob("restart-*.pt"), *folder.glob("pretrain-*.pt")])
    model = make_model(name, **params, random_state=seed, callback=callback if progress else None, **control)
    sessions_file = folder / SESSIONS_FILE  # the seconds of the sessions an interrupt ended, for the sum
    earlier = _earlier_sessions(sessions_file) if resumed else []
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            model.fit(train.x)
    except BaseException:  # Ctrl-C, SIGTERM, a refusal: the checkpoints stay, and so does this session's time
        if checkpoints and (any(folder.glob("restart-*.pt")) or any(folder.glob("pretrain-*.pt"))):
            sessions = [*earlier, round(time.perf_counter() - start, 3)]
            write_text_atomic(sessions_file, json.dumps(sessions) + "\n")
        raise
    sessions = [*earlier, round(time.perf_counter() - start, 3)]
    seconds = sum(sessions)
    fit_warnings = []  # what the fit warned of (an inactive latent dimension): in run.json, and said per seed
    for w in caught:
        text = " ".join(str(w.message).split())
        if issubclass(w.category, UserWarning) and text not in fit_warnings:
            fit_warnings.append(text)
            warnings.warn(f"{name}, seed {seed}: {text}", LatentIDWarning, stacklevel=2)
        elif not issubclass(w.category, UserWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    z_test = model.transform(test.x)
    model.save(folder / MODEL_DIR)
    save_array(folder / LATENTS_FILE, z_test)
    metrics: dict[str, Any] = {"seed": int(seed)}
    if name in CLUSTERING_MODELS:
        test_pred = _label_vector(model.predict(test.x))
        save_array(folder / LABELS_FILE, test_pred)
        test_c, train_c = _label_vector(test.c), _label_vector(train.c)
        if test_c is not None and train_c is not None:
            scores = cluster_report(test_c, test_pred)
            metrics.update(test_cluster_acc=scores["cluster_acc"], test_nmi=scores["nmi"], test_ari=scores["ari"])
            metrics["train_cluster_acc"] = cluster_report(train_c, _label_vector(model.predict(train.x)))["cluster_acc"]
    metrics["seconds"] = round(seconds, 3)
    val = [v for v in (getattr(model, "val_elbo_history_", None) or []) if v is not None]
    fit_info = {
        "epochs_run": int(getattr(model, "n_iter_", 0) or 0),
        "best_epoch": getattr(model, "best_epoch_", None),
        "best_restart": _restart_number(model),
        "resumed": resumed,  # then ``seconds`` sums the sessions (``session_seconds``)
        "session_seconds": sessions,
        "last_val_elbo": val[-1] if val else None,
        "train_rows": len(train.x),
        "test_rows": len(test.x),
        "warnings": fit_warnings,
    }
    record = _normalised({"metrics": metrics, "fit": fit_info})
    # run.json makes the seed folder a run folder: transform, predict, evaluate and explain --run read it.
    run_info = {**run_record(name, model, train, dict(params), seconds, seed=int(seed)), "warnings": fit_warnings}
    write_text_atomic(folder / RUN_FILE, json.dumps(_normalised(run_info), indent=2) + "\n")
    write_text_atomic(folder / METRICS_FILE, json.dumps(record, indent=2) + "\n")
    for leftover in [*folder.glob("restart-*.pt"), *folder.glob("pretrain-*.pt"), *folder.glob("pretrained-*.pt")]:
        leftover.unlink()  # the per-epoch checkpoints only served an interrupted fit
    sessions_file.unlink(missing_ok=True)
    return record


SESSIONS_FILE = "sessions.json"  # in an interrupted seed's folder: the seconds of its sessions so far


def _earlier_sessions(path: Path) -> list[float]:
    """The seconds of a seed's interrupted sessions ([] where none were recorded, or the file is damaged)."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [float(v) for v in values if isinstance(v, int | float)] if isinstance(values, list) else []


# ---------------------------------------------------------------------------------------------- across seeds
def _pair_matrix(values: np.ndarray) -> dict:
    """{'matrix': (S, S) list with 1 on the diagonal, 'mean' and 'worst' over the S (S - 1) / 2 pairs}."""
    upper = values[np.triu_indices(len(values), k=1)]
    finite = upper[np.isfinite(upper)]
    return {
        "matrix": [[None if not np.isfinite(v) else float(v) for v in row] for row in values],
        "mean": float(finite.mean()) if finite.size else None,
        "worst": float(finite.min()) if finite.size else None,
    }


def cross_seed(latents: Sequence[np.ndarray], labels: Sequence[np.ndarray] | None) -> dict:
    """Pairwise agreement of S fits on the same test rows.

    latents : S arrays of shape (n_test, m), the seeds' posterior means; labels : S arrays (n_test,) of
    predicted clusters, or None. Returns ``mcc_strong``, ``mcc_weak``, ``mcc_cca`` (and ``cluster_ari`` with
    labels), each {'matrix' (S, S), 'mean', 'worst'}; a collapsed (constant) latent column counts as correlation
    0 (see ``consistency``), and a pair that cannot be scored at all is null. ``mcc_cca`` (canonical pairs fitted
    on half the rows, scored on the other) is the weak MCC of ICE-BeeM's cross-seed figures; ``mcc_weak`` (one
    run regressed on the other) reads higher on the same latents.
    """
    n = len(latents)
    keys = ("mcc_strong", "mcc_weak", "mcc_cca")
    pairs = {key: np.eye(n) for key in keys}
    for i in range(n):
        for j in range(i + 1, n):
            try:
                scores = consistency(latents[i], latents[j])
            except InvalidDataError:
                scores = dict.fromkeys(keys, np.nan)
            for key in keys:
                pairs[key][i, j] = pairs[key][j, i] = scores[key]
    found = {key: _pair_matrix(pairs[key]) for key in keys}
    if labels is not None:
        ari = np.eye(n)
        for i in range(n):
            for j in range(i + 1, n):
                ari[i, j] = ari[j, i] = adjusted_rand_score(labels[i], labels[j])
        found["cluster_ari"] = _pair_matrix(ari)
    return found


def summarise(records: Sequence[dict]) -> dict:
    """Per metric of the per-seed dicts: mean and worst (lowest score; for ``seconds`` the longest)."""
    summary = {}
    for key in (*CLUSTER_KEYS, "seconds"):
        values = [r[key] for r in records if r.get(key) is not None]
        if values:
            worst = max(values) if key == "seconds" else min(values)
            summary[key] = {"mean": float(np.mean(values)), "worst": float(worst)}
    return summary


def model_selection(name: str, settings: Mapping[str, Any]) -> str:
    """What chooses among candidate fits of ``name`` (never the labels), from its resolved settings."""
    patience = settings.get("patience")
    stopping = f" (and stops after patience={patience} epochs without gain)" if patience else ""
    held_out = (
        f"the held-out ELBO on a validation_fraction={settings.get('validation_fraction')} share of the train split "
        f"picks the epoch kept{stopping} and the best of n_restarts={settings.get('n_restarts')} whole fits"
    )
    if name in CLUSTERING_MODELS:
        mixture = "a GaussianMixture on the encoder means" if name == "vade" else "one GaussianMixture per facet"
        warm = (
            f"; after pretraining ({settings.get('pretrain_epochs')} epochs, objective "
            f"{settings.get('pretrain_objective')}) the warm start initialises the prior with {mixture}, the best of "
            f"n_init={settings.get('n_init')} by {SELECTION_WORDS.get(settings.get('init_selection'), 'likelihood')}"
        )
        return f"{MODEL_TITLES.get(name, name)}'s own criteria, no labels: " + held_out + warm + "."
    return "no labels: " + held_out + "."


# ---------------------------------------------------------------------------------------------- the study
def check_seeds(seeds: int) -> None:
    """Refuse a number of seeds below MIN_SEEDS (one fit has nothing to be consistent with)."""
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < MIN_SEEDS:
        raise InvalidParameterError(f"consistency needs at least {MIN_SEEDS} seeds; got --seeds {seeds!r}.")


def _check_inputs(train: Dataset, test: Dataset, models: Mapping[str, Mapping[str, Any]], seeds: int) -> None:
    check_seeds(seeds)
    if not models:
        raise InvalidParameterError(f"name at least one model ({', '.join(STUDY_MODELS)}).")
    for name, params in models.items():
        if name not in STUDY_MODELS:
            raise InvalidParameterError(f"unknown model '{name}' for a study; use one of {', '.join(STUDY_MODELS)}.")
        fixed = [key for key in SET_BY_STUDY if key in params]
        if fixed:
            raise InvalidParameterError(f"{', '.join(fixed)} are set by the study itself; drop them from the params.")
    for part, data in (("train", train), ("test", test)):
        if len(data.x) < MIN_ROWS:
            raise InvalidDataError(
                f"{data.source}: the {part} split holds {len(data.x)} rows; a study needs at least {MIN_ROWS} in each."
            )
    if train.x.shape[1] != test.x.shape[1]:
        raise InvalidDataError(
            f"the train split has {train.x.shape[1]} features but the test split {test.x.shape[1]}; use one data set."
        )
    for name, params in models.items():
        model = make_model(name, **params)
        # The estimator's own checks, before anything is written: parameters, latent_dim against the
        # features, enough rows for its components, a Bernoulli likelihood's [0, 1] range.
        model._validate_params()
        model._check_fit_data(train.x)
        model._check_range(test.x)
        if hasattr(model, "_resolve_device"):  # a --device torch cannot use (cuda without CUDA)
            model._resolve_device()


def run_study(
    train: Dataset,
    test: Dataset,
    models: Mapping[str, Mapping[str, Any]],
    seeds: int,
    out: str | os.PathLike,
    *,
    data_settings: Mapping[str, Any],
    study: str = "consistency",
    force: bool = False,
    progress: Progress | None = None,
    checkpoints: bool = True,
) -> dict:
    """Fit every model of ``models`` (name -> estimator parameters) with seeds 0..seeds-1 on ``train``,
    score them on ``test``, compare the seeds, write ``results.json`` and the figures; return the results.

    train.x (n_train, d) and test.x (n_test, d) float32; c (n,) or (n, J) labels or None. ``data_settings``
    identifies the data in the folder's settings. ``progress`` receives dicts: ``{"event": "seed", "status":
    "start" | "skipped" | "done", "model", "seed", "index", "n_seeds"}`` (``record`` with "done" and
    "skipped") and each training epoch's event (see ``latentid.training.train``) with ``"event": "epoch"``,
    ``model`` and ``seed``. Nothing is printed. The folder is locked while the study writes into it: a second
    study started on it meanwhile is refused in one line.
    """
    _check_inputs(train, test, models, seeds)
    out = Path(out)
    resolved = {name: model_settings(name, params) for name, params in models.items()}
    settings = _normalised({"study": study, "data": dict(data_settings), "models": resolved})
    if out.exists() and not out.is_dir():
        raise DataFileError(f"{out}: exists and is not a folder; choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        try:  # two studies fitting the same seeds into one folder would race on its files
            held.enter_context(fit_lock(out))
        except DataFileError:
            raise DataFileError(
                f"{out}: another latentid study is writing into this folder now. Wait for it to finish (or stop "
                "it), or choose another --out."
            ) from None
        return _run_claimed(
            train,
            test,
            models,
            seed_list=list(range(int(seeds))),
            out=out,
            settings=settings,
            resolved=resolved,
            study=study,
            force=force,
            progress=progress,
            checkpoints=checkpoints,
        )


def _seed_array(folder: Path, name: str, n_rows: int) -> np.ndarray:
    """A finished seed's saved test latents or labels, with one row per test row; a one-line DataFileError that
    says how to fit the seed again when the file is missing, unreadable or of other rows (a traceback, or a seed
    left out of the cross-seed means without a word)."""
    path = folder / name
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        problem = "missing" if isinstance(exc, FileNotFoundError) else f"unreadable ({type(exc).__name__}: {exc})"
    else:
        if array.ndim in (1, 2) and array.shape[0] == n_rows and np.isfinite(array).all():
            return array
        problem = f"holds an array of shape {array.shape}, not {n_rows} finite rows"
    raise DataFileError(f"{path}: {problem}. Delete {folder} and run the same command again to fit that seed again.")


def _earlier_entries(out: Path, folder_settings: dict, models: Mapping) -> dict[str, tuple[dict, dict]]:
    """The models of the study in ``out`` that this command does not fit, with their results.json entries, so
    that the new results.json keeps them (it kept only the models of the latest command): name -> (settings,
    entry). Only entries whose every seed folder is still finished are kept."""
    try:
        previous = json.loads((out / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = previous.get("models") if isinstance(previous, dict) else None
    if not isinstance(entries, dict):
        return {}
    kept = {}
    for name, params in folder_settings.get("models", {}).items():
        entry = entries.get(name)
        if name in models or not isinstance(entry, dict):
            continue
        folders = entry.get("seed_folders") or []
        if folders and all(_read_finished(out / folder) is not None for folder in folders):
            kept[name] = (params, entry)
    return kept


def _run_claimed(
    train: Dataset,
    test: Dataset,
    models: Mapping[str, Mapping[str, Any]],
    *,
    seed_list: list[int],
    out: Path,
    settings: dict,
    resolved: dict,
    study: str,
    force: bool,
    progress: Progress | None,
    checkpoints: bool,
) -> dict:
    """``run_study`` once it holds the lock of ``out``: claim the folder, fit what is missing, write the results."""
    from latentid.experiments.consistency_plots import write_figures

    earlier = _earlier_entries(out, claim_folder(out, settings, force), models)
    emit = progress or (lambda event: None)
    per_model: dict[str, dict] = {}
    first_latents: dict[str, np.ndarray] = {}  # seed 0's test latents per model, for the 2-D figure
    first_labels: dict[str, np.ndarray] = {}  # and its clusters, the colours when the data have no labels
    test_classes = _label_vector(test.c)
    for name, params in models.items():
        records = []
        for index, seed in enumerate(seed_list):
            folder = _seed_dir(out, name, seed)
            event = {"event": "seed", "model": name, "seed": seed, "index": index, "n_seeds": len(seed_list)}
            record = _read_finished(folder)
            if record is not None:
                emit({**event, "status": "skipped", "record": record})
            else:
                emit({**event, "status": "start"})
                record = fit_seed(name, params, seed, train, test, folder, progress, checkpoints)
                emit({**event, "status": "done", "record": record})
            records.append(record["metrics"])
        latents = [_seed_array(_seed_dir(out, name, s), LATENTS_FILE, len(test.x)) for s in seed_list]
        labels = (
            [_seed_array(_seed_dir(out, name, s), LABELS_FILE, len(test.x)) for s in seed_list]
            if name in CLUSTERING_MODELS
            else None
        )
        per_model[name] = {
            "clusters": name in CLUSTERING_MODELS,
            "seeds": records,
            "summary": summarise(records),
            "cross_seed": cross_seed(latents, labels),
            "model_selection": model_selection(name, resolved[name]),
            "seed_folders": [str(_seed_dir(out, name, s).relative_to(out)) for s in seed_list],
        }
        first_latents[name] = latents[0]
        if labels is not None:
            first_labels[name] = labels[0]
    for name, (_, entry) in earlier.items():
        # scored and drawn anew from its seeds' saved latents: an older latentid may have scored them under an
        # earlier definition (latentid.metric_versions), and results.json and the figures must not mix two
        # definitions of one metric
        folders = [out / folder for folder in entry["seed_folders"]]
        latents = [_seed_array(folder, LATENTS_FILE, len(test.x)) for folder in folders]
        labels = (
            [_seed_array(folder, LABELS_FILE, len(test.x)) for folder in folders] if name in CLUSTERING_MODELS else None
        )
        entry["cross_seed"] = cross_seed(latents, labels)
        first_latents[name] = latents[0]
        if labels is not None:
            first_labels[name] = labels[0]
    every = {**{name: entry for name, (_, entry) in earlier.items()}, **per_model}
    figures = write_figures(
        out, first_latents, {k: v["cross_seed"] for k, v in every.items()}, test_classes, first_labels
    )
    for name, entry in every.items():
        entry["figures"] = figures[name]
    per_model = every
    shown = {**{name: params for name, (params, _) in earlier.items()}, **{k: resolved[k] for k in models}}
    results = _normalised(
        {
            "study": study,
            "settings": {**settings, "models": shown, "seeds": seed_list},
            "data_source": {"train": train.source, "test": test.source},
            "n_train": len(train.x),
            "n_test": len(test.x),
            "model_selection": {name: per_model[name]["model_selection"] for name in per_model},
            "labels": LABELS_NOTE,
            "metrics_version": METRICS_VERSION,  # the definitions cross_seed was scored under
            "models": per_model,
        }
    )
    write_text_atomic(out / RESULTS_FILE, json.dumps(results, indent=2) + "\n")
    return results
