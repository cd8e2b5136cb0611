"""Each score is invariant under its own transformation class and not under the next larger one."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from latentid.metrics import consistency, identifiability_report

N, M = 300, 3
SETTINGS = settings(max_examples=25, deadline=None)
seeds = st.integers(0, 2**32 - 1)
scales = st.lists(st.floats(0.1, 10.0).flatmap(lambda s: st.sampled_from([s, -s])), min_size=M, max_size=M).map(
    np.array
)
shifts = st.lists(st.floats(-100.0, 100.0), min_size=M, max_size=M).map(np.array)
angles = st.floats(0.35, np.pi / 2 - 0.35)  # far from a permutation of the two coordinates


def _latents(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent uniform true latents and a noisy nonlinear learned version, neither score trivial."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1, 1, size=(N, M))
    z_hat = np.tanh(z @ (np.eye(M) + 0.5 * rng.standard_normal((M, M)))) + 0.1 * rng.standard_normal((N, M))
    return z, z_hat


def _plane_rotation(theta: float) -> np.ndarray:
    rot = np.eye(M)
    rot[:2, :2] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    return rot


def _same(a: dict, b: dict, keys) -> None:
    for key in keys:
        assert a[key] == pytest.approx(b[key], abs=1e-8), key


@SETTINGS
@given(seeds, st.permutations(range(M)), scales, shifts)
def test_strong_scores_are_invariant_under_permutation_scaling_and_shift(seed, perm, scale, shift):
    z, z_hat = _latents(seed)
    moved = z_hat[:, list(perm)] * scale + shift
    keys = ("mcc_strong", "mcc_spearman", "permutation_r2", "affine_r2", "mcc_weak", "mcc_cca")
    _same(identifiability_report(z, z_hat), identifiability_report(z, moved), keys)


@SETTINGS
@given(seeds, angles)
def test_strong_scores_are_not_invariant_under_rotation(seed, theta):
    z, _ = _latents(seed)
    report = identifiability_report(z, z @ _plane_rotation(theta).T)
    assert report["mcc_strong"] < 0.985 and report["permutation_r2"] < 0.97
    assert identifiability_report(z, z)["permutation_r2"] == pytest.approx(1.0)


@SETTINGS
@given(seeds, st.integers(0, 2**32 - 1), st.floats(0.1, 10.0), shifts)
def test_orthogonal_r2_is_invariant_under_orthogonal_maps_global_scale_and_shift(seed, q_seed, c, shift):
    z, z_hat = _latents(seed)
    q = ortho_group.rvs(M, random_state=q_seed)
    _same(identifiability_report(z, z_hat), identifiability_report(z, c * z_hat @ q + shift), ["orthogonal_r2"])


@SETTINGS
@given(seeds, angles)
def test_orthogonal_r2_sees_through_a_rotation_that_permutation_r2_cannot(seed, theta):
    z, _ = _latents(seed)
    report = identifiability_report(z, z @ _plane_rotation(theta).T)
    assert report["orthogonal_r2"] == pytest.approx(1.0, abs=1e-10)
    assert report["permutation_r2"] < 0.97


@SETTINGS
@given(seeds, st.integers(0, 2**32 - 1), st.lists(st.floats(0.2, 5.0), min_size=M, max_size=M), shifts)
def test_affine_scores_are_invariant_under_invertible_affine_maps(seed, q_seed, singular, shift):
    z, z_hat = _latents(seed)
    q1, q2 = ortho_group.rvs(M, random_state=q_seed, size=2)
    mix = q1 @ np.diag(singular) @ q2  # condition number at most 25
    keys = ("affine_r2", "mcc_weak", "mcc_cca")
    _same(identifiability_report(z, z_hat), identifiability_report(z, z_hat @ mix.T + shift), keys)


@SETTINGS
@given(seeds, st.lists(st.floats(0.2, 5.0), min_size=M, max_size=M).filter(lambda s: max(s) >= 2 * min(s)))
def test_orthogonal_r2_is_not_invariant_under_anisotropic_scaling(seed, singular):
    z, _ = _latents(seed)
    report = identifiability_report(z, z * np.array(singular))
    assert report["affine_r2"] == pytest.approx(1.0, abs=1e-10)
    assert report["orthogonal_r2"] < 0.97


@SETTINGS
@given(seeds, st.permutations(range(M)))
def test_spearman_mcc_is_invariant_under_strictly_monotone_maps(seed, perm):
    z, z_hat = _latents(seed)
    bent = np.column_stack([np.exp(3 * z_hat[:, 0]), z_hat[:, 1] ** 3, -np.arctan(5 * z_hat[:, 2])])[:, list(perm)]
    before, after = identifiability_report(z, z_hat), identifiability_report(z, bent)
    assert after["mcc_spearman"] == pytest.approx(before["mcc_spearman"], abs=1e-10)


@SETTINGS
@given(seeds, st.integers(0, 1000))
def test_consistency_is_symmetric(seed, split_seed):
    a, b = _latents(seed)
    ab, ba = consistency(a, b, seed=split_seed), consistency(b, a, seed=split_seed)
    _same(ab, ba, ("mcc_strong", "mcc_spearman", "mcc_weak", "affine_r2", "mcc_cca"))


@pytest.mark.parametrize("scale", [1e200, 1e-300])
def test_every_score_holds_at_the_edges_of_float64(scale):
    """Latents of 1e200 overflowed in the alignments' Gram matrices, and of 1e-300 underflowed (ValueError)."""
    z, z_hat = _latents(0)
    plain = identifiability_report(z, z_hat)
    for scaled in (identifiability_report(z * scale, z_hat * scale), identifiability_report(z, z_hat * scale)):
        assert scaled.keys() == plain.keys()
        for key, value in plain.items():
            assert scaled[key] == pytest.approx(value, abs=1e-9), key
    assert consistency(z * scale, z_hat)["mcc_strong"] == pytest.approx(consistency(z, z_hat)["mcc_strong"])
