"""Argument checks the benchmarks share, so that a bad argument is one argparse error line (exit code 2) before
any data is drawn or any model is fitted, not a traceback minutes into a run.

- ``positive_int`` / ``non_negative_int``: argparse ``type=`` for counts (--jobs, --repeats, --n-train) and seeds;
- ``check_overrides``: ``--set`` hyper-parameters checked against the estimator they go to (names and values).
"""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An int >= 1 (a count: processes, repeats, rows, restarts)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An int >= 0 (a seed)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0, got {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int, got {text!r}") from None


def check_overrides(parser: argparse.ArgumentParser, estimator: type, overrides: dict, prefix: str = "") -> None:
    """``parser.error`` naming the first ``--set`` override ``estimator`` has no parameter for, or whose value its
    own validation refuses; nothing when all are taken. ``prefix``: how the flag names them (quality.py: 'vade.')."""
    params = estimator().get_params()
    unknown = [key for key in overrides if key not in params]
    if unknown:
        parser.error(f"--set {prefix}{unknown[0]}: not a parameter of {estimator.__name__} (see its docstring)")
    try:
        estimator(**overrides)._validate_params()
    except (ValueError, TypeError) as exc:
        parser.error(f"--set {prefix}...: {' '.join(str(exc).split())}")
