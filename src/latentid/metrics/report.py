"""One identifiability report: every level's alignment fitted on one split and scored on the other.

The split is a seeded random permutation of the samples: the first ``split`` share (``n_fit``
samples) fits the alignments, the rest (``n_eval`` samples, "held-out") scores them. Every score in
the reports below comes from the held-out part, including the scores that fit nothing (strong and
Spearman MCC), so that all scores of one report describe the same samples; only the counts
(``n_clusters``, ``n_classes``) are taken over every sample. METRIC_DESCRIPTIONS says where each key is.
"""

from __future__ import annotations

import re

import numpy as np

from latentid.errors import InvalidDataError
from latentid.metrics._validation import (
    check_labels,
    check_latents,
    check_not_constant,
    check_same_rows,
    check_split,
    split_indices,
)
from latentid.metrics.alignment import (
    AffineAlignment,
    CCAAlignment,
    OrthogonalAlignment,
    PermutationScalingAlignment,
)
from latentid.metrics.clustering import cluster_report
from latentid.metrics.correlation import mcc_from_arrays
from latentid.metrics.facets import facet_affine_r2, facet_cluster_report

__all__ = [
    "METRIC_DESCRIPTIONS",
    "arrange_result",
    "consistency",
    "evaluate_latents",
    "identifiability_report",
    "metric_description",
    "split_indices",
]

SCORED_ON = "held-out"
SPLIT_NOTE = (
    "alignments (affine, permutation+scaling, orthogonal, CCA, cluster matching) are fitted on a seeded random "
    "'split' share of the samples (n_fit); the identifiability and clustering scores are computed on the other, "
    "held-out samples (n_eval); counts and likelihood keys use every sample"
)

_FITTED = "held-out; fit on fit split"
_NOT_FITTED = "held-out; nothing fitted"
# metric key -> (what it measures, where it is scored); the CLI table and reports render from this.
METRIC_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "affine_r2": ("R^2, best affine map learned -> true (levels 1-2)", _FITTED),
    "mcc_weak": ("Pearson MCC after the affine map (weak)", _FITTED),
    "mcc_strong": ("Pearson MCC, 1:1 matching only (strong)", _NOT_FITTED),
    "mcc_spearman": ("Spearman MCC, 1:1 matching only", _NOT_FITTED),
    "permutation_r2": ("R^2, permutation + scale + shift (level 3)", _FITTED),
    "orthogonal_r2": ("R^2, orthogonal + global scale + shift (vanilla VAE)", _FITTED),
    "mcc_cca": ("mean correlation of the k CCA pairs", _FITTED),
    "cca_components": ("k, the number of CCA pairs", "-"),
    "affine_r2_a_to_b": ("R^2, affine map predicting run A from run B", _FITTED),
    "affine_r2_b_to_a": ("R^2, affine map predicting run B from run A", _FITTED),
    "mcc_weak_a_to_b": ("Pearson MCC, run A vs affine-aligned run B", _FITTED),
    "mcc_weak_b_to_a": ("Pearson MCC, run B vs affine-aligned run A", _FITTED),
    "cluster_acc": ("accuracy, 1:1 Hungarian clusters -> classes", _FITTED),
    "nmi": ("normalised mutual information", _NOT_FITTED),
    "ari": ("adjusted Rand index", _NOT_FITTED),
    "n_clusters": ("distinct predicted clusters", "all samples"),
    "n_classes": ("distinct true classes", "all samples"),
    "latent_dim_true": ("dimension m of the true latents", "-"),
    "latent_dim_learned": ("dimension m_hat of the learned latents", "-"),
    "latent_dim_a": ("latent dimension of run A", "-"),
    "latent_dim_b": ("latent dimension of run B", "-"),
    "n_fit": ("samples that fit the alignments", "-"),
    "n_eval": ("held-out samples the identifiability and clustering scores use", "-"),
    "split": ("share of samples in the fit split", "-"),
    "seed": ("seed of the random split", "-"),
    "true_log_likelihood": ("log p(x) under the true generator, nats per sample", "all samples"),
    "true_log_likelihood_se": ("its Monte Carlo standard error", "all samples"),
    "elbo": ("the fitted model's ELBO, nats per sample", "all samples"),
    "iw_bound": ("its importance-weighted bound (iw_samples draws)", "all samples"),
    "iw_samples": ("draws per sample in iw_bound", "-"),
    "likelihood_gap": ("true log p(x) - the fit's best bound (0 = as good as the truth)", "all samples"),
    "amortisation_gap": ("iw_bound - elbo: what the encoder costs the fit", "all samples"),
    "affine_r2_block": ("R^2, best affine map all learned latents -> this true block", _FITTED),
    "matched_column": ("the predicted label column paired with this facet", "fit split"),
    "facet_cluster_acc_mean": ("mean over facets of the facet cluster accuracy", _FITTED),
}
_FACET_KEY = re.compile(r"facet(\d+)_(.+)")


def metric_description(key: str) -> tuple[str, str]:
    """(what it measures, where it is scored) of a result key; per-facet keys ``facet{j}_<metric>`` read as
    <metric> of true facet j. ('', '') for an unknown key."""
    match = _FACET_KEY.fullmatch(key)
    if match is None:
        return METRIC_DESCRIPTIONS.get(key, ("", ""))
    base = "affine_r2_block" if match[2] == "affine_r2" else match[2]
    what, where = METRIC_DESCRIPTIONS.get(base, ("", ""))
    return f"facet {match[1]}: {what}", where


# A flat result's split bookkeeping -> its name under "split" in arrange_result.
_SPLIT_KEYS = {"split": "share", "seed": "seed", "n_fit": "n_fit", "n_eval": "n_eval"}
# Prose that a flat result carries beside its numbers; "scored_on" and "cluster_scored_on" are replaced by the
# per-metric "scored_on" of arrange_result, "source" by the caller's own record of the data.
_PROSE_KEYS = ("source", "scored_on", "split_note", "cluster_scored_on")


def arrange_result(result: dict) -> dict:
    """A flat result of :func:`evaluate_latents` (plus any likelihood-gap keys) laid out for scripts.

    Returns a dict with, in this order: ``split`` ({share, seed, n_fit, n_eval}, {} without a split),
    ``settings`` (the numbers the scores were computed with, e.g. dimensions, CCA pairs, draws: the keys
    whose "where" in METRIC_DESCRIPTIONS is "-"), ``metrics`` (every score and count, name -> number),
    ``scored_on`` (metric -> where it was scored, from METRIC_DESCRIPTIONS; None for an undescribed key)
    and ``notes`` (the prose: the split note). Keys keep the order of ``result``.
    """
    split = {name: result[key] for key, name in _SPLIT_KEYS.items() if key in result}
    settings, metrics, scored_on = {}, {}, {}
    for key, value in result.items():
        if key in _SPLIT_KEYS or key in _PROSE_KEYS:
            continue
        _, where = metric_description(key)
        if where == "-":
            settings[key] = value
        else:
            metrics[key] = value
            scored_on[key] = where or None
    notes = [result["split_note"]] if result.get("split_note") else []
    return {"split": split, "settings": settings, "metrics": metrics, "scored_on": scored_on, "notes": notes}


def _split_pair(a: np.ndarray, b: np.ndarray, names: tuple[str, str], split: float, seed: int):
    """Split two validated arrays with the same rows; check that no column is constant within a part."""
    fit_idx, eval_idx = split_indices(a.shape[0], split, seed)
    parts = []
    for idx, where in ((fit_idx, " on the fit split"), (eval_idx, " on the held-out split")):
        for arr, name in zip((a, b), names, strict=True):
            part = arr[idx]
            check_not_constant(part, name, where)
            parts.append(part)
    return parts, fit_idx.size, eval_idx.size


def _split_info(split: float, seed: int, n_fit: int, n_eval: int) -> dict:
    return {"n_fit": n_fit, "n_eval": n_eval, "split": split, "seed": int(seed), "scored_on": SCORED_ON}


def identifiability_report(z_true, z_hat, split: float = 0.5, seed: int = 0) -> dict:
    """Score learned latents against the true ones at every level of the identifiability hierarchy.

    Parameters
    ----------
    z_true : array-like of shape (n_samples, m), the ground-truth latents
    z_hat : array-like of shape (n_samples, m_hat), the learned latents (posterior means) of the same samples
    split : float in (0, 1), the share of samples that fits the alignments; the rest scores them
    seed : int seed of the random split

    Returns
    -------
    dict with ``affine_r2``, ``mcc_weak`` (Pearson MCC of z_true against the affine-aligned z_hat),
    ``mcc_strong`` (Pearson MCC, no alignment beyond the matching), ``mcc_spearman``,
    ``permutation_r2``, ``orthogonal_r2``, ``mcc_cca`` and ``cca_components`` (k = min(m, m_hat)),
    ``latent_dim_true``, ``latent_dim_learned``, ``n_fit``, ``n_eval``, ``split``, ``seed``,
    ``scored_on`` ("held-out") and ``split_note``. All scores are computed on the n_eval held-out
    samples; R^2 is averaged uniformly over the true coordinates (scikit-learn's ``r2_score``).
    """
    split = check_split(split)
    z_true = check_latents(z_true, "z_true")
    z_hat = check_latents(z_hat, "z_hat")
    check_same_rows(z_true, z_hat, "z_true", "z_hat")
    (t_fit, h_fit, t_eval, h_eval), n_fit, n_eval = _split_pair(z_true, z_hat, ("z_true", "z_hat"), split, seed)

    affine = AffineAlignment().fit(t_fit, h_fit)
    cca = CCAAlignment().fit(t_fit, h_fit)
    return {
        "affine_r2": affine.score(t_eval, h_eval),
        "mcc_weak": mcc_from_arrays(t_eval, affine.transform(h_eval)).score,
        "mcc_strong": mcc_from_arrays(t_eval, h_eval, "pearson").score,
        "mcc_spearman": mcc_from_arrays(t_eval, h_eval, "spearman").score,
        "permutation_r2": PermutationScalingAlignment().fit(t_fit, h_fit).score(t_eval, h_eval),
        "orthogonal_r2": OrthogonalAlignment().fit(t_fit, h_fit).score(t_eval, h_eval),
        "mcc_cca": cca.score(t_eval, h_eval),
        "cca_components": cca.n_components_,
        "latent_dim_true": z_true.shape[1],
        "latent_dim_learned": z_hat.shape[1],
        **_split_info(split, seed, n_fit, n_eval),
        "split_note": SPLIT_NOTE,
    }


def consistency(z_a, z_b, split: float = 0.5, seed: int = 0) -> dict:
    """Strong and weak MCC between the latents of two independently trained runs (no ground truth).

    Parameters
    ----------
    z_a : array-like of shape (n_samples, m_a), latents of run A
    z_b : array-like of shape (n_samples, m_b), latents of run B, for the same samples in the same order
    split, seed : as in :func:`identifiability_report`

    Returns
    -------
    dict with ``mcc_strong`` and ``mcc_spearman`` (symmetric by construction), ``mcc_weak`` (the mean of
    ``mcc_weak_a_to_b`` and ``mcc_weak_b_to_a``: each run against the affine-aligned other), ``affine_r2``
    (the mean of ``affine_r2_a_to_b`` and ``affine_r2_b_to_a``), ``mcc_cca`` with ``cca_components``
    (symmetric), the dimensions and the split keys. Swapping z_a and z_b gives the same symmetric scores.
    """
    split = check_split(split)
    z_a = check_latents(z_a, "z_a")
    z_b = check_latents(z_b, "z_b")
    check_same_rows(z_a, z_b, "z_a", "z_b")
    (a_fit, b_fit, a_eval, b_eval), n_fit, n_eval = _split_pair(z_a, z_b, ("z_a", "z_b"), split, seed)

    b_to_a = AffineAlignment().fit(a_fit, b_fit)  # predicts A from B
    a_to_b = AffineAlignment().fit(b_fit, a_fit)
    weak_ab = mcc_from_arrays(a_eval, b_to_a.transform(b_eval)).score
    weak_ba = mcc_from_arrays(b_eval, a_to_b.transform(a_eval)).score
    r2_ab = b_to_a.score(a_eval, b_eval)
    r2_ba = a_to_b.score(b_eval, a_eval)
    cca = CCAAlignment().fit(a_fit, b_fit)
    return {
        "mcc_strong": mcc_from_arrays(a_eval, b_eval, "pearson").score,
        "mcc_spearman": mcc_from_arrays(a_eval, b_eval, "spearman").score,
        "mcc_weak": (weak_ab + weak_ba) / 2,
        "mcc_weak_a_to_b": weak_ab,
        "mcc_weak_b_to_a": weak_ba,
        "affine_r2": (r2_ab + r2_ba) / 2,
        "affine_r2_a_to_b": r2_ab,
        "affine_r2_b_to_a": r2_ba,
        "mcc_cca": cca.score(a_eval, b_eval),
        "cca_components": cca.n_components_,
        "latent_dim_a": z_a.shape[1],
        "latent_dim_b": z_b.shape[1],
        **_split_info(split, seed, n_fit, n_eval),
        "split_note": SPLIT_NOTE,
    }


def evaluate_latents(
    z_hat, dataset, labels=None, split: float = 0.5, seed: int = 0, facet_blocks: list[slice] | None = None
) -> dict:
    """Every metric the data allows for learned latents: the one implementation behind ``latentid evaluate``.

    Parameters
    ----------
    z_hat : array-like of shape (n_samples, m_hat), learned latents (posterior means) of the data's samples
    dataset : a :class:`latentid.data.io.Dataset` (anything with ``x``, ``z`` and ``c`` attributes);
        ``z`` of shape (n_samples, m) enables the identifiability keys, ``c`` of shape (n_samples,) the
        cluster keys (together with ``labels``); ``c`` of shape (n_samples, J) (one column per facet) the
        per-facet cluster keys of :func:`~latentid.metrics.facets.facet_cluster_report`
    labels : None or array-like of shape (n_samples,), predicted cluster labels, or (n_samples, J_hat) per facet
    split, seed : as in :func:`identifiability_report`; the clustering matching uses the same split
    facet_blocks : None or the true facets' column slices of ``z`` (more than one adds ``facet{j}_affine_r2``)

    Returns
    -------
    dict: the keys of :func:`identifiability_report` when the data has ``z``, those of
    :func:`~latentid.metrics.clustering.cluster_report` when labels are given, and ``source``.
    """
    split = check_split(split)
    z_true, classes = getattr(dataset, "z", None), getattr(dataset, "c", None)
    source = getattr(dataset, "source", "<data>")
    if z_true is None and labels is None:
        hint = " and no predicted labels were given" if classes is not None else ""
        raise InvalidDataError(
            f"{source} has no ground-truth latents 'z'{hint}; evaluating needs 'z' in the data file "
            "(e.g. an .npz written by `latentid simulate`), or true classes 'c' in it plus predicted cluster labels "
            "(--labels)."
        )
    if labels is not None and classes is None:
        raise InvalidDataError(
            f"predicted labels were given but {source} has no true classes 'c' to compare them with; "
            "use a data file with 'c' (an .npz key) or drop --labels."
        )
    z_hat = check_latents(z_hat, "z_hat (the learned latents)")
    n_data = len(dataset.x)
    if z_hat.shape[0] != n_data:
        raise InvalidDataError(
            f"the learned latents have {z_hat.shape[0]} rows but {source} has {n_data} samples; "
            "they must be the latents of the same samples, in the same order."
        )
    out: dict = {"source": source}
    if z_true is not None:
        out.update(identifiability_report(z_true, z_hat, split=split, seed=seed))
        if facet_blocks is not None and len(facet_blocks) > 1:
            out.update(facet_affine_r2(check_latents(z_true, "z_true"), z_hat, facet_blocks, split, seed))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape[0] != n_data:
            raise InvalidDataError(
                f"the predicted labels have {labels.shape[0]} entries but {source} has {n_data} samples; "
                "pass one label per sample, in the data's order."
            )
        if labels.ndim >= 2 or np.ndim(classes) == 2:
            out.update(facet_cluster_report(classes, labels, split=split, seed=seed))
            out["n_eval"] = split_indices(n_data, split, seed)[1].size
        else:
            labels = check_labels(labels, "labels (the predicted clusters)")
            out.update(cluster_report(classes, labels, split=split, seed=seed))
        # The same split as the identifiability keys (same n, split and seed), so these agree with them.
        out.update(_split_info(split, seed, n_data - out["n_eval"], out["n_eval"]))
        out["split_note"] = SPLIT_NOTE
    return out
