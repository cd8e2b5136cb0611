"""The axis margin: how much likelihood separates a level-3 prior's axes from a 45-degree mix of two of them."""

import numpy as np
import pytest

from latentid.theory import AXIS_CHECK, AXIS_MARGIN_WARN, DecoderDescription, PriorDescription, assess, axis_margin


def rotated_loss(weights, variances, i, j, angle):
    """Expected KL per sample from each rotated component to its best diagonal model, computed directly."""
    m = variances.shape[1]
    rot = np.eye(m)
    rot[np.ix_([i, j], [i, j])] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    total = 0.0
    for w, v in zip(weights, variances, strict=True):
        cov = rot @ np.diag(v) @ rot.T
        total += w * 0.5 * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1])
    return total


def test_margin_matches_the_rotated_components_kl_at_its_largest_angle():
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(6))
    variances = rng.uniform(0.1, 0.5, size=(6, 3))
    margin, (i, j) = axis_margin(weights, variances)
    pairs = {(a, b): rotated_loss(weights, variances, a, b, np.pi / 4) for a in range(3) for b in range(a + 1, 3)}
    assert (i, j) == min(pairs, key=pairs.get)
    assert margin == pytest.approx(pairs[(i, j)], rel=1e-10)
    angles = np.linspace(0, np.pi / 2, 91)
    assert max(rotated_loss(weights, variances, i, j, a) for a in angles) == pytest.approx(margin, rel=1e-10)


def test_one_component_by_hand_and_equal_variances_pin_nothing():
    margin, pair = axis_margin(np.array([1.0]), np.array([[0.1, 0.4]]))
    assert margin == pytest.approx(np.log(0.25 / 0.2)) and pair == (0, 1)
    # Axes 1 and 2 have equal variances in every component: rotating them changes nothing.
    equal = np.array([[0.2, 0.3, 0.3], [0.5, 0.1, 0.1]])
    assert axis_margin(np.array([0.5, 0.5]), equal) == (0.0, (1, 2))


def level3(variances):
    k, m = variances.shape
    rng = np.random.default_rng(1)
    prior = PriorDescription(
        weights=np.full(k, 1.0 / k),
        means=rng.standard_normal((k, m)),
        covariances=np.stack([np.diag(v) for v in variances]),
    )
    decoder = DecoderDescription(widths=[m, 10, 10], activation="leaky_relu")
    return assess(prior, decoder)


def test_a_level3_prior_with_little_margin_is_passed_with_a_warning():
    rng = np.random.default_rng(2)
    weak = level3(rng.uniform(0.3, 0.36, size=(6, 2)))
    strong = level3(np.array([[0.02, 1.0], [1.0, 0.02]] * 3) * rng.uniform(0.9, 1.1, size=(6, 2)))
    assert weak.level == strong.level == "3"
    weak_check = next(c for c in weak.checks if c.name == AXIS_CHECK)
    strong_check = next(c for c in strong.checks if c.name == AXIS_CHECK)
    assert weak_check.passed and weak_check.figures["axis_margin_nats"] < AXIS_MARGIN_WARN
    assert weak_check.warning is not None and "strong MCC" in weak_check.warning
    assert strong_check.passed and strong_check.warning is None
    assert strong_check.figures["axis_margin_nats"] > 1.0 and strong_check.figures["weakest_axes"] == [0, 1]


def test_no_axis_check_where_level3_does_not_apply():
    rng = np.random.default_rng(3)
    too_few = level3(rng.uniform(0.1, 0.5, size=(3, 2)))  # 3 < 2m + 1 components
    assert too_few.level == "2" and all(c.name != AXIS_CHECK for c in too_few.checks)
    rotated = np.array([[0.3, 0.1], [0.1, 0.2]])  # full (non-diagonal) covariances: level 3 is not claimed
    full = assess(
        PriorDescription(
            weights=np.full(6, 1 / 6), means=rng.standard_normal((6, 2)), covariances=np.stack([rotated] * 6)
        ),
        DecoderDescription(widths=[2, 10, 10], activation="leaky_relu"),
    )
    assert full.level == "2" and all(c.name != AXIS_CHECK for c in full.checks)
