"""MCC: known answers, agreement with scipy, dimensions that differ, and bad input."""

from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from latentid.errors import InvalidDataError, InvalidParameterError
from latentid.metrics import cross_correlation, mcc


def _rotation(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def test_permuted_scaled_shifted_latents_score_one_and_recover_the_permutation():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 4))
    perm = np.array([2, 0, 3, 1])
    z_hat = z[:, perm] * np.array([3.0, -0.5, 2.0, -7.0]) + 11.0
    result = mcc(z, z_hat)
    assert result.score == pytest.approx(1.0, abs=1e-12)
    # learned column j holds true coordinate perm[j]
    assert result.pairs == tuple((int(perm[j]), j) for j in np.argsort(perm))
    np.testing.assert_allclose(result.matched, 1.0, atol=1e-12)
    assert (result.latent_dim_true, result.latent_dim_learned, result.n_samples) == (4, 4, 500)


def test_45_degree_rotation_gives_one_over_sqrt2():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((20_000, 2))
    assert mcc(z, z @ _rotation(np.pi / 4).T).score == pytest.approx(1 / np.sqrt(2), abs=0.01)


def test_monotone_nonlinear_maps_keep_spearman_at_one_but_not_pearson():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((2000, 3))
    z_hat = np.column_stack([np.exp(2 * z[:, 0]), z[:, 1] ** 3, -np.exp(z[:, 2])])
    assert mcc(z, z_hat, "spearman").score == pytest.approx(1.0, abs=1e-12)
    assert mcc(z, z_hat, "pearson").score < 0.9


def test_independent_noise_scores_near_zero():
    rng = np.random.default_rng(3)
    assert mcc(rng.standard_normal((5000, 3)), rng.standard_normal((5000, 3))).score < 0.06


def test_pearson_and_spearman_match_scipy_entry_by_entry():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((40, 3))
    b = np.column_stack([a[:, 0] + rng.standard_normal(40), rng.standard_normal(40)])
    for method, reference in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
        corr = cross_correlation(a, b, method)
        expected = [[reference(a[:, i], b[:, j])[0] for j in range(2)] for i in range(3)]
        np.testing.assert_allclose(corr, expected, atol=1e-12)


def test_spearman_uses_inverse_permutation_ranks_with_ties_averaged():
    # pairs (1, 1), (2, 2), (2, 3), (3, 4) shuffled; ranks of a are (1, 2.5, 2.5, 4), so rho = 4.5 / sqrt(4.5 * 5)
    a = np.array([[2.0], [3.0], [1.0], [2.0]])
    b = np.array([[2.0], [4.0], [1.0], [3.0]])
    assert cross_correlation(a, b, "spearman")[0, 0] == pytest.approx(3 / np.sqrt(10), abs=1e-12)
    assert stats.spearmanr(a[:, 0], b[:, 0])[0] == pytest.approx(3 / np.sqrt(10), abs=1e-12)
    # the peer's bug: argsort instead of ranks gives 1 here
    assert stats.pearsonr(np.argsort(a[:, 0]), np.argsort(b[:, 0]))[0] == pytest.approx(1.0)


@settings(max_examples=25, deadline=None)
@given(arrays(np.int8, (12, 2), elements=st.integers(0, 3)), arrays(np.int8, (12, 2), elements=st.integers(-2, 2)))
def test_spearman_agrees_with_scipy_on_data_with_ties(a, b):
    a, b = a.astype(float), b.astype(float)
    assume(np.all(np.ptp(a, axis=0) > 0) and np.all(np.ptp(b, axis=0) > 0))
    expected = stats.spearmanr(a, b)[0][:2, 2:]  # the (a, b) block of scipy's joint matrix
    np.testing.assert_allclose(cross_correlation(a, b, "spearman"), expected, atol=1e-10)


@pytest.mark.parametrize("m_hat", [2, 5])
def test_different_dimensions_match_the_smaller_number_of_coordinates(m_hat):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((1000, 3))
    extra = rng.standard_normal((1000, max(m_hat - 3, 0)))
    z_hat = np.column_stack([z[:, ::-1], extra])[:, :m_hat]
    result = mcc(z, z_hat)
    assert len(result.pairs) == min(3, m_hat) == result.matched.shape[0]
    assert (result.latent_dim_true, result.latent_dim_learned) == (3, m_hat)
    assert result.score == pytest.approx(1.0, abs=1e-12)


def test_result_is_frozen_and_serialisable():
    rng = np.random.default_rng(6)
    result = mcc(rng.standard_normal((20, 2)), rng.standard_normal((20, 2)))
    with pytest.raises(FrozenInstanceError):
        result.score = 1.0
    assert set(result.to_dict()) == {
        "score",
        "method",
        "pairs",
        "matched",
        "latent_dim_true",
        "latent_dim_learned",
        "n_samples",
    }


@pytest.mark.parametrize("method", ["kendall", "randomized", "", None])
def test_unknown_method_is_refused(method):
    z = np.random.default_rng(7).standard_normal((10, 2))
    with pytest.raises(InvalidParameterError, match="pearson, spearman"):
        mcc(z, z, method)


def _good():
    return np.random.default_rng(8).standard_normal((10, 3))


@pytest.mark.parametrize(
    ("z_true", "z_hat", "match"),
    [
        (_good(), _good()[:9], "rows"),
        (np.where(np.eye(10, 3) > 0, np.nan, _good()), _good(), "NaN or infinite"),
        (_good(), np.where(np.eye(10, 3) > 0, np.inf, _good()), "NaN or infinite"),
        (_good()[:3], _good()[:3], "at least 4 samples"),
        (np.column_stack([_good()[:, :2], np.ones(10)]), _good(), "constant column"),
        (_good()[:, 0], _good(), "2-D"),
        (np.array([["a", "b"]] * 5), _good()[:5], "numeric"),
        (_good().astype(complex), _good(), "Complex data not supported"),
    ],
)
def test_bad_input_raises_a_one_line_invalid_data_error(z_true, z_hat, match):
    with pytest.raises(InvalidDataError, match=match) as info:
        mcc(z_true, z_hat)
    assert "\n" not in str(info.value)


def test_constant_column_error_names_the_column():
    z_hat = _good()
    z_hat[:, 2] = 4.0
    with pytest.raises(InvalidDataError, match=r"z_hat has constant column\(s\) 2"):
        mcc(_good(), z_hat)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_mcc_of_latents_at_extreme_scales_is_that_of_the_latents(scale):
    """Summing squares of 1e300 overflowed and of 1e-300 underflowed: the columns looked constant, MCC 0."""
    z = np.random.default_rng(0).normal(size=(100, 2))
    assert mcc(z * scale, z).score == pytest.approx(1.0)
    assert mcc(z * scale, z, method="spearman").score == pytest.approx(1.0)


def test_cross_correlation_checks_what_it_is_given():
    """It is public (metrics.__all__) but read anything: a NaN gave a NaN matrix, rows that differ in number a
    numpy shape error, a tensor in a graph torch's RuntimeError."""
    import torch

    from latentid.errors import InvalidDataError
    from latentid.metrics import cross_correlation

    a = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(InvalidDataError, match="NaN"):
        cross_correlation(np.where(a > 1.5, np.nan, a), a)
    with pytest.raises(InvalidDataError, match="rows"):
        cross_correlation(a, a[:20])
    in_graph = cross_correlation(torch.tensor(a, requires_grad=True), a)
    np.testing.assert_allclose(np.diag(in_graph), 1.0)
    assert cross_correlation(np.column_stack([a[:, 0], np.ones(30)]), a)[1].tolist() == [0.0, 0.0]


def test_prior_recovery_refuses_an_alignment_that_is_not_finite():
    from latentid.errors import InvalidParameterError
    from latentid.metrics import prior_recovery

    prior = {"weights": np.full(2, 0.5), "means": np.array([[0.0, 0.0], [2.0, 0.0]]), "covariances": np.ones((2, 2))}
    with pytest.raises(InvalidParameterError, match="finite"):
        prior_recovery(prior, prior, (np.full((2, 2), np.nan), np.zeros(2)))
