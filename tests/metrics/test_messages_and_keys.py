"""What the metrics promise beyond their headline numbers: errors that name the offending argument,
the exact keys of each report, and report entries recomputed from their parts."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

from latentid.errors import InvalidDataError, InvalidParameterError, LatentIDWarning, NotFittedError
from latentid.metrics import (
    AffineAlignment,
    CCAAlignment,
    OrthogonalAlignment,
    PermutationScalingAlignment,
    cluster_report,
    consistency,
    evaluate_latents,
    identifiability_report,
    mcc,
    prior_recovery,
    split_indices,
)
from latentid.metrics._validation import check_labels

RNG = np.random.default_rng(0)
Z = RNG.normal(size=(60, 2))
H = Z @ np.array([[1.0, 0.3], [-0.2, 0.8]]) + 0.3 * RNG.normal(size=(60, 2))
NAN = Z.copy()
NAN[3, 1] = np.nan
CONSTANT = np.column_stack([Z[:, 0], np.ones(60)])
LABELS = np.arange(60) % 3


def _raises(exc, message, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert re.search(message, str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("fn", "first", "second"),
    [(identifiability_report, "z_true", "z_hat"), (consistency, "z_a", "z_b")],
    ids=["identifiability_report", "consistency"],
)
def test_latent_errors_name_the_argument(fn, first, second):
    _raises(InvalidDataError, rf"^{first} contains 1 NaN", fn, NAN, H)
    _raises(InvalidDataError, rf"^{second} contains 1 NaN", fn, Z, NAN)
    _raises(InvalidDataError, rf"^{first} has 60 rows but {second} has 59; they must hold the same", fn, Z, H[:-1])
    half = np.column_stack([Z[:, 0], (np.arange(60) >= 30).astype(float)])  # constant within a part only
    fit_idx, _ = split_indices(60, 0.5, 0)
    half[:, 1] = 0.0
    half[fit_idx[:1], 1] = 1.0  # varies on the fit split (one row), constant on the held-out split
    if fn is identifiability_report:  # a constant true column is bad data: refused
        _raises(InvalidDataError, rf"^{first} has constant column\(s\) 1; ", fn, CONSTANT, H)
        _raises(InvalidDataError, rf"^{first} has constant column\(s\) 1 on the held-out split", fn, half, H)
    # a constant learned column is a collapsed fit: scored, with a warning that names it
    for args in ((Z, CONSTANT), (Z, half)) if fn is identifiability_report else ((CONSTANT, H), (Z, half)):
        with pytest.warns(LatentIDWarning, match="collapsed") as caught:
            out = fn(*args)
        assert out["collapsed_columns"] == 1 and "column(s) (1)" in out["warnings"][0]
        assert caught[0].filename == __file__  # the caller's line, also through evaluate_latents (it named report.py)


def test_cca_alignment_errors_name_the_argument():
    with pytest.raises(NotFittedError, match=r"^This CCAAlignment is not fitted yet; call fit\(z_true, z_hat\) first"):
        CCAAlignment().transform(Z, H)
    cca = CCAAlignment().fit(Z, H)
    _raises(InvalidDataError, "^z_true contains 1 NaN", cca.transform, NAN, H)
    _raises(InvalidDataError, "^z_hat contains 1 NaN", cca.transform, Z, NAN)
    _raises(InvalidDataError, "^z_true has 60 rows but z_hat has 59", cca.transform, Z, H[:-1])
    _raises(
        InvalidDataError,
        "^z_true has 3 columns but this CCAAlignment was fitted on 2",
        cca.transform,
        Z[:, [0, 1, 1]],
        H,
    )
    _raises(InvalidDataError, "^z_hat has 1 columns but this CCAAlignment was fitted on 2", cca.transform, Z, H[:, :1])
    # transform accepts one row and constant columns (it only projects); the score of constants is 0
    u, v = cca.transform(Z[:1], H[:1])
    assert u.shape == (1, 2) and v.shape == (1, 2)
    np.testing.assert_array_equal(cca.pair_correlations(np.ones((5, 2)), np.ones((5, 2))), [0.0, 0.0])


def test_cluster_report_errors_name_the_argument():
    _raises(InvalidDataError, r"^labels_true must be 1-D", cluster_report, LABELS[:, None], LABELS)
    _raises(InvalidDataError, r"^labels_pred must be 1-D", cluster_report, LABELS, LABELS[:, None])
    _raises(
        InvalidDataError,
        r"^labels_true has 60 samples but labels_pred has 59; they must label the same samples in the same order\.$",
        cluster_report,
        LABELS,
        LABELS[:-1],
    )


def test_check_labels_accepts_integer_valued_floats_and_refuses_the_rest():
    out = check_labels(np.array([0.0, 1.0, 2.0, 1.0]), "labels")
    assert out.dtype == np.int64 and out.tolist() == [0, 1, 2, 1]
    out = check_labels(np.array([0, 1, 2, 1], dtype=np.complex128), "labels")
    assert out.dtype == np.int64 and out.tolist() == [0, 1, 2, 1]
    assert check_labels(np.array(["a", "b", "a", "c"]), "labels").tolist() == ["a", "b", "a", "c"]
    # 1+1j is not label 1: the imaginary part is refused, not dropped (which merged two clusters).
    _raises(
        InvalidDataError,
        r"^labels must hold integer labels; got complex values with an imaginary part\.$",
        check_labels,
        np.array([0, 1 + 1j, 1, 2]),
        "labels",
    )
    for bad in ([0.0, 1.5, 2.0, 1.0], [0.0, np.nan, 2.0, 1.0], [0.0, np.inf, 2.0, 1.0]):
        _raises(
            InvalidDataError,
            r"^labels must hold integer labels; got non-integer or non-finite",
            check_labels,
            np.array(bad),
            "labels",
        )
    _raises(
        InvalidDataError,
        r"^labels must hold integer or string labels; got objects of type\(s\) NoneType, int, str\. Convert them",
        check_labels,
        np.array([0, "a", None, 1], dtype=object),
        "labels",
    )
    _raises(
        InvalidDataError, r"^labels needs at least 4 samples; got 3\.$", check_labels, np.array([0, 1, 0]), "labels"
    )


def test_cluster_report_seeded_split_and_float_labels():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 200)
    pred = np.where(rng.random(200) < 0.8, (truth + 1) % 3, rng.integers(0, 3, 200))
    default = cluster_report(truth, pred, split=0.5)
    assert default == cluster_report(truth, pred, split=0.5, seed=0)
    assert default != cluster_report(truth, pred, split=0.5, seed=1)
    assert cluster_report(truth.astype(float), pred.astype(float), split=0.5) == default
    _, eval_idx = split_indices(200, 0.5, 0)
    t, p = truth[eval_idx], pred[eval_idx]
    assert default["cluster_acc"] == pytest.approx(np.mean(((p + 2) % 3) == t))  # the matching undoes the shift


def test_consistency_keys_and_entries_recomputed_from_their_parts():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(80, 2))
    b = a @ np.array([[0.9, 0.4], [-0.3, 1.1]]) + rng.normal(size=(80, 2)) * 0.5
    out = consistency(a, b, split=0.6, seed=3)
    assert set(out) == {
        "mcc_strong",
        "mcc_spearman",
        "mcc_weak",
        "mcc_weak_a_to_b",
        "mcc_weak_b_to_a",
        "affine_r2",
        "affine_r2_a_to_b",
        "affine_r2_b_to_a",
        "mcc_cca",
        "cca_components",
        "latent_dim_a",
        "latent_dim_b",
        "n_fit",
        "n_eval",
        "split",
        "seed",
        "scored_on",
        "split_note",
    }
    fit_idx, eval_idx = split_indices(80, 0.6, 3)
    assert (out["n_fit"], out["n_eval"], out["split"], out["seed"]) == (48, 32, 0.6, 3)
    r2_ab = AffineAlignment().fit(a[fit_idx], b[fit_idx]).score(a[eval_idx], b[eval_idx])
    r2_ba = AffineAlignment().fit(b[fit_idx], a[fit_idx]).score(b[eval_idx], a[eval_idx])
    assert out["affine_r2_a_to_b"] == pytest.approx(r2_ab) and out["affine_r2_b_to_a"] == pytest.approx(r2_ba)
    assert out["affine_r2"] == pytest.approx((r2_ab + r2_ba) / 2)
    assert out["mcc_strong"] == pytest.approx(mcc(a[eval_idx], b[eval_idx], "pearson").score)
    assert out["mcc_spearman"] == pytest.approx(mcc(a[eval_idx], b[eval_idx], "spearman").score)
    assert out["mcc_spearman"] != pytest.approx(out["mcc_strong"])
    assert out["cca_components"] == 2 and out["split_note"]
    assert consistency(a, b) == consistency(a, b, seed=0) != consistency(a, b, seed=1)


def test_identifiability_report_entries_recomputed_from_their_parts():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(80, 2))
    h = np.tanh(z @ np.array([[0.9, 0.4], [-0.3, 1.1]])) + 0.1 * rng.normal(size=(80, 2))
    out = identifiability_report(z, h, split=0.6, seed=3)
    fit_idx, eval_idx = split_indices(80, 0.6, 3)
    assert (out["n_fit"], out["n_eval"], out["split"], out["seed"]) == (48, 32, 0.6, 3)
    assert out["mcc_strong"] == pytest.approx(mcc(z[eval_idx], h[eval_idx], "pearson").score)
    assert out["mcc_spearman"] == pytest.approx(mcc(z[eval_idx], h[eval_idx], "spearman").score)
    assert out["mcc_spearman"] != pytest.approx(out["mcc_strong"])


class _Data(SimpleNamespace):
    pass


def test_evaluate_latents_plumbing():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(100, 2))
    c = (z[:, 0] > 0).astype(np.int64)
    data = _Data(x=np.zeros((100, 3)), z=z, c=c)  # no 'source': reported as <data>
    pred = np.where(rng.random(100) < 0.7, c, 1 - c)
    out = evaluate_latents(z + 0.1 * rng.normal(size=(100, 2)), data, labels=pred, split=0.5, seed=4)
    assert out["source"] == "<data>" and out["seed"] == 4 and out["split"] == 0.5
    assert out["split_note"] and isinstance(out["split_note"], str)
    expected = cluster_report(c, pred, split=0.5, seed=4)
    assert {k: out[k] for k in expected} == expected
    assert out["n_fit"] == 50 and out["n_eval"] == 50
    default = evaluate_latents(z, _Data(x=data.x, z=None, c=c), labels=pred)
    assert default["cluster_acc"] == cluster_report(c, pred, split=0.5, seed=0)["cluster_acc"]
    assert "affine_r2" not in default


def test_evaluate_latents_messages():
    x = np.zeros((50, 3))
    z = np.random.default_rng(6).normal(size=(50, 2))
    no_truth = _Data(x=x, z=None, c=None, source="d.npy")
    _raises(
        InvalidDataError, r"^d\.npy has no ground-truth latents 'z'; evaluating needs", evaluate_latents, z, no_truth
    )
    classes_only = _Data(x=x, z=None, c=np.arange(50) % 2, source="d.npz")
    _raises(
        InvalidDataError,
        r"^d\.npz has no ground-truth latents 'z' and no predicted labels were given; .*plus predicted cluster labels "
        r"\(--labels\)\. Without ground truth, `latentid experiment consistency` measures how far fits from other "
        r"seeds agree, and `latentid explain --run` which guarantee the fitted model has\.$",
        evaluate_latents,
        z,
        classes_only,
    )
    latents_only = _Data(x=x, z=z, c=None, source="d.npz")
    _raises(
        InvalidDataError,
        r"^predicted labels were given but d\.npz has no true classes 'c' to compare them with; use a data file with "
        r"'c' \(an \.npz key\) or drop --labels\.$",
        evaluate_latents,
        z,
        latents_only,
        labels=np.arange(50) % 2,
    )
    message = r"^z_hat \(the learned latents\) contains 1 NaN"
    _raises(InvalidDataError, message, evaluate_latents, NAN[:50], latents_only)
    _raises(
        InvalidDataError,
        r"^z_hat \(the learned latents\) has 49 rows but d\.npz has 50 samples; they must be the latents of the same "
        r"samples, "
        r"in the same order\.$",
        evaluate_latents,
        z[:-1],
        latents_only,
    )
    both = _Data(x=x, z=z, c=np.arange(50) % 2, source="d.npz")
    # Labels may be one column per facet (n, J); float columns are still refused, naming the column.
    _raises(
        InvalidDataError,
        r"^labels \(the predicted clusters\) column 0 must hold integer labels",
        evaluate_latents,
        z,
        both,
        labels=z,
    )
    _raises(
        InvalidDataError,
        r"^labels \(the predicted clusters\) must be \(n_samples,\) or \(n_samples, n_facets\)",
        evaluate_latents,
        z,
        both,
        labels=np.zeros((50, 2, 2), dtype=int),
    )
    _raises(
        InvalidDataError,
        r"^labels \(the predicted clusters\) has 49 entries but d\.npz has 50 samples; pass one label per sample, "
        r"in the data's order\.$",
        evaluate_latents,
        z,
        both,
        labels=np.arange(49) % 2,
    )
    # an object without z or c attributes at all
    _raises(InvalidDataError, r"^<data> has no ground-truth latents 'z'; ", evaluate_latents, z, SimpleNamespace(x=x))


# ---------------------------------------------------------------------------- prior_recovery

TRUE = {"weights": np.array([0.5, 0.3, 0.2]), "means": np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])}
TRUE["covariances"] = np.array([np.eye(2), 0.5 * np.eye(2), np.diag([0.2, 0.4])])


def test_prior_recovery_keys_and_diagonal_covariances():
    learned = {
        "weights": TRUE["weights"],
        "means": TRUE["means"],
        "covariances": np.array([[1, 1], [0.5, 0.5], [0.2, 0.4]]),
    }
    out = prior_recovery(TRUE, learned, (np.eye(2), np.zeros(2)))
    assert set(out) == {
        "mean_error",
        "mean_error_relative",
        "covariance_error",
        "weight_tv",
        "matching",
        "per_component_mean_error",
        "per_component_covariance_error",
        "n_components_true",
        "n_components_learned",
    }
    assert out["covariance_error"] == 0.0 and out["per_component_covariance_error"] == [0.0, 0.0, 0.0]
    assert out["per_component_mean_error"] == [0.0, 0.0, 0.0] and out["weight_tv"] == 0.0


def test_prior_recovery_counts_unmatched_weights_and_accepts_a_zero_weight():
    learned = {"weights": np.array([0.6, 0.4]), "means": TRUE["means"][:2], "covariances": TRUE["covariances"][:2]}
    out = prior_recovery(TRUE, learned, (np.eye(2), np.zeros(2)))
    # matched: |0.5 - 0.6| + |0.3 - 0.4|; unmatched true component 2 counts in full
    assert out["weight_tv"] == pytest.approx(0.5 * (0.1 + 0.1 + 0.2))
    reverse = prior_recovery(learned, TRUE, (np.eye(2), np.zeros(2)))
    assert reverse["weight_tv"] == pytest.approx(out["weight_tv"])
    zero = {**TRUE, "weights": np.array([0.7, 0.3, 0.0])}
    assert prior_recovery(zero, TRUE, (np.eye(2), np.zeros(2)))["weight_tv"] == pytest.approx(0.2)


def test_prior_recovery_normalises_weights_within_tolerance():
    nearly = {**TRUE, "weights": np.array([0.5, 0.3, 0.2]) * (1 + 5e-5)}
    out = prior_recovery(nearly, TRUE, (np.eye(2), np.zeros(2)))
    assert out["weight_tv"] == pytest.approx(0.0, abs=1e-12)
    off = {**TRUE, "weights": np.array([0.5, 0.3, 0.2]) * (1 + 2e-4)}
    _raises(
        InvalidDataError,
        r"^true_prior\.weights must be non-negative and sum to 1",
        prior_recovery,
        off,
        TRUE,
        (np.eye(2), np.zeros(2)),
    )
    negative = {**TRUE, "weights": np.array([0.6, 0.5, -0.1])}
    _raises(
        InvalidDataError,
        r"^learned_prior\.weights must be non-negative",
        prior_recovery,
        TRUE,
        negative,
        (np.eye(2), np.zeros(2)),
    )


def test_prior_recovery_messages_name_the_prior_and_its_part():
    pair = (np.eye(2), np.zeros(2))
    missing = {"weights": TRUE["weights"], "means": TRUE["means"]}
    _raises(InvalidDataError, r"^learned_prior has no 'covariances' key", prior_recovery, TRUE, missing, pair)
    _raises(
        InvalidDataError,
        r"^true_prior \(SimpleNamespace\) has no 'weights' attribute; pass a fitted mixture model, or an object or "
        r"dict with 'weights' \(K,\), "
        r"'means' \(K, m\) and 'covariances' \(K, m, m\)\.$",
        prior_recovery,
        SimpleNamespace(means=TRUE["means"]),
        TRUE,
        pair,
    )
    for part in ("weights", "means", "covariances"):
        bad = {**TRUE, part: np.where(np.ones_like(TRUE[part], dtype=bool), np.nan, 0.0)}
        if part == "weights":
            bad[part] = np.array([0.5, np.nan, 0.2])
        _raises(
            InvalidDataError,
            rf"^true_prior\.{part} contains NaN or infinite values\.$",
            prior_recovery,
            bad,
            TRUE,
            pair,
        )
    _raises(
        InvalidParameterError,
        r"^alignment A has shape \(2, 3\) but the priors need \(2, 2\) \(true latent dim, learned latent dim\); "
        r"fit the alignment on the same latents\.$",
        prior_recovery,
        TRUE,
        TRUE,
        (np.ones((2, 3)), np.zeros(2)),
    )


def test_prior_recovery_alignment_forms():
    points = np.random.default_rng(7).normal(size=(40, 2))
    aligned = AffineAlignment().fit(points, points * 2.0 + 1.0)  # z_true ~ (z_hat - 1) / 2
    learned = {**TRUE, "means": TRUE["means"] * 2.0 + 1.0, "covariances": 4.0 * TRUE["covariances"]}
    out = prior_recovery(TRUE, learned, aligned)
    assert out["mean_error"] == pytest.approx(0.0, abs=1e-9) and out["covariance_error"] == pytest.approx(0.0, abs=1e-9)
    as_list = prior_recovery(TRUE, learned, [[[0.5, 0.0], [0.0, 0.5]], [-0.5, -0.5]])  # nested lists work too
    assert as_list["mean_error"] == pytest.approx(0.0, abs=1e-12)
    only_coef = SimpleNamespace(coef_=np.eye(2))
    _raises(
        InvalidParameterError,
        r"^alignment must be a fitted AffineAlignment \(coef_, intercept_\) or a pair \(A, b\) with z_true ~ A z_hat "
        r"\+ b; got SimpleNamespace\.",
        prior_recovery,
        TRUE,
        TRUE,
        only_coef,
    )
    _raises(InvalidParameterError, r"got str\.", prior_recovery, TRUE, TRUE, "ab")
    _raises(
        InvalidParameterError,
        r"^alignment A must be \(m, m_hat\) and b \(m,\); got A \(2, 3\) and b \(3,\)\.$",
        prior_recovery,
        TRUE,
        TRUE,
        (np.ones((2, 3)), np.zeros(3)),
    )


def test_prior_recovery_relative_error_and_single_component():
    shifted = {**TRUE, "means": TRUE["means"] + np.array([0.3, 0.4])}
    out = prior_recovery(TRUE, shifted, (np.eye(2), np.zeros(2)))
    spread = np.sqrt(np.mean(np.sum((TRUE["means"] - TRUE["means"].mean(0)) ** 2, axis=1)))
    assert out["mean_error"] == pytest.approx(0.5) and out["mean_error_relative"] == pytest.approx(0.5 / spread)
    small = {
        "weights": np.ones(2) / 2,
        "means": np.array([[0.0, 0.0], [0.4, 0.0]]),
        "covariances": np.array([np.eye(2)] * 2),
    }
    moved = {**small, "means": small["means"] + np.array([0.0, 0.1])}
    assert prior_recovery(small, moved, (np.eye(2), np.zeros(2)))["mean_error_relative"] == pytest.approx(0.1 / 0.2)
    one = {"weights": np.ones(1), "means": np.zeros((1, 2)), "covariances": np.eye(2)[None]}
    assert np.isnan(prior_recovery(one, one, (np.eye(2), np.zeros(2)))["mean_error_relative"])


# ---------------------------------------------------------------------------- alignments, MCC, validation

ALIGNMENTS = [AffineAlignment, PermutationScalingAlignment, OrthogonalAlignment]


@pytest.mark.parametrize("cls", ALIGNMENTS, ids=lambda c: c.__name__)
def test_linear_alignment_errors_name_the_argument_and_the_class(cls):
    name = cls.__name__
    with pytest.raises(NotFittedError, match=rf"^This {name} is not fitted yet; call fit\(z_true, z_hat\) first\.$"):
        cls().transform(H)
    _raises(InvalidDataError, r"^z_true contains 1 NaN", cls().fit, NAN, H)
    _raises(InvalidDataError, r"^z_hat contains 1 NaN", cls().fit, Z, NAN)
    _raises(InvalidDataError, r"^z_hat has constant column\(s\) 1; ", cls().fit, Z, CONSTANT)
    _raises(InvalidDataError, r"^z_true has 60 rows but z_hat has 59; ", cls().fit, Z, H[:-1])
    fitted = cls().fit(Z, H)
    _raises(InvalidDataError, r"^z_hat contains 1 NaN", fitted.transform, NAN)
    _raises(
        InvalidDataError,
        rf"^z_hat has 3 columns but this {name} was fitted on 2; pass latents of the same model\.$",
        fitted.transform,
        H[:, [0, 1, 1]],
    )
    _raises(
        InvalidDataError,
        rf"^z_true has 1 columns but this {name} was fitted on 2; pass the same ground truth\.$",
        fitted.score,
        Z[:, :1],
        H,
    )
    _raises(InvalidDataError, r"^z_true contains 1 NaN", fitted.score, NAN, H)
    _raises(InvalidDataError, r"^z_true has constant column\(s\) 1; ", fitted.score, CONSTANT, H)
    _raises(InvalidDataError, r"^z_true has 59 rows but z_hat has 60; ", fitted.score, Z[:-1], H)
    # transform takes a single row, and constant columns (it only applies the map)
    np.testing.assert_allclose(fitted.transform(H[:1]), fitted.transform(H)[:1])
    np.testing.assert_allclose(
        fitted.transform(np.ones((3, 2))), np.tile(fitted.coef_.sum(1) + fitted.intercept_, (3, 1))
    )


@pytest.mark.parametrize("cls", ALIGNMENTS, ids=lambda c: c.__name__)
def test_alignments_recover_a_map_from_off_centre_data(cls):
    """Latents far from the origin: the fit must centre both sides before solving."""
    rng = np.random.default_rng(8)
    z = rng.normal(size=(100, 2)) + np.array([30.0, -20.0])
    if cls is AffineAlignment:
        a = np.array([[1.0, 0.5], [-0.3, 2.0]])
    elif cls is PermutationScalingAlignment:
        a = np.array([[0.0, 2.0], [-0.5, 0.0]])
    else:
        a = 1.5 * np.array([[0.6, -0.8], [0.8, 0.6]])
    h = (z - np.array([1.0, 2.0])) @ np.linalg.inv(a).T  # z = a h + (1, 2)
    fitted = cls().fit(z, h)
    np.testing.assert_allclose(fitted.coef_, a, atol=1e-8)
    np.testing.assert_allclose(fitted.intercept_, [1.0, 2.0], atol=1e-6)
    assert fitted.score(z, h) == pytest.approx(1.0)
    if cls is PermutationScalingAlignment:
        np.testing.assert_allclose(fitted.scale_, [2.0, -0.5])
        assert fitted.pairs_.tolist() == [[0, 1], [1, 0]]
    if cls is OrthogonalAlignment:
        assert fitted.scale_ == pytest.approx(1.5)


def test_mcc_errors_name_the_argument():
    _raises(InvalidDataError, r"^z_true contains 1 NaN", mcc, NAN, H)
    _raises(InvalidDataError, r"^z_hat contains 1 NaN", mcc, Z, NAN)
    _raises(InvalidDataError, r"^z_true has constant column\(s\) 1; ", mcc, CONSTANT, H)
    _raises(InvalidDataError, r"^z_true has 60 rows but z_hat has 59; ", mcc, Z, H[:-1])
    _raises(InvalidParameterError, r"^method must be one of pearson, spearman; got 'kendall'\.$", mcc, Z, H, "kendall")
    result = mcc(Z, H, "spearman")
    assert result.method == "spearman" and mcc(Z, H).method == "pearson"
    assert result.pairs == ((0, 0), (1, 1)) and result.n_samples == 60


def test_cross_correlation_of_integer_columns_and_a_constant_column():
    from latentid.metrics.correlation import cross_correlation

    a = np.array([[1, 2], [2, 2], [3, 2], [4, 2]])  # ints; the second column is constant
    b = np.array([[1, -1], [2, -2], [3, -3], [5, -5]])
    out = cross_correlation(a, b)
    assert out.dtype == np.float64
    assert out[0, 0] == pytest.approx(np.corrcoef(a[:, 0], b[:, 0])[0, 1])
    assert out[0, 1] == pytest.approx(-out[0, 0])
    np.testing.assert_array_equal(out[1], [0.0, 0.0])
    exact = cross_correlation(b, -b)  # perfect anti-correlation: exactly -1 after clipping
    assert exact.min() >= -1.0 and exact[0, 0] == pytest.approx(-1.0)
    assert cross_correlation(b, b).max() <= 1.0
    unit = cross_correlation(np.array([[0.0], [1.0], [2.0]]), np.array([[0.0], [1.0], [2.0]]))
    assert unit[0, 0] == pytest.approx(1.0)  # a column of norm exactly 1 is scaled, not zeroed


def test_check_not_constant_lists_at_most_five_columns():
    from latentid.metrics._validation import check_not_constant

    many = np.column_stack([np.arange(4.0)] + [np.ones(4)] * 7)
    _raises(
        InvalidDataError,
        r"^z has constant column\(s\) 1, 2, 3, 4, 5, \.\.\.; correlations and R\^2 are undefined for a constant\. "
        r"Drop those columns \(or use more samples\)\.$",
        check_not_constant,
        many,
        "z",
    )
    five = np.column_stack([np.arange(4.0)] + [np.ones(4)] * 5)
    _raises(InvalidDataError, r"^z has constant column\(s\) 1, 2, 3, 4, 5; ", check_not_constant, five, "z")


@pytest.mark.parametrize("split", [0.0, 1.0, 1.5, -0.2])
def test_check_split_is_strictly_inside_the_unit_interval(split):
    from latentid.metrics._validation import check_split

    _raises(
        InvalidParameterError,
        rf"^split must be strictly between 0 and 1 .*; got {split}\. Try 0\.5\.$",
        check_split,
        split,
    )


def test_split_indices_boundaries():
    assert [len(p) for p in split_indices(4, 0.5, 0)] == [2, 2]
    assert [len(p) for p in split_indices(10, 0.8, 0)] == [8, 2]
    assert [len(p) for p in split_indices(10, 0.2, 0)] == [2, 8]
    _raises(
        InvalidParameterError,
        r"^split=0\.9 leaves 9 fit and 1 held-out samples of 10; both parts need at least 2\. Use a split nearer 0\.5 "
        r"or more samples\.$",
        split_indices,
        10,
        0.9,
        0,
    )
    _raises(InvalidParameterError, r"^split=0\.1 leaves 1 fit and 9 held-out", split_indices, 10, 0.1, 0)


def test_same_rows_message_counts_rows_not_columns():
    from latentid.metrics._validation import check_same_rows

    _raises(
        InvalidDataError,
        r"^a has 5 rows but b has 4; they must hold the same samples in the same order\.$",
        check_same_rows,
        np.zeros((5, 2)),
        np.zeros((4, 3)),
        "a",
        "b",
    )


def test_check_latents_names_itself_and_returns_float64():
    from latentid.metrics._validation import check_latents

    out = check_latents(np.arange(8).reshape(4, 2), "zz")
    assert out.dtype == np.float64
    _raises(
        InvalidDataError,
        r"^zz needs at least 4 samples; got 3 samples\.$",
        check_latents,
        np.arange(6.0).reshape(3, 2),
        "zz",
    )


def test_cca_fit_errors_and_centred_variates():
    _raises(InvalidDataError, r"^z_true contains 1 NaN", CCAAlignment().fit, NAN, H)
    _raises(InvalidDataError, r"^z_hat contains 1 NaN", CCAAlignment().fit, Z, NAN)
    _raises(InvalidDataError, r"^z_true has 60 rows but z_hat has 59; ", CCAAlignment().fit, Z, H[:-1])
    u, v = CCAAlignment().fit(Z + 5.0, H - 3.0).transform(Z + 5.0, H - 3.0)
    np.testing.assert_allclose(u.mean(0), 0.0, atol=1e-10)
    np.testing.assert_allclose(v.mean(0), 0.0, atol=1e-10)


def test_float32_labels_and_six_constant_columns():
    from latentid.metrics._validation import check_not_constant

    out = check_labels(np.array([0.0, 2.0, 1.0, 2.0], dtype=np.float32), "labels")
    assert out.dtype == np.int64 and out.tolist() == [0, 2, 1, 2]
    six = np.column_stack([np.arange(4.0)] + [np.ones(4)] * 6)
    _raises(InvalidDataError, r"^z has constant column\(s\) 1, 2, 3, 4, 5, \.\.\.; ", check_not_constant, six, "z")


def test_every_key_evaluate_emits_says_where_it_is_scored():
    from latentid.metrics.facets import facet_affine_r2, facet_cluster_report
    from latentid.metrics.report import METRIC_DESCRIPTIONS, metric_description

    rng = np.random.default_rng(6)
    z = rng.normal(size=(120, 3))
    classes = np.column_stack([np.arange(120) % 3, np.arange(120) % 2])
    keys = set(evaluate_latents(z, _Data(x=z, z=z, c=classes[:, 0]), labels=classes[:, 0]))
    keys |= set(facet_affine_r2(z, z, [slice(0, 2), slice(2, 3)], 0.5, 0))
    keys |= set(facet_cluster_report(classes, classes, split=0.5, seed=0))
    keys |= {"true_log_likelihood", "true_log_likelihood_se", "elbo", "iw_bound", "iw_samples", "likelihood_gap"}
    keys -= {"source", "scored_on", "split_note", "cluster_scored_on"}  # prose, not numbers
    for key in keys:
        what, where = metric_description(key)
        assert what and where, key
    # Likelihood keys and counts use every sample; the alignment-based and clustering scores the held-out split.
    for key in ("true_log_likelihood", "elbo", "iw_bound", "likelihood_gap", "amortisation_gap", "n_clusters"):
        assert METRIC_DESCRIPTIONS[key][1] == "all samples", key
    for key in ("affine_r2", "mcc_strong", "cluster_acc", "nmi", "ari", "facet0_affine_r2", "facet1_cluster_acc"):
        assert metric_description(key)[1].startswith("held-out"), key


def test_arrange_result_keeps_prose_apart_from_numbers():
    from latentid.metrics.report import arrange_result

    rng = np.random.default_rng(7)
    z = rng.normal(size=(100, 2))
    c = (z[:, 0] > 0).astype(np.int64)
    flat = evaluate_latents(z + 0.1 * rng.normal(size=(100, 2)), _Data(x=z, z=z, c=c, source="d.npz"), labels=c)
    flat["likelihood_gap"] = 0.5
    out = arrange_result(flat)
    assert list(out) == ["split", "settings", "metrics", "scored_on", "notes"]
    assert out["split"] == {"share": 0.5, "seed": 0, "n_fit": 50, "n_eval": 50}
    assert out["settings"] == {"cca_components": 2, "latent_dim_true": 2, "latent_dim_learned": 2}
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in out["metrics"].values())
    assert list(out["metrics"])[:2] == ["affine_r2", "mcc_weak"] and out["metrics"]["likelihood_gap"] == 0.5
    assert out["scored_on"]["likelihood_gap"] == "all samples" and out["scored_on"]["n_classes"] == "all samples"
    assert out["scored_on"]["cluster_acc"] == "held-out; fit on fit split"
    assert out["notes"] == [flat["split_note"]] and "likelihood keys use every sample" in out["notes"][0]


def test_a_collapsed_column_counts_0_in_the_cross_run_cca_as_in_mcc_strong():
    """A run that lost a dimension must not look more consistent by CCA than one that kept both."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=(400, 2))
    b = a + 0.3 * rng.normal(size=(400, 2))
    collapsed = b.copy()
    collapsed[:, 1] = 0.0
    kept, lost = consistency(a, b), consistency(a, collapsed)
    assert lost["cca_components"] == 1 and lost["mcc_cca"] < kept["mcc_cca"]
    assert lost["mcc_cca"] == pytest.approx(consistency(a[:, :1], b[:, :1])["mcc_cca"] / 2, abs=0.01)
    assert consistency(collapsed, a)["mcc_cca"] == pytest.approx(lost["mcc_cca"])


def test_evaluate_latents_warns_of_a_collapsed_column_at_the_callers_line():
    """Its warning named metrics/report.py (a fixed stacklevel), so a filter by the user's module missed it."""
    from latentid.data.synthetic import SyntheticSpec
    from latentid.metrics import evaluate_latents

    data = SyntheticSpec.create(latent_dim=2, obs_dim=4, depth=2, seed=0).build().sample(200, random_state=0)
    z_hat = np.column_stack([data.z[:, 0], np.zeros(200)])
    with pytest.warns(LatentIDWarning, match="collapsed") as caught:
        evaluate_latents(z_hat, data)
    assert caught[0].filename == __file__
