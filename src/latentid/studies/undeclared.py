"""Runs a store files under a study's name that the study file no longer declares, and what sets them apart.

Such runs come from an earlier version of the file, or from the same file under an earlier version of
latentid whose defaults differ: every run's key covers its resolved settings, defaults included, so a changed
default gives the same line of the file a new key. Telling the two apart spares the user a hunt through
their own file for an edit they never made.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: A stored run further than this many settings from every declared run is not called "the same run".
MAX_DIFFERENCES = 3
#: Stored runs compared with the grid, at most: each is compared with every declared run of its model and seed,
#: and a changed default sets all of them apart alike.
MAX_EXAMINED = 200


@dataclass(frozen=True)
class Undeclared:
    """``count`` runs of the study not in its grid; ``differences`` (setting path -> (stored value, value the
    file's grid now resolves to)) for the runs that differ from a declared run in a few settings only, most
    frequent first; ``explained`` how many of the ``count`` those cover."""

    count: int
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    explained: int = 0


def _settings(config: dict) -> dict[str, Any]:
    """The settings that make a run's key (seed and model aside), flattened to 'data.x' / 'options.y'."""
    flat = {}
    for part in ("data", "options"):
        for name, value in (config.get(part) or {}).items():
            flat[f"{part}.{name}"] = value
    return flat


def _nearest(stored: dict, declared: Iterable[dict]) -> dict[str, tuple[Any, Any]] | None:
    """The settings in which ``stored`` differs from its nearest run among ``declared`` (those of its model and
    seed; None when none is within ``MAX_DIFFERENCES``)."""
    mine = _settings(stored)
    best = None
    for config in declared:
        theirs = _settings(config)
        missing = object()
        differ = {
            path: (mine.get(path, missing), theirs.get(path, missing))
            for path in sorted(mine.keys() | theirs.keys())
            if mine.get(path, missing) != theirs.get(path, missing)
        }
        if differ and len(differ) <= MAX_DIFFERENCES and (best is None or len(differ) < len(best)):
            best = {path: tuple(None if v is missing else v for v in pair) for path, pair in differ.items()}
    return best


def undeclared_runs(held: list[dict], declared: list[dict]) -> Undeclared:
    """``held``: the store's rows of the study (each with "key" and "config"); ``declared``: the configs
    (``RunConfig.model_dump()``, with "key") of the study file's grid."""
    keys = {config["key"] for config in declared}
    extra = [row for row in held if row["key"] not in keys]
    by_model_and_seed: dict[tuple, list[dict]] = {}
    for config in declared:
        by_model_and_seed.setdefault((config.get("model"), json_key(config.get("seed"))), []).append(config)
    seen: Counter[str] = Counter()
    values: dict[str, tuple[Any, Any]] = {}
    explained = 0
    examined = extra[:MAX_EXAMINED]
    for row in examined:
        stored = row.get("config") or {}
        differ = _nearest(stored, by_model_and_seed.get((stored.get("model"), json_key(stored.get("seed"))), []))
        if differ is None:
            continue
        explained += 1
        for path, pair in differ.items():
            seen[path] += 1
            values.setdefault(path, pair)
    ordered = {path: values[path] for path, _ in seen.most_common()}
    if examined and explained == len(examined):  # the rest are taken to differ alike
        explained = len(extra)
    return Undeclared(count=len(extra), differences=ordered, explained=explained)


def json_key(value: Any) -> str:
    """A hashable form of a config value (a seed is an int, but a stored config may hold anything)."""
    return json.dumps(value, sort_keys=True, default=str)


def set_in_file(study) -> set[str]:
    """The setting paths ('data.depth', 'options.lr') that ``study``'s file gives a value; the others are
    latentid's defaults."""
    paths = {f"data.{name}" for table in study.data for name, value in table if value is not None}
    return paths | {f"options.{name}" for table in study.models for name in table.options}


def describe(undeclared: Undeclared) -> str:
    """What sets the runs apart, for a note after their subject ("they", "2 of them"): "differ from this file's
    runs only in options.batch_size (256 in the store, 'auto' now)", or "" when no declared run is near them."""
    if not undeclared.differences:
        return ""
    parts = [
        f"{path} ({stored!r} in the store, {now!r} now)"
        if stored is not None and now is not None
        else f"{path} ({'set in the store only' if now is None else 'not in the store'})"
        for path, (stored, now) in undeclared.differences.items()
    ]
    return f"differ from this file's runs only in {', '.join(parts)}"
