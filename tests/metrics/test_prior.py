"""Prior recovery through an affine alignment: exact cases, known errors, K that differ, bad input."""

from types import SimpleNamespace

import numpy as np
import pytest

from latentid.errors import InvalidDataError, InvalidParameterError
from latentid.metrics import AffineAlignment, prior_recovery

A = np.array([[2.0, 0.5], [-1.0, 1.5]])
B = np.array([3.0, -1.0])


def _true_prior():
    covs = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 0.4]], [[2.0, -0.5], [-0.5, 1.0]]])
    return SimpleNamespace(
        weights=np.array([0.5, 0.3, 0.2]), means=np.array([[0.0, 0.0], [4.0, 1.0], [-3.0, 2.0]]), covariances=covs
    )


def _pull_back(prior, order):
    """The prior in learned coordinates z_hat = A^-1 (z - b), components reordered by ``order``."""
    inv = np.linalg.inv(A)
    return {
        "weights": prior.weights[order],
        "means": ((prior.means - B) @ inv.T)[order],
        "covariances": np.einsum("ij,kjl,ml->kim", inv, prior.covariances, inv)[order],
    }


def test_exact_recovery_through_a_known_affine_map():
    true = _true_prior()
    order = np.array([2, 0, 1])
    report = prior_recovery(true, _pull_back(true, order), (A, B))
    assert report["mean_error"] == pytest.approx(0.0, abs=1e-12)
    assert report["mean_error_relative"] == pytest.approx(0.0, abs=1e-12)
    assert report["covariance_error"] == pytest.approx(0.0, abs=1e-12)
    assert report["weight_tv"] == pytest.approx(0.0, abs=1e-12)
    assert report["matching"] == [[0, 1], [1, 2], [2, 0]]
    assert (report["n_components_true"], report["n_components_learned"]) == (3, 3)


def test_exact_recovery_with_an_alignment_fitted_on_samples():
    true = _true_prior()
    rng = np.random.default_rng(0)
    c = rng.choice(3, size=600, p=true.weights)
    z = true.means[c] + np.einsum("nij,nj->ni", np.linalg.cholesky(true.covariances)[c], rng.standard_normal((600, 2)))
    z_hat = (z - B) @ np.linalg.inv(A).T
    align = AffineAlignment().fit(z, z_hat)
    report = prior_recovery(true, _pull_back(true, np.arange(3)), align)
    assert report["mean_error"] < 1e-9 and report["covariance_error"] < 1e-9


def test_known_errors_are_reported():
    true = _true_prior()
    learned = _pull_back(true, np.arange(3))
    shift = np.array([0.3, -0.4])  # length 0.5 after carrying through A
    learned["means"] = learned["means"] + np.linalg.solve(A, shift)
    learned["covariances"] = 2 * learned["covariances"]
    learned["weights"] = np.array([0.4, 0.4, 0.2])
    report = prior_recovery(true, learned, (A, B))
    spread = np.sqrt(np.mean(np.sum((true.means - true.means.mean(axis=0)) ** 2, axis=1)))
    assert report["mean_error"] == pytest.approx(0.5)
    assert report["mean_error_relative"] == pytest.approx(0.5 / spread)
    assert report["covariance_error"] == pytest.approx(1.0)
    assert report["weight_tv"] == pytest.approx(0.1)


def test_different_numbers_of_components():
    true = _true_prior()
    learned = _pull_back(true, np.array([1, 0]))
    learned["weights"] = np.array([0.3, 0.7])  # the third true component (weight 0.2) is missing
    report = prior_recovery(true, learned, (A, B))
    assert report["matching"] == [[0, 1], [1, 0]]
    assert report["mean_error"] == pytest.approx(0.0, abs=1e-12)
    # matched |0.5 - 0.7| + |0.3 - 0.3|, plus the unmatched 0.2, halved
    assert report["weight_tv"] == pytest.approx(0.2)
    assert (report["n_components_true"], report["n_components_learned"]) == (3, 2)


def test_diagonal_covariances_and_a_single_component():
    true = {"weights": [1.0], "means": [[1.0, 2.0]], "covariances": [[1.0, 4.0]]}
    learned = {"weights": [1.0], "means": [[1.0, 2.0]], "covariances": [[[1.0, 0.0], [0.0, 4.0]]]}
    report = prior_recovery(true, learned, (np.eye(2), np.zeros(2)))
    assert report["covariance_error"] == pytest.approx(0.0)
    assert np.isnan(report["mean_error_relative"])  # no spread among one mean


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"weights": [0.5, 0.3, 0.3]}, "sum to 1"),
        ({"weights": [0.5, 0.5]}, "weights must have shape"),
        ({"means": np.zeros(3)}, "means must have shape"),
        ({"covariances": np.zeros((3, 2, 3))}, "covariances must have shape"),
        ({"means": np.full((3, 2), np.nan)}, "NaN"),
        ({"means": "abc"}, "numeric"),
    ],
)
def test_bad_priors_raise(change, match):
    true = _true_prior()
    learned = {**_pull_back(true, np.arange(3)), **change}
    with pytest.raises(InvalidDataError, match=match):
        prior_recovery(true, learned, (A, B))


def test_a_fitted_estimator_is_read_by_its_trailing_underscore_attributes():
    """A fitted VaDE or GMM exposes weights_, means_, covariances_: passed as it is, it is read as its prior."""
    true = _true_prior()
    pulled = _pull_back(true, np.arange(3))
    fitted = SimpleNamespace(**{f"{key}_": value for key, value in pulled.items()})
    assert prior_recovery(true, fitted, (A, B)) == prior_recovery(true, pulled, (A, B))


def test_missing_fields_raise():
    with pytest.raises(InvalidDataError, match="covariances"):
        prior_recovery({"weights": [1.0], "means": [[0.0]]}, _true_prior(), (A, B))
    with pytest.raises(InvalidDataError, match="attribute"):
        prior_recovery(object(), _true_prior(), (A, B))


@pytest.mark.parametrize("alignment", [np.eye(2), (np.eye(3), np.zeros(3)), (np.eye(2), np.zeros(3)), "affine"])
def test_bad_alignments_raise(alignment):
    with pytest.raises(InvalidParameterError, match="alignment"):
        prior_recovery(_true_prior(), _true_prior(), alignment)
