"""A study's sweep: every run of the grid that the store does not hold yet, executed and recorded.

The driver alone writes: each row goes into the store the moment it comes back, so a study killed at any
point loses at most the runs in flight, and a rerun executes only what is missing (finished and skipped
runs are kept; failed ones are tried again).

A run's key does not include the metrics, so a study may find a run that another study (or an earlier
version of its file) finished without some metric it asks for, or scored it under an earlier definition
(:mod:`latentid.metric_versions`). Such a run is not done: it is fitted again and scored on both studies'
metrics, and its row replaced (a failure never replaces it). The learned latents
alone cannot give every metric (cluster scores need the model's labels, the gaps the model itself), and the
fitted model is not kept. Every run the study asks for is recorded as the study's (``ResultStore.add_study``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from latentid.runs import save_array
from latentid.studies.spec import RunConfig, Study

LATENTS_FILE = "latents.npy"


@dataclass
class SweepSummary:
    """What one sweep did: runs in the grid, already in the store, and this time finished/failed/skipped.
    ``refitted``: of the runs executed, those the store held without some of ``missing_metrics`` or with some
    of ``redefined_metrics`` scored under an earlier definition."""

    total: int
    already_done: int
    refitted: int = 0
    missing_metrics: list[str] = field(default_factory=list)
    redefined_metrics: list[str] = field(default_factory=list)
    finished: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def executed(self) -> int:
        return self.finished + self.failed + self.skipped


@dataclass
class Plan:
    """What a sweep must do: ``todo`` the runs to execute (grid order, each key once), ``done`` the keys
    of the grid's runs the store holds as they are needed, ``refit`` the keys of finished runs to fit again
    because they lack ``missing`` or hold ``redefined`` scored under an earlier definition (metric names this
    study asks for)."""

    todo: list[RunConfig]
    done: list[str]
    refit: list[str]
    missing: list[str]
    redefined: list[str] = field(default_factory=list)


def pending_runs(study: Study, store) -> Plan:
    """The runs of ``study`` that ``store`` does not hold yet, or holds failed, or finished without some
    metric the study asks for, or with one scored under an earlier definition. A run executed again also asks
    for the metrics its stored config asked for, so its new row keeps every metric the old one had."""
    unique: dict[str, RunConfig] = {}
    for config in study.expand():
        unique.setdefault(config.key, config)
    stored = store.stored(list(unique))
    todo, done, refit, missing, redefined = [], [], [], {}, {}
    for key, config in unique.items():
        old = stored.get(key)
        if old is not None and old["status"] == "skipped":
            done.append(key)
            continue
        lacking = [name for name in config.metrics if old is not None and name not in old["metrics"]]
        stale = [name for name in config.metrics if old is not None and name in old["stale"]]
        if old is not None and old["status"] == "finished" and not lacking and not stale:
            done.append(key)
            continue
        if old is not None:
            extra = [name for name in old["asked"] if name not in config.metrics]
            config = config.model_copy(update={"metrics": [*config.metrics, *extra]}) if extra else config
        if old is not None and old["status"] == "finished":
            refit.append(key)
            missing.update(dict.fromkeys(lacking))
            redefined.update(dict.fromkeys(stale))
        todo.append(config)
    return Plan(todo, done, refit, list(missing), list(redefined))


def run_sweep(
    study: Study,
    store,
    executor,
    *,
    artifacts: Path | None = None,
    on_start: Callable[[SweepSummary], None] | None = None,
    on_row: Callable[[dict, SweepSummary], None] | None = None,
) -> SweepSummary:
    """Execute the study's missing runs with ``executor`` and record each row in ``store`` as it arrives.

    ``artifacts``: a folder where each finished run's learned latents go, as ``<key>/latents.npy`` (n, m_hat)
    float32; their paths are recorded in the row. ``on_start(summary)`` is called once before the first
    run, ``on_row(row, summary)`` after each recorded row.
    """
    plan = pending_runs(study, store)
    store.add_study(plan.done, study.name)
    summary = SweepSummary(
        total=len(plan.todo) + len(plan.done),
        already_done=len(plan.done),
        refitted=len(plan.refit),
        missing_metrics=plan.missing,
        redefined_metrics=plan.redefined,
    )
    if on_start is not None:
        on_start(summary)
    for row in executor.map(config.to_json() for config in plan.todo):
        latents = row.pop("latents", None)
        if artifacts is not None and latents is not None:
            path = Path(artifacts) / row["key"] / LATENTS_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            save_array(path, latents)
            row["artifacts"] = {"latents": str(path.resolve())}
        try:
            store.record(row)
        except BaseException:
            # Ctrl-C while the row was being recorded (its fsync, the log's checkpoint): where the row went in, the
            # summary counts it, so that the interrupted line says what the store holds (it said one run fewer)
            with contextlib.suppress(Exception):
                if store.stored([row["key"]]).get(row["key"], {}).get("status") == row["status"]:
                    setattr(summary, row["status"], getattr(summary, row["status"]) + 1)
            raise
        setattr(summary, row["status"], getattr(summary, row["status"]) + 1)
        if on_row is not None:
            on_row(row, summary)
    return summary
