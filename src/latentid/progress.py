"""Progress bars for long work: a rich bar per training stage, driven by a model's per-epoch callback.

In Python::

    from latentid.progress import training_progress

    with training_progress() as show:
        VaDE(callback=show).fit(X)

The command line draws its bars with the same code, on its stderr console.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def progress_columns(console: Console, field: str = "metrics") -> tuple:
    """The columns of every latentid progress bar: label, bar, n/N, the task's ``field`` (a fit's metrics, a
    study's failed count), elapsed, remaining. Where ``console`` is no terminal (a log file, a pipe) rich draws
    80 columns and only the last state: the bar is left out there, as it cut the times to '0:00:…'."""
    return (
        TextColumn("{task.description}"),
        *((BarColumn(),) if console.is_terminal else ()),
        MofNCompleteColumn(),
        TextColumn(f"{{task.fields[{field}]}}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


@contextlib.contextmanager
def training_progress(enabled: bool = True, console: Console | None = None) -> Iterator[Callable[[dict], None] | None]:
    """Yield a callback for ``LatentModel(callback=...)`` that draws one bar per stage (pretraining, prior init,
    training, each restart) on ``console`` (default: a rich console on stderr); None when not ``enabled``."""
    if not enabled:
        yield None
        return
    console = Console(stderr=True, soft_wrap=True) if console is None else console
    # Started at the first event, not before: rich prints an empty line when it stops a display that never
    # drew (stderr not a terminal), which put a blank line before a refusal's one-line error.
    progress = Progress(*progress_columns(console), console=console, transient=False)
    tasks: dict[str, int] = {}

    def callback(event: dict) -> None:
        if not progress.live.is_started:
            progress.start()
        label = str(event.get("stage", "train"))
        # numbered from 1, as in train_log.jsonl and restart-<r>.pt; a lone restart goes unsaid, so that the
        # elapsed and remaining times fit on an 80-column terminal
        if "restart" in event and event.get("n_restarts", 1) > 1:
            label += f" (restart {event['restart']} of {event['n_restarts']})"
        epoch = event.get("epoch", 0)
        # A stage seen before that starts again (the next model of a demo, a new fit) gets a fresh bar.
        if label not in tasks or epoch <= progress.tasks[tasks[label]].completed:
            tasks[label] = progress.add_task(label, total=event.get("n_epochs"), metrics="")
        parts = [f"loss {event['loss']:.4g}"] if event.get("loss") is not None else []
        if event.get("val_elbo") is not None:
            parts.append(f"val ELBO {event['val_elbo']:.4g}")
        progress.update(tasks[label], completed=epoch, metrics="  ".join(parts))

    try:
        yield callback
    finally:
        if progress.live.is_started:
            progress.stop()
