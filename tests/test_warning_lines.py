"""Python warnings as the command line shows them: one line each, and each distinct one once."""

import io

from latentid import _warnings


def test_a_warning_is_one_line_and_a_repeated_one_is_shown_once(monkeypatch):
    """evaluate's transform, predict and score each warned that the data lay far from the fit's: three lines."""
    monkeypatch.setattr(_warnings, "_SHOWN", set())
    stream = io.StringIO()
    for message in ("X lies far\n  from the fit", "X lies far from the fit", "another"):
        _warnings._one_line(message, UserWarning, "f.py", 1, file=stream)
    assert stream.getvalue() == "warning: X lies far from the fit\nwarning: another\n"
