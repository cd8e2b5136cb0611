"""Python warnings as the command line shows them: one line, ``warning: <message>``, with no source line."""

from __future__ import annotations

import sys
import warnings


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:
    stream = file if file is not None else sys.stderr
    if stream is None:  # no stderr (pythonw): nowhere to show it
        return
    try:
        stream.write(f"warning: {' '.join(str(message).split())}\n")
    except OSError:  # a closed stderr must not turn a warning into a crash
        pass


def show_warnings_on_one_line() -> None:
    """Make ``warnings.warn`` print ``warning: <message>`` on stderr (the console script and study workers:
    a scikit-learn ConvergenceWarning would otherwise print its file, line and source among the progress)."""
    warnings.showwarning = _one_line


def user_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """The UserWarnings among ``caught`` (``warnings.catch_warnings(record=True)``) as one-line messages, each
    once, in order; warnings of other kinds are shown again as they would have been."""
    messages: list[str] = []
    for w in caught:
        if issubclass(w.category, UserWarning):
            text = " ".join(str(w.message).split())
            if text not in messages:
                messages.append(text)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return messages
