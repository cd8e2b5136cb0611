"""Clustering scores: 1:1 Hungarian accuracy, NMI and ARI.

Accuracy matches clusters to classes one to one (never many-to-one), so with more clusters than
classes the unmatched clusters' samples count as errors, and with fewer clusters the unmatched
classes are simply never predicted. NMI and ARI are scikit-learn's definitions (NMI with the
arithmetic-mean normalisation, scikit-learn's default).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from latentid._memory import check_memory
from latentid.errors import InvalidDataError
from latentid.metrics._validation import MIN_SAMPLES, check_labels, split_indices

TABLE_COPIES = 3  # int64 contingency table, linear_sum_assignment's float64 copy, and its working arrays


def _same_samples(labels_true, labels_pred) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays checked (``check_labels``) and of the same length, or InvalidDataError."""
    labels_true = check_labels(labels_true, "labels_true")
    labels_pred = check_labels(labels_pred, "labels_pred")
    if labels_true.shape != labels_pred.shape:
        raise InvalidDataError(
            f"labels_true has {labels_true.shape[0]} samples but labels_pred has {labels_pred.shape[0]}; "
            "they must label the same samples in the same order."
        )
    return labels_true, labels_pred


def match_clusters(labels_true, labels_pred) -> dict:
    """Hungarian 1:1 matching of predicted clusters to true classes maximising the agreeing samples.

    labels_true, labels_pred : ndarray of shape (n_samples,). Returns {cluster: class} for the
    min(n_clusters, n_classes) matched clusters.
    """
    labels_true, labels_pred = _same_samples(labels_true, labels_pred)
    classes, true_idx = np.unique(labels_true, return_inverse=True)
    clusters, pred_idx = np.unique(labels_pred, return_inverse=True)
    # the dense table, and the assignment's float copy of it: labels that are ids (a value per row) ended the
    # process with std::bad_alloc, no message and no exit code
    check_memory(
        TABLE_COPIES * 8 * classes.size * clusters.size,
        f"Matching {clusters.size:,} clusters to {classes.size:,} classes",
        "Are the labels row ids rather than clusters? Give labels with fewer distinct values.",
    )
    table = contingency_matrix(true_idx, pred_idx)  # (n_classes, n_clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {clusters[c].item(): classes[r].item() for r, c in zip(rows, cols, strict=True)}


def accuracy_of(labels_true: np.ndarray, labels_pred: np.ndarray, mapping: dict) -> float:
    """Share of samples whose cluster is matched to their class; unmatched clusters count as errors."""
    clusters = np.array(list(mapping.keys()))
    classes = np.array(list(mapping.values()))
    if clusters.size == 0:
        return 0.0
    order = np.argsort(clusters)
    clusters, classes = clusters[order], classes[order]
    pos = np.clip(np.searchsorted(clusters, labels_pred), 0, clusters.size - 1)
    matched = clusters[pos] == labels_pred
    return float(np.mean(matched & (classes[pos] == labels_true)))


def cluster_report(labels_true, labels_pred, split: float | None = None, seed: int = 0) -> dict:
    """Clustering accuracy (1:1 Hungarian), NMI and ARI of predicted clusters against true classes.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,), the true classes (ints or strings)
    labels_pred : array-like of shape (n_samples,), the predicted cluster labels
    split : None (default) or float in (0, 1). None: the matching is fitted and scored on all samples,
        the usual convention. A float: the matching is fitted on a seeded random ``split`` share of the
        samples and all three scores are computed on the rest (held out); clusters absent from the fit
        part count as errors.
    seed : int seed of the split (ignored when split is None)

    Returns
    -------
    dict with ``cluster_acc``, ``nmi``, ``ari``, ``n_clusters`` and ``n_classes`` (over all samples
    given), ``n_eval`` and ``cluster_scored_on``.
    """
    labels_true, labels_pred = _same_samples(labels_true, labels_pred)
    if split is None:
        fit_idx = eval_idx = np.arange(labels_true.shape[0])
        scored_on = "all samples (matching fitted on the same samples)"
    else:
        # each part is scored as labels in its own right, so each needs what labels need
        fit_idx, eval_idx = split_indices(labels_true.shape[0], split, seed, MIN_SAMPLES)
        scored_on = "held-out (matching fitted on the fit split)"
    mapping = match_clusters(labels_true[fit_idx], labels_pred[fit_idx])
    t, p = labels_true[eval_idx], labels_pred[eval_idx]
    return {
        "cluster_acc": accuracy_of(t, p, mapping),
        "nmi": float(normalized_mutual_info_score(t, p)),
        "ari": float(adjusted_rand_score(t, p)),
        "n_clusters": int(np.unique(labels_pred).size),
        "n_classes": int(np.unique(labels_true).size),
        "n_eval": int(eval_idx.size),
        "cluster_scored_on": scored_on,
    }
