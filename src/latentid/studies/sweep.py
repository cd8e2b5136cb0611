"""A study's sweep: every run of the grid that the store does not hold yet, executed and recorded.

The driver alone writes: each row goes into the store the moment it comes back, so a study killed at any
point loses at most the runs in flight, and a rerun executes only what is missing (finished and skipped
runs are kept; failed ones are tried again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from latentid.runs import save_array
from latentid.studies.spec import RunConfig, Study

LATENTS_FILE = "latents.npy"


@dataclass
class SweepSummary:
    """What one sweep did: runs in the grid, already in the store, and this time finished/failed/skipped."""

    total: int
    already_done: int
    finished: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def executed(self) -> int:
        return self.finished + self.failed + self.skipped


def pending_runs(study: Study, store) -> tuple[list[RunConfig], int]:
    """(the runs to execute, in grid order and each key once; the number of grid runs the store holds)."""
    unique: dict[str, RunConfig] = {}
    for config in study.expand():
        unique.setdefault(config.key, config)
    done = store.finished_keys(list(unique))
    return [c for key, c in unique.items() if key not in done], len(done)


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
    todo, already = pending_runs(study, store)
    summary = SweepSummary(total=len(todo) + already, already_done=already)
    if on_start is not None:
        on_start(summary)
    for row in executor.map(config.to_json() for config in todo):
        latents = row.pop("latents", None)
        if artifacts is not None and latents is not None:
            path = Path(artifacts) / row["key"] / LATENTS_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            save_array(path, latents)
            row["artifacts"] = {"latents": str(path.resolve())}
        store.record(row)
        setattr(summary, row["status"], getattr(summary, row["status"]) + 1)
        if on_row is not None:
            on_row(row, summary)
    return summary
