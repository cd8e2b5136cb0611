"""Identifiability metrics: MCC, per-level alignments, clustering scores, prior recovery, one report.

Every function takes the true (or reference) latents first and the learned ones second, as arrays
of shape (n_samples, dim), and returns plain numbers, dicts or small frozen dataclasses.
"""

from latentid.metrics.alignment import (
    AffineAlignment,
    CCAAlignment,
    OrthogonalAlignment,
    PermutationScalingAlignment,
)
from latentid.metrics.clustering import cluster_report, match_clusters
from latentid.metrics.correlation import MCCResult, cross_correlation, mcc
from latentid.metrics.prior import prior_recovery
from latentid.metrics.report import (
    METRIC_DESCRIPTIONS,
    consistency,
    evaluate_latents,
    identifiability_report,
    split_indices,
)

__all__ = [
    "METRIC_DESCRIPTIONS",
    "AffineAlignment",
    "CCAAlignment",
    "MCCResult",
    "OrthogonalAlignment",
    "PermutationScalingAlignment",
    "cluster_report",
    "consistency",
    "cross_correlation",
    "evaluate_latents",
    "identifiability_report",
    "match_clusters",
    "mcc",
    "prior_recovery",
    "split_indices",
]
