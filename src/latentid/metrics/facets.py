"""Per-facet scores for multi-facet data (MFC-VAE): each true facet's latent block and labels on their own.

A model that separates facets recovers each true block z_j from the learned latents (affine R^2 per
block) and each facet's labels c_j from one of its label columns. Learned facets may come in any
order, so true and learned label columns are paired by a Hungarian matching on clustering accuracy
(fitted, like the cluster matching, on the fit split).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import r2_score

from latentid.errors import InvalidDataError
from latentid.metrics._validation import check_labels, split_indices
from latentid.metrics.alignment import AffineAlignment
from latentid.metrics.clustering import accuracy_of, cluster_report, match_clusters


def facet_affine_r2(z_true: np.ndarray, z_hat: np.ndarray, blocks: list[slice], split: float, seed: int) -> dict:
    """``facet{j}_affine_r2``: R^2 of the best affine map from all of z_hat (n, m_hat) to true block j of
    z_true (n, m), fitted on the fit split and scored on the rest; one key per block."""
    fit_idx, eval_idx = split_indices(z_true.shape[0], split, seed)
    out = {}
    for j, block in enumerate(blocks):
        target = z_true[:, block]
        if not z_hat.shape[1]:  # every learned column collapsed: the fit split's mean predicts
            mean = np.broadcast_to(target[fit_idx].mean(axis=0), target[eval_idx].shape)
            out[f"facet{j}_affine_r2"] = float(r2_score(target[eval_idx], mean, multioutput="uniform_average"))
            continue
        affine = AffineAlignment().fit(target[fit_idx], z_hat[fit_idx])
        out[f"facet{j}_affine_r2"] = affine.score(target[eval_idx], z_hat[eval_idx])
    return out


def _as_columns(labels, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    arr = arr[:, None] if arr.ndim == 1 else arr
    if arr.ndim != 2:
        raise InvalidDataError(f"{name} must be (n_samples,) or (n_samples, n_facets); got shape {arr.shape}.")
    return np.stack([check_labels(arr[:, j], f"{name} column {j}") for j in range(arr.shape[1])], axis=1)


def facet_cluster_report(classes, labels, split: float, seed: int) -> dict:
    """Clustering scores per true facet: classes (n, J) true labels, labels (n, J_hat) predicted ones.

    Each true facet j is paired with one predicted column (Hungarian matching of cluster accuracy on the
    fit split); returns ``facet{j}_cluster_acc``, ``facet{j}_nmi``, ``facet{j}_ari`` (held out),
    ``facet{j}_matched_column`` and ``facet_cluster_acc_mean`` (the mean over the facets scored).

    A true facet of one class, or left without a column (J_hat < J), is not scored: its ``facet{j}_*`` keys are
    absent (as the likelihood keys are absent where they do not apply), never a 0 that would read as measured,
    and it is left out of the mean; ``facet_cluster_acc_mean`` is absent when no facet was scored. Every value
    returned is a number.
    """
    classes = _as_columns(classes, "the true classes 'c'")
    labels = _as_columns(labels, "labels (the predicted clusters)")
    if classes.shape[0] != labels.shape[0]:
        raise InvalidDataError(f"classes have {classes.shape[0]} rows but labels have {labels.shape[0]}.")
    fit_idx, _ = split_indices(classes.shape[0], split, seed)
    # A facet of one class has nothing to cluster: any labels would score 1.0 on it and lift the mean.
    facets = [j for j in range(classes.shape[1]) if np.unique(classes[:, j]).size > 1]
    accuracy = np.zeros((len(facets), labels.shape[1]))
    for row, j in enumerate(facets):
        for k in range(labels.shape[1]):
            true, pred = classes[fit_idx, j], labels[fit_idx, k]
            accuracy[row, k] = accuracy_of(true, pred, match_clusters(true, pred))
    rows, cols = linear_sum_assignment(-accuracy)
    matched = {facets[int(row)]: int(col) for row, col in zip(rows, cols, strict=True)}
    out: dict = {}
    for j in range(classes.shape[1]):
        if j not in matched:  # one class, or no learned label column left for this facet: nothing to score
            continue
        k = matched[j]
        scores = cluster_report(classes[:, j], labels[:, k], split=split, seed=seed)
        out.update({f"facet{j}_{key}": scores[key] for key in ("cluster_acc", "nmi", "ari")})
        out[f"facet{j}_matched_column"] = k
    scored = [out[f"facet{j}_cluster_acc"] for j in range(classes.shape[1]) if f"facet{j}_cluster_acc" in out]
    if scored:
        out["facet_cluster_acc_mean"] = float(np.mean(scored))
    return out
