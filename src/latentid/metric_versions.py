"""Which definitions a stored score was computed under, so that a score of an older definition is not read
(or kept) as one of the current.

``METRICS_VERSION`` counts the changes to what a metric means. A study's stored run records the version it
was scored under (``"metrics"`` among its row's versions; a row without it was scored under version 1).
``REDEFINED_IN`` maps each metric whose definition changed to the version that changed it last:

- 2: strong and Spearman MCC choose their matching and signs on the fit split and score the held-out split
  (version 1 matched on the rows it scored, which lifts unrelated latents to about 0.17 on 100 rows of 10
  coordinates); weak MCC pairs each coordinate with its own affine prediction (version 1 matched the
  predictions again on the rows it scored).

A module of its own, outside ``latentid.metrics`` (which loads torch), so that the light study store reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METRICS_VERSION = 2
REDEFINED_IN = {
    "mcc_strong": 2,
    "mcc_spearman": 2,
    "mcc_weak": 2,
    "mcc_weak_a_to_b": 2,
    "mcc_weak_b_to_a": 2,
}
# What changed in the last version, for messages.
REDEFINED_WHY = (
    "strong and Spearman MCC now choose their matching on the fit split and score the held-out one, and weak MCC "
    "pairs each coordinate with its own affine prediction"
)
VERSIONS_KEY = "metrics"  # the key of a stored row's versions that holds METRICS_VERSION


def scored_version(versions: Any) -> int:
    """The metrics version a stored row's ``versions`` (a dict, or None for a row without) records; 1 where
    it records none or something unreadable (rows written before versions were recorded)."""
    value = versions.get(VERSIONS_KEY) if isinstance(versions, Mapping) else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def stale_metrics(scores: Mapping[str, Any], version: int) -> list[str]:
    """Of the ``scores`` (metric name -> value) computed under metrics ``version``, the names of those whose
    definition has changed since. A None value is no score (real data has no true z to score against), so it
    is never stale: a run holding nothing but None need not be fitted again."""
    return [name for name, value in scores.items() if value is not None and REDEFINED_IN.get(name, 1) > version]
