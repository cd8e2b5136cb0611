"""Per-level alignments: exact recovery inside each class, references, dimensions, fit/score contract."""

import numpy as np
import pytest
from scipy.stats import ortho_group
from sklearn.cross_decomposition import CCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from latentid.errors import InvalidDataError, InvalidParameterError, NotFittedError
from latentid.metrics import (
    AffineAlignment,
    CCAAlignment,
    OrthogonalAlignment,
    PermutationScalingAlignment,
    identifiability_report,
)


@pytest.fixture
def z():
    return np.random.default_rng(0).uniform(-1, 1, size=(400, 3))


def test_affine_recovers_an_invertible_affine_map(z):
    m = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [3.0, 0.0, 1.0]])
    z_hat = z @ m.T + np.array([1.0, -2.0, 5.0])
    align = AffineAlignment().fit(z, z_hat)
    np.testing.assert_allclose(align.coef_, np.linalg.inv(m), atol=1e-10)
    np.testing.assert_allclose(align.transform(z_hat), z, atol=1e-10)
    assert align.score(z, z_hat) == pytest.approx(1.0, abs=1e-12)


def test_affine_r2_matches_sklearn_linear_regression(z):
    rng = np.random.default_rng(1)
    z_hat = np.tanh(z @ rng.standard_normal((3, 4))) + 0.1 * rng.standard_normal((400, 4))
    fit, held = slice(0, 200), slice(200, None)
    reg = LinearRegression().fit(z_hat[fit], z[fit])
    expected = r2_score(z[held], reg.predict(z_hat[held]))
    assert AffineAlignment().fit(z[fit], z_hat[fit]).score(z[held], z_hat[held]) == pytest.approx(expected, abs=1e-10)


def test_permutation_scaling_recovers_pairs_and_scales(z):
    z_hat = np.column_stack([-2 * z[:, 2] + 1, 0.5 * z[:, 0], 4 * z[:, 1] - 3])
    align = PermutationScalingAlignment().fit(z, z_hat)
    np.testing.assert_array_equal(align.pairs_, [[0, 1], [1, 2], [2, 0]])
    np.testing.assert_allclose(align.scale_, [2.0, 0.25, -0.5], atol=1e-10)
    assert align.score(z, z_hat) == pytest.approx(1.0, abs=1e-12)


def test_permutation_scaling_with_fewer_learned_coordinates_predicts_the_mean_for_the_rest(z):
    align = PermutationScalingAlignment().fit(z, 3 * z[:, [1]])
    assert align.coef_.shape == (3, 1)
    np.testing.assert_allclose(align.transform(3 * z[:, [1]])[:, [0, 2]], np.tile(z[:, [0, 2]].mean(axis=0), (400, 1)))
    assert align.score(z, 3 * z[:, [1]]) == pytest.approx(1 / 3, abs=1e-10)


def test_orthogonal_recovers_rotation_global_scale_and_shift(z):
    q = ortho_group.rvs(3, random_state=2)
    z_hat = 2.5 * z @ q.T - 4.0
    align = OrthogonalAlignment().fit(z, z_hat)
    assert align.scale_ == pytest.approx(1 / 2.5)
    np.testing.assert_allclose(align.orthogonal_.T @ align.orthogonal_, np.eye(3), atol=1e-12)
    assert align.score(z, z_hat) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("m_hat", [2, 5])
def test_orthogonal_with_other_dimensions_is_semi_orthogonal(z, m_hat):
    embed = ortho_group.rvs(5, random_state=3)[:, :3]  # (5, 3), orthonormal columns
    z_hat = (z @ embed.T)[:, :m_hat] if m_hat == 5 else z[:, :m_hat]
    align = OrthogonalAlignment().fit(z, z_hat)
    w = align.orthogonal_
    assert w.shape == (m_hat, 3)
    small = min(w.shape)
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    if m_hat == 5:  # an isometric embedding is undone exactly
        assert align.score(z, z_hat) == pytest.approx(1.0, abs=1e-12)


def test_cca_matches_sklearn_canonical_correlations(z):
    rng = np.random.default_rng(4)
    z_hat = np.tanh(z @ rng.standard_normal((3, 3))) + 0.3 * rng.standard_normal((400, 3))
    ours = CCAAlignment(n_components=2).fit(z, z_hat)
    u, v = CCA(n_components=2, max_iter=2000, tol=1e-12).fit(z, z_hat).transform(z, z_hat)
    theirs = [abs(np.corrcoef(u[:, i], v[:, i])[0, 1]) for i in range(2)]
    np.testing.assert_allclose(ours.correlations_, theirs, atol=1e-6)
    assert ours.n_components_ == 2
    # the in-sample score is the mean canonical correlation
    assert ours.score(z, z_hat) == pytest.approx(ours.correlations_.mean(), abs=1e-10)


def test_cca_is_symmetric_and_defaults_to_the_smaller_dimension(z):
    z_hat = np.column_stack([z[:, :2] ** 3, np.random.default_rng(5).standard_normal((400, 3))])
    ab, ba = CCAAlignment().fit(z, z_hat), CCAAlignment().fit(z_hat, z)
    assert ab.n_components_ == ba.n_components_ == 3
    np.testing.assert_allclose(ab.correlations_, ba.correlations_, atol=1e-10)


@pytest.mark.parametrize("k", [0, 4, 1.5, True])
def test_cca_refuses_bad_component_counts(z, k):
    with pytest.raises(InvalidParameterError, match="n_components"):
        CCAAlignment(n_components=k).fit(z, z)


@pytest.mark.parametrize("cls", [AffineAlignment, PermutationScalingAlignment, OrthogonalAlignment, CCAAlignment])
def test_unfitted_alignments_say_so(cls, z):
    with pytest.raises(NotFittedError, match="fit"):
        cls().score(z, z)


@pytest.mark.parametrize("cls", [AffineAlignment, PermutationScalingAlignment, OrthogonalAlignment])
def test_transform_refuses_latents_of_another_width(cls, z):
    align = cls().fit(z, z)
    with pytest.raises(InvalidDataError, match="fitted on 3"):
        align.transform(z[:, :2])
    with pytest.raises(InvalidDataError, match="fitted on 3"):
        align.score(z[:, :2], z)


def test_overfitting_shows_out_of_sample():
    rng = np.random.default_rng(6)
    z_true, noise = rng.standard_normal((200, 2)), rng.standard_normal((200, 40))
    fit, held = slice(0, 100), slice(100, None)
    align = AffineAlignment().fit(z_true[fit], noise[fit])
    assert align.score(z_true[fit], noise[fit]) > 0.3  # 41 parameters per coordinate on 100 samples
    assert align.score(z_true[held], noise[held]) < 0.05


def test_reprs_say_the_class_and_what_was_fitted(z):
    wider = np.c_[z, z[:, :1] ** 2]
    assert repr(AffineAlignment()) == "AffineAlignment()"
    assert repr(AffineAlignment().fit(z, wider)) == f"AffineAlignment(fitted: m_hat={z.shape[1] + 1} -> m={z.shape[1]})"
    assert repr(CCAAlignment(2)) == "CCAAlignment(n_components=2)"
    assert repr(CCAAlignment().fit(z, z)).startswith(f"CCAAlignment(n_components=None; fitted: {z.shape[1]} pairs")


def test_cca_keeps_no_more_pairs_than_the_collinear_side_spans():
    """Three learned columns that are one direction span one pair; the two more min(m, m_hat) would keep
    correlated by chance (0.006 and 0.217 held out), and mcc_cca read 0.41 where 1 of 3 directions is 1/3."""
    z = np.random.default_rng(1).normal(size=(500, 3))
    one_direction = np.c_[z[:, 0], 2 * z[:, 0], -z[:, 0]]
    cca = CCAAlignment().fit(z, one_direction)
    assert cca.n_components_ == 1 and cca.correlations_ == pytest.approx([1.0])
    report = identifiability_report(z, one_direction)
    assert report["cca_components"] == 1 and report["mcc_cca"] == pytest.approx(1 / 3)
