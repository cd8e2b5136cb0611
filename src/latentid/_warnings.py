"""Python warnings as the command line shows them: one line, ``warning: <message>``, with no source line."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# scikit-learn's wrappers around our own methods (set_output's transform, available_if's methods): not the caller
_WRAPPERS = (os.path.join("sklearn", "utils", "_set_output.py"), os.path.join("sklearn", "utils", "_available_if.py"))


_SHOWN: set[str] = set()  # the warnings this process has shown: each once (evaluate's transform, predict and score
# each warned that the data lay far from the fit's, three identical lines)


def _one_line(message, category, filename, lineno, file=None, line=None) -> None:
    stream = file if file is not None else sys.stderr
    text = " ".join(str(message).split())
    if stream is None or text in _SHOWN:  # no stderr (pythonw): nowhere to show it
        return
    _SHOWN.add(text)
    try:
        stream.write(f"warning: {text}\n")
    except OSError:  # a closed stderr must not turn a warning into a crash
        pass


def show_warnings_on_one_line() -> None:
    """Make ``warnings.warn`` print ``warning: <message>`` on stderr (the console script and study workers:
    a scikit-learn ConvergenceWarning would otherwise print its file, line and source among the progress). Each
    distinct warning is shown once from here on."""
    _SHOWN.clear()
    warnings.showwarning = _one_line


@contextlib.contextmanager
def user_warnings_shown():
    """Within: every UserWarning is shown (``warning: ...`` under the console script), never raised, whatever the
    filters say. Under PYTHONWARNINGS=error a seed's note (an inactive latent dimension) ended a study in a
    traceback, where the command line's contract is a note and the study going on."""
    with warnings.catch_warnings():
        warnings.simplefilter("default", UserWarning)
        yield


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


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the function calling this point at the first frame
    outside latentid: the user's own line (``model.fit(X)``), however deep inside latentid it was raised
    (a fixed stacklevel pointed at ``IVAE.fit``'s ``super().fit`` or at ``fitting.py``)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE) or frame.f_code.co_filename.endswith(_WRAPPERS)
    ):
        frame, level = frame.f_back, level + 1
    return level
