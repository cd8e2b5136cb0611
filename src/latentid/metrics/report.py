"""One identifiability report: every level's alignment fitted on one split and scored on the other.

The split is a seeded random permutation of the samples: the first ``split`` share (``n_fit``
samples) fits the alignments, the rest (``n_eval`` samples, "held-out") scores them. A matching is an
alignment too: strong and Spearman MCC pair the coordinates (and fix their signs) on the fit part and score
the pairs on the held-out part, as the affine map of weak MCC is fitted on one part and scored on the other
(chosen on the rows it scores, a matching lifts the score of unrelated latents: about 0.17 instead of 0 on 100
held-out rows of 10 coordinates). Every score comes from the held-out part, so that all scores of one report
describe the same samples; only the counts (``n_clusters``, ``n_classes``) are taken over every sample.
METRIC_DESCRIPTIONS says where each key is.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from sklearn.metrics import r2_score

from latentid._warnings import caller_stacklevel
from latentid.data.io import dense_array
from latentid.errors import InvalidDataError, LatentIDWarning
from latentid.metrics._validation import (
    MIN_SAMPLES,
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
from latentid.metrics.clustering import cluster_report, match_clusters
from latentid.metrics.correlation import cross_correlation, held_out_matched_correlations
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
    "alignments (affine, permutation+scaling, orthogonal, CCA, MCC's matching and signs, cluster matching) are "
    "fitted on a seeded random "
    "'split' share of the samples (n_fit); the identifiability and clustering scores are computed on the other, "
    "held-out samples (n_eval); counts and likelihood keys use every sample"
)

_FITTED = "held-out; fit on fit split"
_NOT_FITTED = "held-out; nothing fitted"
# metric key -> (what it measures, where it is scored); the CLI table and reports render from this.
METRIC_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "affine_r2": ("R^2, best affine map learned -> true (levels 1-2)", _FITTED),
    "mcc_weak": ("mean Pearson correlation of each true dim with its affine prediction (weak)", _FITTED),
    "mcc_strong": (
        "Pearson MCC, 1:1 matching and signs only, chosen on the fit split (strong); a true dim left unmatched "
        "counts 0",
        _FITTED,
    ),
    "mcc_spearman": (
        "Spearman MCC, 1:1 matching and signs only, chosen on the fit split; a true dim left unmatched counts 0",
        _FITTED,
    ),
    "permutation_r2": ("R^2, permutation + scale + shift (level 3)", _FITTED),
    "orthogonal_r2": ("R^2, orthogonal + global scale + shift (vanilla VAE)", _FITTED),
    "mcc_cca": ("mean signed correlation of the k CCA pairs, times k / m (a missing dim counts 0)", _FITTED),
    "cca_components": ("k, the number of CCA pairs", "-"),
    "affine_r2_a_to_b": ("R^2, affine map predicting run A from run B", _FITTED),
    "affine_r2_b_to_a": ("R^2, affine map predicting run B from run A", _FITTED),
    "mcc_weak_a_to_b": ("mean Pearson correlation of each dim of run A with its affine prediction from run B", _FITTED),
    "mcc_weak_b_to_a": ("mean Pearson correlation of each dim of run B with its affine prediction from run A", _FITTED),
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
    "seed": ("seed of the random split and of the scores' random draws", "-"),
    "true_log_likelihood": ("log p(x) under the true generator, nats per sample", "all samples"),
    "true_log_likelihood_se": ("its Monte Carlo standard error", "all samples"),
    "elbo": ("the fitted model's ELBO, nats per sample", "all samples"),
    "iw_bound": ("its importance-weighted bound (iw_samples draws)", "all samples"),
    "iw_samples": ("draws per sample in iw_bound", "-"),
    "likelihood_gap": ("true log p(x) - the fit's best bound (0 = as good as the truth)", "all samples"),
    "amortisation_gap": ("iw_bound - elbo: what the encoder costs the fit", "all samples"),
    "affine_r2_block": ("R^2, best affine map all learned latents -> this true block", _FITTED),
    "matched_column": ("the predicted label column paired with this facet", "fit split"),
    "facet_cluster_acc_mean": (
        "mean facet cluster accuracy over the facets paired with a label column (the others are not scored)",
        _FITTED,
    ),
    "collapsed_columns": ("learned columns that are constant (scored as carrying no information)", "-"),
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
_PROSE_KEYS = ("source", "scored_on", "split_note", "cluster_scored_on", "warnings")


def arrange_result(result: dict) -> dict:
    """A flat result of :func:`evaluate_latents` (plus any likelihood-gap keys) laid out for scripts.

    Returns a dict with, in this order: ``split`` ({share, seed, n_fit, n_eval}, {} without a split),
    ``settings`` (the numbers the scores were computed with, e.g. dimensions, CCA pairs, draws: the keys
    whose "where" in METRIC_DESCRIPTIONS is "-"), ``metrics`` (every score and count, name -> number),
    ``scored_on`` (metric -> where it was scored, from METRIC_DESCRIPTIONS; None for an undescribed key)
    and ``notes`` (the prose: the split note, then each ``warnings`` entry as "warning: ...").
    Keys keep the order of ``result``.
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
    notes += [f"warning: {w}" for w in result.get("warnings", [])]
    return {"split": split, "settings": settings, "metrics": metrics, "scored_on": scored_on, "notes": notes}


COLLAPSED_NOTE = (
    "scored as carrying no information: a constant column has correlation 0 with every true coordinate and is "
    "left out of every alignment (an affine, permutation or orthogonal map gains nothing from a constant), so a "
    "fit whose columns all collapsed predicts the fit-split mean (R^2 about 0) and scores MCC 0"
)


@dataclass
class _Learned:
    """One learned array split in two: the columns that vary on both parts (``fit``, ``eval``), and both whole
    parts with their collapsed (constant) columns set to 0 (``fit_all``, ``eval_all``: what MCC matches, so a
    collapsed column counts as correlation 0)."""

    fit: np.ndarray
    eval: np.ndarray
    fit_all: np.ndarray
    eval_all: np.ndarray
    collapsed: np.ndarray


def _constant_columns(arr: np.ndarray) -> np.ndarray:
    return np.flatnonzero(arr.max(axis=0) == arr.min(axis=0))


def _learned_parts(arr: np.ndarray, name: str, fit_idx, eval_idx, notes: list[str]) -> _Learned:
    """Split learned latents; columns constant on either part are collapsed: named in ``notes`` and a
    UserWarning, and scored as carrying no information (COLLAPSED_NOTE)."""
    fit, held = arr[fit_idx], arr[eval_idx]
    collapsed = np.union1d(_constant_columns(fit), _constant_columns(held))
    if collapsed.size:
        cols = ", ".join(str(c) for c in collapsed[:5]) + (", ..." if collapsed.size > 5 else "")
        message = f"{name} has {collapsed.size} collapsed (constant) column(s) ({cols}): {COLLAPSED_NOTE}"
        notes.append(message)
        warnings.warn(message, LatentIDWarning, stacklevel=caller_stacklevel())
    keep = np.setdiff1d(np.arange(arr.shape[1]), collapsed)
    fit_all, eval_all = fit.copy(), held.copy()
    fit_all[:, collapsed] = 0.0
    eval_all[:, collapsed] = 0.0
    return _Learned(fit[:, keep], held[:, keep], fit_all, eval_all, collapsed)


def _true_parts(arr: np.ndarray, name: str, fit_idx, eval_idx) -> tuple[np.ndarray, np.ndarray]:
    """Split ground-truth latents; a column constant on either part is bad data and refused."""
    parts = []
    for idx, where in ((fit_idx, " on the fit split"), (eval_idx, " on the held-out split")):
        check_not_constant(arr[idx], name, where)
        parts.append(arr[idx])
    return parts[0], parts[1]


def _mcc(t_fit: np.ndarray, t_eval: np.ndarray, learned: _Learned, method: str = "pearson") -> float:
    """Strong MCC out of sample: the 1:1 matching of the (n, m) targets' and the learned (n, m_hat) columns, and
    each pair's sign, chosen on the fit rows; the mean over min(m, m_hat) pairs of their held-out correlations."""
    return float(held_out_matched_correlations(t_fit, learned.fit_all, t_eval, learned.eval_all, method).mean())


def _symmetric_mcc(a: _Learned, b: _Learned, method: str) -> float:
    """Strong MCC between two runs, the mean of matching a's columns to b's and b's to a's: the same matching but
    where the fit rows' correlations tie exactly, in which the Hungarian algorithm may keep another of the tied
    matchings for the transposed problem (consistency(a, b) and consistency(b, a) read 0.075 and 0.182 on binary
    latents)."""
    return (_mcc(a.fit_all, a.eval_all, b, method) + _mcc(b.fit_all, b.eval_all, a, method)) / 2


def _mcc_over_true(t_fit: np.ndarray, t_eval: np.ndarray, learned: _Learned, method: str = "pearson") -> float:
    """``_mcc`` averaged over the m true coordinates: with fewer learned columns than true ones, the true
    coordinates left without a partner count 0 (as a collapsed column does), so that a model with too few
    dimensions cannot score above a complete one."""
    m, m_hat = t_fit.shape[1], learned.fit_all.shape[1]
    return _mcc(t_fit, t_eval, learned, method) * min(m, m_hat) / m


def _fit_or_mean(alignment, t_fit: np.ndarray, h_fit: np.ndarray):
    """``alignment`` fitted on the learned columns that vary, or None when none does (the mean predicts)."""
    return alignment.fit(t_fit, h_fit) if h_fit.shape[1] else None


def _r2(fitted, t_fit: np.ndarray, t_eval: np.ndarray, h_eval: np.ndarray) -> float:
    if fitted is not None:
        return fitted.score(t_eval, h_eval)
    mean = np.broadcast_to(t_fit.mean(axis=0), t_eval.shape)
    return float(r2_score(t_eval, mean, multioutput="uniform_average"))


def _aligned_mcc(fitted, t_eval: np.ndarray, h_eval: np.ndarray) -> float:
    """Weak MCC: the mean Pearson correlation of each held-out target column (n, m) with its affine prediction.
    The alignment fitted on the fit rows already pairs them: column j predicts target j, so nothing is matched
    again on the rows it scores."""
    if fitted is None:
        return 0.0
    return float(np.mean(np.diag(cross_correlation(t_eval, fitted.transform(h_eval)))))


def _split_info(split: float, seed: int, n_fit: int, n_eval: int) -> dict:
    return {"n_fit": n_fit, "n_eval": n_eval, "split": split, "seed": int(seed), "scored_on": SCORED_ON}


def _unmatched_note(classes: np.ndarray, labels: np.ndarray, split: float, seed: int) -> str | None:
    """A note when held-out samples (n,) belong to true classes no cluster was matched to on the fit split:
    cluster_acc counts them as errors, which caps it (many classes over few rows, or fewer clusters)."""
    fit_idx, eval_idx = split_indices(len(classes), split, seed)
    matched = list(match_clusters(classes[fit_idx], labels[fit_idx]).values())
    unmatched = int(np.sum(~np.isin(classes[eval_idx], matched)))
    if not unmatched:
        return None
    return (
        f"{unmatched:,} of the {eval_idx.size:,} held-out samples belong to true classes that no cluster was matched "
        "to on the fit split (classes absent there, or more classes than clusters): cluster_acc counts them as "
        f"errors, so it is at most {1 - unmatched / eval_idx.size:.3f} here"
    )


def unit_scaled(arr: np.ndarray) -> np.ndarray:
    """``arr`` times the power of two that brings its largest magnitude into [0.5, 1): exact, and every score
    here is invariant to it, while latents of 1e200 (or 1e-300) overflowed (underflowed) in the alignments."""
    peak = np.abs(arr).max() if arr.size else 0.0
    return np.ldexp(arr, -np.frexp(peak)[1]) if peak > 0 else arr


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
    dict with ``affine_r2``, ``mcc_weak`` (the mean correlation of each true dimension with its affine
    prediction from z_hat), ``mcc_strong`` (Pearson MCC, no alignment beyond the matching and the signs, both
    chosen on the fit split, averaged over the m true dimensions, an unmatched one counting 0; ``metrics.mcc``
    matches and scores on the same rows and averages over the matched pairs alone), ``mcc_spearman``,
    ``permutation_r2``, ``orthogonal_r2``, ``mcc_cca`` and ``cca_components`` (k = min(m, m_hat), fewer when
    learned columns are constant: they are left out), ``latent_dim_true``, ``latent_dim_learned``, ``n_fit``,
    ``n_eval``, ``split``, ``seed``, ``scored_on`` ("held-out") and ``split_note``. All scores are computed on
    the n_eval held-out samples; R^2 is averaged uniformly over the true coordinates (scikit-learn's ``r2_score``).
    """
    split = check_split(split)
    z_true = unit_scaled(check_latents(z_true, "z_true"))
    z_hat = unit_scaled(check_latents(z_hat, "z_hat", allow_constant=True))
    check_same_rows(z_true, z_hat, "z_true", "z_hat")
    fit_idx, eval_idx = split_indices(z_true.shape[0], split, seed, MIN_SAMPLES)  # alignments fit on each part
    t_fit, t_eval = _true_parts(z_true, "z_true", fit_idx, eval_idx)
    notes: list[str] = []
    h = _learned_parts(z_hat, "z_hat", fit_idx, eval_idx, notes)

    affine = _fit_or_mean(AffineAlignment(), t_fit, h.fit)
    cca = _fit_or_mean(CCAAlignment(), t_fit, h.fit)
    out = {
        "affine_r2": _r2(affine, t_fit, t_eval, h.eval),
        "mcc_weak": _aligned_mcc(affine, t_eval, h.eval),
        "mcc_strong": _mcc_over_true(t_fit, t_eval, h, "pearson"),
        "mcc_spearman": _mcc_over_true(t_fit, t_eval, h, "spearman"),
        "permutation_r2": _r2(_fit_or_mean(PermutationScalingAlignment(), t_fit, h.fit), t_fit, t_eval, h.eval),
        "orthogonal_r2": _r2(_fit_or_mean(OrthogonalAlignment(), t_fit, h.fit), t_fit, t_eval, h.eval),
        # k = min(m, m_hat) pairs; the m - k true directions no pair reaches count 0, as in mcc_strong
        "mcc_cca": cca.score(t_eval, h.eval) * cca.n_components_ / z_true.shape[1] if cca is not None else 0.0,
        "cca_components": cca.n_components_ if cca is not None else 0,
        "latent_dim_true": z_true.shape[1],
        "latent_dim_learned": z_hat.shape[1],
        **_split_info(split, seed, fit_idx.size, eval_idx.size),
        "split_note": SPLIT_NOTE,
    }
    if notes:
        out["collapsed_columns"] = int(h.collapsed.size)
        out["warnings"] = notes
    return out


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
    ``mcc_weak_a_to_b`` and ``mcc_weak_b_to_a``: each run's columns against their affine predictions from the
    other, a collapsed column counting 0), ``affine_r2`` (the mean of ``affine_r2_a_to_b`` and
    ``affine_r2_b_to_a``, a collapsed column counting 0), ``mcc_cca`` with ``cca_components``
    (symmetric; averaged over min(m_a, m_b) pairs like mcc_strong, a collapsed column counting 0), the
    dimensions and the split keys. Swapping z_a and z_b gives the same symmetric scores.
    """
    split = check_split(split)
    z_a = unit_scaled(check_latents(z_a, "z_a", allow_constant=True))
    z_b = unit_scaled(check_latents(z_b, "z_b", allow_constant=True))
    check_same_rows(z_a, z_b, "z_a", "z_b")
    fit_idx, eval_idx = split_indices(z_a.shape[0], split, seed, MIN_SAMPLES)
    notes: list[str] = []
    a = _learned_parts(z_a, "z_a", fit_idx, eval_idx, notes)
    b = _learned_parts(z_b, "z_b", fit_idx, eval_idx, notes)

    # Each direction predicts the varying columns of one run from those of the other, averaged over all the
    # predicted run's columns: a collapsed one counts 0, as in mcc_strong (dropped from the mean, two runs that kept
    # one of five dimensions alike read 1.0). A run whose columns all collapsed has nothing to predict (R^2 and MCC
    # 0) and predicts nothing (the mean: R^2 about 0).
    def direction(target: _Learned, source: _Learned) -> tuple[float, float]:
        varying, every = target.fit.shape[1], target.fit_all.shape[1]
        if not varying:
            return 0.0, 0.0
        fitted = _fit_or_mean(AffineAlignment(), target.fit, source.fit)
        r2, weak = _r2(fitted, target.fit, target.eval, source.eval), _aligned_mcc(fitted, target.eval, source.eval)
        return r2 * varying / every, weak * varying / every

    r2_ab, weak_ab = direction(a, b)  # predicts A from B
    r2_ba, weak_ba = direction(b, a)
    cca = _fit_or_mean(CCAAlignment(), a.fit, b.fit) if a.fit.shape[1] else None
    out = {
        "mcc_strong": _symmetric_mcc(a, b, "pearson"),
        "mcc_spearman": _symmetric_mcc(a, b, "spearman"),
        "mcc_weak": (weak_ab + weak_ba) / 2,
        "mcc_weak_a_to_b": weak_ab,
        "mcc_weak_b_to_a": weak_ba,
        "affine_r2": (r2_ab + r2_ba) / 2,
        "affine_r2_a_to_b": r2_ab,
        "affine_r2_b_to_a": r2_ba,
        # over min(m_a, m_b) pairs as mcc_strong: a collapsed column, left out of the CCA, counts 0
        "mcc_cca": cca.score(a.eval, b.eval) * cca.n_components_ / min(z_a.shape[1], z_b.shape[1])
        if cca is not None
        else 0.0,
        "cca_components": cca.n_components_ if cca is not None else 0,
        "latent_dim_a": z_a.shape[1],
        "latent_dim_b": z_b.shape[1],
        **_split_info(split, seed, fit_idx.size, eval_idx.size),
        "split_note": SPLIT_NOTE,
    }
    if notes:
        out["collapsed_columns"] = int(a.collapsed.size + b.collapsed.size)
        out["warnings"] = notes
    return out


def _sample_count(dataset, z_true, classes) -> int:
    """How many samples ``dataset`` holds: the rows of its x, or of its z or c where x is absent or no array."""
    for part in (getattr(dataset, "x", None), z_true, classes):
        if scipy.sparse.issparse(part):
            return part.shape[0]
        if part is not None and np.ndim(part) >= 1:
            return len(part)
    raise InvalidDataError("the data set holds no samples: give it x (n_samples, n_features), z or c.")


def _one_facet_as_labels(labels: np.ndarray) -> np.ndarray:
    """(n, 1) labels (one facet, e.g. ``simulate --facets 2:3`` or a one-facet MFC-VAE) as (n,): one facet is one
    mixture, scored by the mixture's keys (cluster_acc ...), not as facet 0."""
    return labels[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels


ONE_CLASS_NOTE = (
    "the data has one true class (every c the same), so there is nothing to cluster: cluster_acc, nmi and ari are "
    "not scored (any labels would score an accuracy of 1.0 or near it)"
)


def evaluate_latents(
    z_hat,
    dataset,
    labels=None,
    split: float = 0.5,
    seed: int = 0,
    facet_blocks: list[slice] | None = None,
    *,
    latents_name: str = "z_hat (the learned latents)",
    labels_name: str = "labels (the predicted clusters)",
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
    latents_name, labels_name : what errors call ``z_hat`` and ``labels`` (the command line: the files given)

    Returns
    -------
    dict: the keys of :func:`identifiability_report` when the data has ``z``, those of
    :func:`~latentid.metrics.clustering.cluster_report` when labels are given (not when the data has one true
    class: nothing to cluster, ``warnings`` says so), and ``source``.
    """
    split = check_split(split)
    z_true, classes = getattr(dataset, "z", None), getattr(dataset, "c", None)
    classes = None if classes is None else _one_facet_as_labels(np.asarray(classes))  # any array-like, as z and x
    source = getattr(dataset, "source", "<data>")
    if z_true is None and labels is None:
        hint = " and no predicted labels were given" if classes is not None else ""
        raise InvalidDataError(
            f"{source} has no ground-truth latents 'z'{hint}; evaluating needs 'z' in the data file "
            "(e.g. an .npz written by `latentid simulate`), or true classes 'c' in it plus predicted cluster labels "
            "(--labels). Without ground truth, `latentid experiment consistency` measures how far fits from other "
            "seeds agree, and `latentid explain --run` which guarantee the fitted model has."
        )
    if labels is not None and classes is None:
        raise InvalidDataError(
            f"predicted labels were given but {source} has no true classes 'c' to compare them with; "
            "use a data file with 'c' (an .npz key) or drop --labels."
        )
    z_hat = check_latents(z_hat, latents_name, allow_constant=True)
    n_data = _sample_count(dataset, z_true, classes)
    if z_hat.shape[0] != n_data:
        raise InvalidDataError(
            f"{latents_name} has {z_hat.shape[0]} rows but {source} has {n_data} samples; "
            "they must be the latents of the same samples, in the same order."
        )
    out: dict = {"source": source}
    if z_true is not None:
        out.update(identifiability_report(z_true, z_hat, split=split, seed=seed))
        if facet_blocks is not None and len(facet_blocks) > 1:
            fit_idx, eval_idx = split_indices(z_hat.shape[0], split, seed)
            varying = np.setdiff1d(
                np.arange(z_hat.shape[1]),
                np.union1d(_constant_columns(z_hat[fit_idx]), _constant_columns(z_hat[eval_idx])),
            )
            z_used = z_hat[:, varying] if varying.size else np.zeros((z_hat.shape[0], 0))
            z_true_scaled = unit_scaled(check_latents(z_true, "z_true"))
            out.update(facet_affine_r2(z_true_scaled, unit_scaled(z_used), facet_blocks, split, seed))
    if labels is not None:
        labels = _one_facet_as_labels(dense_array(labels, labels_name))
        if labels.ndim == 0 or (labels.ndim == 2 and labels.shape[0] == 1 and n_data > 1):
            raise InvalidDataError(
                f"{labels_name} must hold one label per sample, shape (n_samples,) or (n_samples, J); got shape "
                f"{labels.shape}."
            )
        if labels.shape[0] != n_data:
            raise InvalidDataError(
                f"{labels_name} has {labels.shape[0]} entries but {source} has {n_data} samples; "
                "pass one label per sample, in the data's order."
            )
        if labels.ndim >= 2 or np.ndim(classes) == 2:
            out.update(facet_cluster_report(classes, labels, split=split, seed=seed))
            out["n_eval"] = split_indices(n_data, split, seed)[1].size
            label_columns = 1 if np.ndim(labels) == 1 else np.shape(labels)[1]
            if label_columns == 1 < (1 if np.ndim(classes) == 1 else np.shape(classes)[1]):
                out["warnings"] = [
                    *out.get("warnings", []),
                    "one label column against several facets: it is scored 1:1 against the facet it matches best, "
                    "the other facets are unscored, and facet_cluster_acc_mean is not comparable with a model that "
                    "labels every facet (a joint clustering is penalised for having more clusters than that facet "
                    "has classes)",
                ]
        else:
            labels = check_labels(labels, labels_name)
            if np.unique(check_labels(classes, "the true classes c")).size < 2:
                # as a facet of one class (metrics.facets): any labels would score accuracy 1.0 against it
                out["n_eval"] = split_indices(n_data, split, seed)[1].size
                out["warnings"] = [*out.get("warnings", []), ONE_CLASS_NOTE]
            else:
                out.update(cluster_report(classes, labels, split=split, seed=seed))
                unmatched = _unmatched_note(classes, labels, split, seed)
                if unmatched:
                    out["warnings"] = [*out.get("warnings", []), unmatched]
        # The same split as the identifiability keys (same n, split and seed), so these agree with them.
        out.update(_split_info(split, seed, n_data - out["n_eval"], out["n_eval"]))
        out["split_note"] = SPLIT_NOTE
    return out
