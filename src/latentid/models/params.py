"""A small table of hyper-parameter constraints, checked once at ``fit``.

Each estimator declares ``_parameter_constraints = {name: [constraint, ...]}``; a value is valid
when any constraint of its list accepts it. The error has one shape:
"The 'n_components' parameter of VaDE must be an int >= 1. Got 0 instead."
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentid.errors import InvalidParameterError


class Constraint:
    """One accepted form of a hyper-parameter value."""

    def accepts(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Interval(Constraint):
    """An int or float in a range; ``closed`` is 'both', 'left', 'right' or 'neither'."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            return False
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (not left and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (not right and value == self.high)))

    def describe(self) -> str:
        name = "an int" if self.kind is int else "a float"
        if self.low is not None and self.high is not None:
            lo = "[" if self.closed in ("both", "left") else "("
            hi = "]" if self.closed in ("both", "right") else ")"
            return f"{name} in {lo}{self.low}, {self.high}{hi}"
        if self.low is not None:
            return f"{name} {'>=' if self.closed in ('both', 'left') else '>'} {self.low}"
        if self.high is not None:
            return f"{name} {'<=' if self.closed in ('both', 'right') else '<'} {self.high}"
        return name


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def describe(self) -> str:
        listed = ", ".join(repr(v) for v in self.values)
        return listed if len(self.values) == 1 else "one of " + listed


@dataclass(frozen=True)
class Pattern(Constraint):
    """A string matching a regular expression (``text`` says what it means)."""

    regex: str
    text: str

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.regex, value) is not None

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class IntSequence(Constraint):
    """A list or tuple of ints, each >= ``low`` (possibly empty), and at most ``longest`` of them (None: any)."""

    low: int = 1
    longest: int | None = None

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            return False
        if self.longest is not None and len(value) > self.longest:
            return False
        return all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= self.low for v in value)

    def describe(self) -> str:
        return f"a list of {'' if self.longest is None else f'at most {self.longest:,} '}ints >= {self.low}"


# Hidden layers of one network: a plain MLP this deep no longer trains by backprop, and 100,000 layers took
# more than 5 minutes to build with nothing shown.
MAX_LAYERS = 1000


class _NoneConstraint(Constraint):
    def accepts(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


class _BoolConstraint(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def describe(self) -> str:
        return "a bool"


class _CallableConstraint(Constraint):
    def accepts(self, value: Any) -> bool:
        return callable(value)

    def describe(self) -> str:
        return "a callable"


class _PathConstraint(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, os.PathLike)) and str(value) != ""

    def describe(self) -> str:
        return "a path"


class _SeedConstraint(Constraint):
    def accepts(self, value: Any) -> bool:
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            return True
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0

    def describe(self) -> str:
        return "a non-negative int, a numpy Generator or RandomState"


NONE = _NoneConstraint()
BOOL = _BoolConstraint()
CALLABLE = _CallableConstraint()
PATH = _PathConstraint()
SEED = _SeedConstraint()
DEVICE = Pattern(r"auto|cpu|cuda(:\d+)?", "one of 'auto', 'cpu', 'cuda', 'cuda:N'")


def check_latent_dim(owner: str, latent_dim: int, n_features: int) -> None:
    """Refuse a latent dimension above the data's number of features (no injective map exists)."""
    if latent_dim > n_features:
        raise InvalidParameterError(
            f"The 'latent_dim' parameter of {owner} must be <= n_features = {n_features}, the data's columns. "
            f"Got {latent_dim} instead. Lower latent_dim or pass data with more features."
        )


def validate_params(owner: str, params: dict[str, Any], table: dict[str, list[Constraint]]) -> None:
    """Raise InvalidParameterError for the first value that no constraint of its entry accepts."""
    for name, constraints in table.items():
        value = params[name]
        if not any(c.accepts(value) for c in constraints):
            expected = " or ".join(c.describe() for c in constraints)
            shown = f"{value!r:.200}" + ("..." if len(repr(value)) > 200 else "")  # a list of 100,000 layers
            if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and len(value) > 20:
                shown = f"a list of {len(value):,} ({shown})"
            raise InvalidParameterError(f"The '{name}' parameter of {owner} must be {expected}. Got {shown} instead.")


class _FacetsConstraint(Constraint):
    """A non-empty list of (latent_dim, n_components) pairs of ints >= 1 (MFC-VAE's facets)."""

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
            return False
        return all(
            not isinstance(pair, (str, bytes))
            and isinstance(pair, Sequence)
            and len(pair) == 2
            and IntSequence(1).accepts(pair)
            for pair in value
        )

    def describe(self) -> str:
        return "a non-empty list of (latent_dim, n_components) pairs of ints >= 1"


FACETS = _FacetsConstraint()
