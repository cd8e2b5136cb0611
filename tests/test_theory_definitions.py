"""The theory's checks against their definitions on priors and decoders whose answer is known by hand. A mutation
study found these unguarded: a Bhattacharyya distance twice too large, a rank test one short, a square decoder
refused, a narrow first hidden layer unseen, the wrong percentile of the Jacobian's spread all passed the suite."""

import numpy as np
import pytest

from latentid.theory import DecoderDescription, PriorDescription, assess, recoverability

INJECTIVE = DecoderDescription([2, 3], "leaky-relu", weights=[np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])])


def _check(verdict, start: str):
    return next(c for c in verdict.checks if c.name.startswith(start))


def test_the_bhattacharyya_distance_of_two_unit_gaussians_is_an_eighth_of_their_squared_distance():
    prior = PriorDescription(np.array([0.5, 0.5]), np.array([[0.0, 0.0], [0.3, 0.0]]), np.stack([np.eye(2)] * 2))
    check = _check(assess(prior, INJECTIVE), "components pairwise distinct")
    assert check.figures["bhattacharyya_distance"] == pytest.approx(0.3**2 / 8)  # 0.01125, above the 0.01 warning
    assert check.warning is None
    closer = PriorDescription(prior.weights, np.array([[0.0, 0.0], [0.25, 0.0]]), prior.covariances)
    assert "near duplicates" in _check(assess(closer, INJECTIVE), "components pairwise distinct").warning


def test_components_of_equal_variances_do_not_vary_enough_for_level_3():
    """Natural parameters (mu / s^2, -1 / (2 s^2)): with one variance shared by every component, the differences
    span the m mean directions only, rank m of the 2m level 3 needs."""
    rng = np.random.default_rng(0)
    means = rng.normal(size=(6, 2))
    same = PriorDescription(np.full(6, 1 / 6), means, np.stack([np.diag([0.3, 0.3])] * 6))
    check = _check(assess(same, INJECTIVE), "components vary enough")
    assert not check.passed and check.figures["rank"] == 2
    assert assess(same, INJECTIVE).level == "2"
    one_dim = PriorDescription(np.full(3, 1 / 3), np.array([[-1.0], [0.0], [1.5]]), np.full((3, 1, 1), 0.3))
    line = DecoderDescription([1, 2], "leaky-relu", weights=[np.array([[1.0], [2.0]])])
    check = _check(assess(one_dim, line), "components vary enough")  # rank 1 of 2: one short is not enough
    assert not check.passed and check.figures["rank"] == 1
    varied = PriorDescription(same.weights, means, np.stack([np.diag(rng.uniform(0.1, 0.5, 2)) for _ in range(6)]))
    assert _check(assess(varied, INJECTIVE), "components vary enough").figures["rank"] == 4
    assert assess(varied, INJECTIVE).level == "3"


def test_a_square_decoder_is_in_the_theory_and_a_narrow_first_hidden_layer_is_not():
    prior = PriorDescription(np.full(4, 0.25), np.random.default_rng(1).normal(size=(4, 3)), np.stack([np.eye(3)] * 4))
    square = DecoderDescription([3, 3, 3], "leaky-relu")  # n = m: injective leaky-ReLU layers
    assert _check(assess(prior, square), "data dimension >= latent dimension").passed
    assert assess(prior, square).level == "2"
    narrow_first = DecoderDescription([3, 2, 5, 5], "leaky-relu")  # its first hidden layer has 2 < m units
    assert _check(assess(prior, narrow_first), "no layer narrower than m").passed is False
    assert assess(prior, narrow_first).level == "none"


def test_recoverability_reads_the_tenth_percentile_of_the_smallest_singular_value():
    """Jacobians whose smallest singular values run 0.01, 0.02, ..., 1.0 (100 points): the 10th percentile is
    0.1090 and the median 0.505 (numpy's linear interpolation)."""
    s = np.arange(1, 101) / 100
    jacobians = np.stack([np.diag([2.0, v]) for v in s])  # (100, 2, 2)
    check = recoverability(jacobians, noise=0.001, prior_std=1.0)
    assert check.figures["p10_min_singular_value"] == pytest.approx(np.percentile(s, 10))
    assert check.figures["median_min_singular_value"] == pytest.approx(0.505)
