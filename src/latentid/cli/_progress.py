"""The command line's progress bars: ``latentid.progress``'s, drawn on the stderr console of ``cli._common``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from latentid import progress
from latentid.cli._common import err_console


def progress_columns(field: str = "metrics") -> tuple:
    """``latentid.progress.progress_columns`` for the command line's stderr console."""
    return progress.progress_columns(err_console, field)


@contextlib.contextmanager
def training_progress(enabled: bool = True) -> Iterator[Callable[[dict], None] | None]:
    """``latentid.progress.training_progress`` on the command line's stderr console."""
    with progress.training_progress(enabled, err_console) as callback:
        yield callback
