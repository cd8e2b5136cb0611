"""One run of a study, in whichever process or Ray worker executes it: build the data, fit the model,
score it, and return the store's row. It never raises for a failing run: the row says ``failed`` with
the error, so that a study goes on. It writes nothing: the driver alone writes the store and artifacts.
"""

from __future__ import annotations

import platform
import time
import traceback
import warnings

import numpy as np

from latentid._warnings import user_warnings
from latentid.checkpoint import versions
from latentid.data.io import Dataset
from latentid.data.synthetic import facet_blocks
from latentid.errors import LatentIDError
from latentid.explaining import describe_generator, explain_model
from latentid.metric_versions import METRICS_VERSION, VERSIONS_KEY
from latentid.metrics import evaluate_latents
from latentid.runs import DEEP_MODELS, aux_values, has_clusters, make_model
from latentid.studies.spec import RunConfig
from latentid.studies.store import theory_level
from latentid.theory import assess

GAP_ROWS = 2000  # the likelihood gap's importance sampling is scored on at most this many rows
EVAL_SPLIT, EVAL_SEED = 0.5, 0  # the alignment split of every score, as `latentid evaluate` defaults
MEMORY_ERROR = "not enough memory for this run; ask for fewer samples or a smaller model"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _data(config: RunConfig) -> tuple[Dataset, Dataset, object | None, str | None]:
    """(fit data, scored data, the generator or None, the setting's identifiability level or None)."""
    spec = config.synthetic_spec()
    if spec is not None:
        generator = spec.build()
        data = generator.sample(int(config.data["samples"]))
        return data, data, generator, assess(*describe_generator(generator)).level
    from latentid.data.sources import open_data
    from latentid.experiments.consistency import subsample

    name = config.data["dataset"]
    seed = config.data.get("data_seed") or 0  # the subsample's seed: each data_seed its own rows
    train = subsample(open_data(name, "train"), config.data.get("n_train"), "n_train", seed)
    test = subsample(open_data(name, "test"), config.data.get("n_test"), "n_test", seed)
    return train, test, None, None


FLAT_CLUSTER_KEYS = ("cluster_acc", "nmi", "ari")  # one-label keys: on facet data they are scored per facet


def _facet_note(config: RunConfig, result: dict, n_facets: int) -> tuple[dict, str | None]:
    """On facet data (c with one column per facet) the one-label keys cluster_acc/nmi/ari do not exist:
    (the per-facet keys recorded in their place, the reason the requested ones are None)."""
    asked = [name for name in config.metrics if name in FLAT_CLUSTER_KEYS]
    if not asked or n_facets < 2 or "facet_cluster_acc_mean" not in result:
        return {}, None
    extra = {key: result[key] for j in range(n_facets) for name in asked if (key := f"facet{j}_{name}") in result}
    if "cluster_acc" in asked:
        extra["facet_cluster_acc_mean"] = result["facet_cluster_acc_mean"]
    unscored = [str(j) for j in range(n_facets) if f"facet{j}_cluster_acc" not in result]
    missing = f"; true facet {', '.join(unscored)}: no label column of the model left to score" if unscored else ""
    note = (
        f"{', '.join(asked)}: not defined on data with {n_facets} facets (c has one column per facet); "
        f"recorded per facet as facet{{j}}_<metric> instead{missing}"
    )
    return extra, note


def _scores(
    config: RunConfig, model, fit_data: Dataset, data: Dataset, generator
) -> tuple[dict, np.ndarray, str | None]:
    """The requested metrics (name -> number or None), the learned latents of the scored data, and a note
    on requested metrics the data cannot have (None: none)."""
    aux = config.options.get("aux")
    inputs = {} if aux is None else {"u": aux_values(data, aux)}
    z_hat = model.transform(data.x, **inputs)
    labels = model.predict(data.x, **inputs) if has_clusters(model) else None
    blocks = facet_blocks(generator.spec) if generator is not None and generator.spec.facets else None
    result = {}
    if data.z is not None or (labels is not None and data.c is not None):  # else nothing to score against
        result = evaluate_latents(z_hat, data, labels=labels, split=EVAL_SPLIT, seed=EVAL_SEED, facet_blocks=blocks)
    wants_gap = any(name in config.metrics for name in ("likelihood_gap", "amortisation_gap"))
    if wants_gap and generator is not None and generator.noise > 0 and config.model in DEEP_MODELS and aux is None:
        from latentid.gaps import likelihood_gaps

        result.update(likelihood_gaps(model, generator, data.x[:GAP_ROWS], random_state=EVAL_SEED))
    metrics = {}
    for name in config.metrics:
        value = result.get(name)
        metrics[name] = float(value) if isinstance(value, (int, float, np.number)) and np.isfinite(value) else None
    extra, note = _facet_note(config, result, np.shape(data.c)[1] if np.ndim(data.c) == 2 else 1)
    metrics.update({k: float(v) for k, v in extra.items() if k not in metrics and np.isfinite(v)})
    return metrics, z_hat, note or _unmeasured_note(config, metrics, data, labels)


GAP_METRICS = ("likelihood_gap", "amortisation_gap")


def _unmeasured_note(config: RunConfig, metrics: dict, data: Dataset, labels) -> str | None:
    """Why requested metrics are None, when they are: on MNIST a PCA run measured nothing, without a word."""
    missing = [name for name in config.metrics if metrics.get(name) is None]
    if not missing:
        return None
    reasons = []
    if data.z is None and any(name not in FLAT_CLUSTER_KEYS + GAP_METRICS for name in missing):
        reasons.append("the data has no true latents z to score against")
    if any(name in FLAT_CLUSTER_KEYS for name in missing):
        if data.c is None:
            reasons.append("the data has no labels c")
        elif labels is None:
            reasons.append(f"{config.model} has no clusters to score")
        elif np.ndim(data.c) == 1 and np.unique(data.c).size < 2:
            reasons.append("the data has one true class: nothing to cluster")
    if any(name in GAP_METRICS for name in missing):
        reasons.append("the likelihood gaps need simulated data with noise > 0 and a deep model of x alone")
    return f"not measured: {', '.join(missing)}" + (f" ({'; '.join(reasons)})" if reasons else "")


def _new_row(config: RunConfig) -> dict:
    """The row of a run of ``config`` before it runs: status "finished", nothing measured yet."""
    return {
        "key": config.key,
        "study": config.study,
        "label": config.label(),
        "config": config.model_dump(),
        "status": "finished",
        "metrics": {},
        "level": None,
        "error": None,
        "seconds": 0.0,
        "started": _now(),
        "finished": None,
        "versions": {**versions(), VERSIONS_KEY: str(METRICS_VERSION)},
        "artifacts": {},
        "host": platform.node(),
        "latents": None,
        "warnings": [],
        "threads": None,
    }


def crashed_row(config_json: str, error: str) -> dict:
    """The row of a run whose process died under it (killed for memory, a crash in native code): failed, with
    ``error``; a rerun of the study retries it."""
    return {**_new_row(RunConfig.from_json(config_json)), "status": "failed", "error": error, "finished": _now()}


def run_one(config_json: str, threads: int | None = None) -> dict:
    """Execute one run given as ``RunConfig.to_json()``; return its row for ``ResultStore.record``, with the
    learned latents (n, m_hat) float32 under the extra key ``"latents"`` (None when it failed or was skipped)
    and what its fit and scoring warned of under ``"warnings"`` (a list of one-line messages, stored with it).

    ``threads``: torch CPU threads for this run (1 when several runs share the machine).
    """
    import torch

    config = RunConfig.from_json(config_json)
    row = _new_row(config)
    if config.skip is not None:
        return {**row, "status": "skipped", "error": config.skip, "finished": _now()}
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    tic = time.perf_counter()
    try:
        fit_data, data, generator, setting_level = _data(config)
        row["level"] = theory_level(config, setting_level)
        aux = config.options.get("aux")
        inputs = {} if aux is None else {"u": aux_values(fit_data, aux)}
        model = make_model(config.model, **config.estimator_options(), random_state=config.seed)
        if config.model in DEEP_MODELS:  # the order its floats are added in, so its last digits, depend on it
            row["threads"] = torch.get_num_threads()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:  # a failed fit's warnings are kept too: they may say why it failed
                model.fit(fit_data.x, **inputs)
                # the fitted model's level, as `latentid explain --run` gives it: a VAE's is "vanilla" and a
                # diagonal VaDE's can be 3 on a setting whose own level (full covariances) is 2
                row["level"] = explain_model(model).level
                row["metrics"], z_hat, row["error"] = _scores(config, model, fit_data, data, generator)
            finally:
                row["warnings"] = user_warnings(caught)
        row["latents"] = np.asarray(z_hat, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - any failure of one run is recorded, and the study goes on
        row["status"] = "failed"
        if isinstance(exc, LatentIDError):
            row["error"] = " ".join(str(exc).split())
        elif isinstance(exc, MemoryError):  # a setting too large for this machine, as `latentid simulate` says
            row["error"] = f"{MEMORY_ERROR} ({' '.join(str(exc).split()) or 'MemoryError'})"
        else:  # a bug, not a bad setting: keep where it happened
            where = traceback.extract_tb(exc.__traceback__)[-1]
            row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())} ({where.filename}:{where.lineno})"
    finally:
        torch.set_num_threads(old_threads)
    row["seconds"] = round(time.perf_counter() - tic, 3)
    row["finished"] = _now()
    return row
