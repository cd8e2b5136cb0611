"""identifiability_report, consistency and evaluate_latents: known answers, the split, bad input."""

import numpy as np
import pytest

from latentid.data.io import Dataset
from latentid.errors import InvalidDataError, InvalidParameterError
from latentid.metrics import consistency, evaluate_latents, identifiability_report, split_indices

REPORT_KEYS = {
    "affine_r2",
    "mcc_weak",
    "mcc_strong",
    "mcc_spearman",
    "permutation_r2",
    "orthogonal_r2",
    "mcc_cca",
    "cca_components",
    "latent_dim_true",
    "latent_dim_learned",
    "n_fit",
    "n_eval",
    "split",
    "seed",
    "scored_on",
    "split_note",
}


def _rotation(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def test_keys_split_sizes_and_reproducibility():
    rng = np.random.default_rng(0)
    z, z_hat = rng.standard_normal((101, 3)), rng.standard_normal((101, 4))
    report = identifiability_report(z, z_hat, split=0.3, seed=5)
    assert set(report) == REPORT_KEYS
    assert (report["n_fit"], report["n_eval"], report["scored_on"]) == (30, 71, "held-out")
    assert (report["latent_dim_true"], report["latent_dim_learned"], report["cca_components"]) == (3, 4, 3)
    assert identifiability_report(z, z_hat, split=0.3, seed=5) == report
    assert identifiability_report(z, z_hat, split=0.3, seed=6)["affine_r2"] != report["affine_r2"]


def test_split_indices_are_a_seeded_partition():
    fit, held = split_indices(10, 0.5, seed=3)
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(10))
    assert len(fit) == len(held) == 5
    np.testing.assert_array_equal(split_indices(10, 0.5, seed=3)[0], fit)


def test_permutation_and_scaling_of_the_truth_is_identified_at_every_level():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((1000, 3))
    z_hat = z[:, [2, 0, 1]] * np.array([2.0, -3.0, 0.5]) + 7.0
    report = identifiability_report(z, z_hat)
    for key in ("mcc_strong", "mcc_spearman", "affine_r2", "mcc_weak", "permutation_r2", "mcc_cca"):
        assert report[key] == pytest.approx(1.0, abs=1e-10), key
    assert report["orthogonal_r2"] < 0.9  # the scales differ per coordinate: not an orthogonal map


def test_45_degree_rotation():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((4000, 2))
    report = identifiability_report(z, 3 * z @ _rotation(np.pi / 4).T + 1)
    assert report["mcc_strong"] == pytest.approx(1 / np.sqrt(2), abs=0.02)
    assert report["affine_r2"] == pytest.approx(1.0, abs=1e-10)
    assert report["orthogonal_r2"] == pytest.approx(1.0, abs=1e-10)
    assert report["permutation_r2"] == pytest.approx(0.5, abs=0.05)


def test_monotone_maps_are_seen_by_spearman_only():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((2000, 2))
    report = identifiability_report(z, np.column_stack([np.exp(2 * z[:, 1]), z[:, 0] ** 3]))
    assert report["mcc_spearman"] == pytest.approx(1.0, abs=1e-12)
    assert report["mcc_strong"] < 0.9


def test_independent_noise_scores_near_zero():
    rng = np.random.default_rng(4)
    report = identifiability_report(rng.standard_normal((4000, 3)), rng.standard_normal((4000, 3)))
    for key in ("mcc_strong", "mcc_spearman", "mcc_weak", "mcc_cca"):
        assert abs(report[key]) < 0.08, key
    for key in ("affine_r2", "permutation_r2", "orthogonal_r2"):
        assert report[key] < 0.01, key


def test_an_overfitted_affine_alignment_is_caught_by_the_held_out_split():
    rng = np.random.default_rng(5)
    report = identifiability_report(rng.standard_normal((200, 2)), rng.standard_normal((200, 40)))
    assert report["affine_r2"] < 0.05  # in sample it would be about 0.4 (see test_alignment)


def test_consistency_of_identical_and_swapped_runs():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((600, 3))
    same = consistency(z, z[:, ::-1] * 2)
    assert same["mcc_strong"] == pytest.approx(1.0) and same["mcc_weak"] == pytest.approx(1.0)
    a, b = z, np.tanh(z @ rng.standard_normal((3, 4))) + 0.2 * rng.standard_normal((600, 4))
    ab, ba = consistency(a, b, seed=2), consistency(b, a, seed=2)
    for key in ("mcc_strong", "mcc_spearman", "mcc_weak", "affine_r2", "mcc_cca"):
        assert ab[key] == pytest.approx(ba[key], abs=1e-10), key
    assert ab["mcc_weak_a_to_b"] == pytest.approx(ba["mcc_weak_b_to_a"], abs=1e-12)
    assert (ab["latent_dim_a"], ab["latent_dim_b"], ab["scored_on"]) == (3, 4, "held-out")


@pytest.mark.parametrize("split", [0, 1, -0.1, 1.5, "half", None, True, float("nan")])
def test_split_outside_the_open_unit_interval_is_refused(split):
    z = np.random.default_rng(7).standard_normal((20, 2))
    with pytest.raises(InvalidParameterError, match="split"):
        identifiability_report(z, z, split=split)
    with pytest.raises(InvalidParameterError, match="split"):
        consistency(z, z, split=split)


@pytest.mark.parametrize("seed", [-1, 1.5, None, "0", True])
def test_seed_must_be_a_non_negative_int(seed):
    z = np.random.default_rng(7).standard_normal((20, 2))
    with pytest.raises(InvalidParameterError, match="seed"):
        identifiability_report(z, z, seed=seed)


def test_a_split_too_extreme_for_the_sample_size_is_refused():
    z = np.random.default_rng(8).standard_normal((10, 2))
    with pytest.raises(InvalidParameterError, match="at least 4"):
        identifiability_report(z, z, split=0.1)


def test_a_learned_column_constant_within_one_split_is_collapsed():
    z = np.random.default_rng(9).standard_normal((8, 2))
    z_hat = z.copy()
    fit, _ = split_indices(8, 0.5, seed=0)
    z_hat[:, 1] = 0.0
    z_hat[fit[0], 1] = 1.0  # varies over all samples, but not on the held-out part
    with pytest.warns(UserWarning, match=r"z_hat has 1 collapsed \(constant\) column\(s\) \(1\)"):
        out = identifiability_report(z, z_hat)
    assert out["collapsed_columns"] == 1
    with pytest.raises(InvalidDataError, match=r"z_true has constant column\(s\) 1 on the held-out split"):
        identifiability_report(z_hat, z)  # the same column as ground truth is bad data


def test_collapsed_latents_score_zero_correlation_and_the_mean_predictor():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((400, 2))
    everything = np.full((400, 2), 0.5)
    with pytest.warns(UserWarning, match="collapsed"):
        out = identifiability_report(z, everything)
    for key in ("mcc_strong", "mcc_spearman", "mcc_weak", "mcc_cca"):
        assert out[key] == 0.0, key
    assert out["cca_components"] == 0 and out["collapsed_columns"] == 2
    for key in ("affine_r2", "permutation_r2", "orthogonal_r2"):  # the fit split's mean: R^2 about 0, never > 0.05
        assert -0.05 < out[key] <= 0.05, key
    # one of two columns collapsed: the other still recovers its true coordinate, the lost one scores 0
    half = np.column_stack([z[:, 0], np.zeros(400)])
    with pytest.warns(UserWarning):
        out = identifiability_report(z, half)
    assert out["mcc_strong"] == pytest.approx(0.5, abs=1e-9)  # (1 + 0) / 2
    assert out["permutation_r2"] == pytest.approx(0.5, abs=0.02) and out["affine_r2"] == pytest.approx(0.5, abs=0.02)
    assert out["cca_components"] == 1


@pytest.mark.parametrize(
    ("z_true", "z_hat", "match"),
    [
        (np.eye(10, 2), np.eye(9, 2), "rows"),
        (np.full((10, 2), np.nan), np.eye(10, 2), "NaN"),
        (np.ones((10, 2)), np.eye(10, 2), "constant column"),
        (np.eye(3, 2), np.eye(3, 2), "at least 4"),
    ],
)
def test_bad_latents_raise(z_true, z_hat, match):
    with pytest.raises(InvalidDataError, match=match):
        identifiability_report(z_true, z_hat)
    if match != "constant column":  # consistency compares two learned runs: a constant column is collapsed
        with pytest.raises(InvalidDataError, match=match):
            consistency(z_true, z_hat)


def _dataset(with_z=True, with_c=True, n=200):
    rng = np.random.default_rng(10)
    z = rng.standard_normal((n, 2)).astype(np.float32)
    c = rng.integers(0, 3, n)
    return Dataset(x=np.tanh(z @ rng.standard_normal((2, 5))), z=z if with_z else None, c=c if with_c else None)


def test_evaluate_latents_combines_identifiability_and_clustering():
    data = _dataset()
    result = evaluate_latents(2 * data.z, data, labels=(data.c + 1) % 3)
    assert REPORT_KEYS <= set(result)
    assert {"cluster_acc", "nmi", "ari", "n_clusters", "n_classes", "source"} <= set(result)
    assert result["cluster_acc"] == pytest.approx(1.0) and result["affine_r2"] == pytest.approx(1.0)
    assert result["n_eval"] == identifiability_report(data.z, 2 * data.z)["n_eval"]


def test_evaluate_latents_with_labels_only():
    data = _dataset(with_z=False)
    result = evaluate_latents(np.ones((200, 1)) * np.arange(200)[:, None], data, labels=data.c)
    assert "affine_r2" not in result and result["cluster_acc"] == pytest.approx(1.0)
    assert (result["n_fit"], result["n_eval"], result["scored_on"]) == (100, 100, "held-out")


@pytest.mark.parametrize(
    ("data", "z_hat", "labels", "match"),
    [
        (_dataset(with_z=False, with_c=False), np.ones((200, 2)), None, "no ground-truth latents 'z'"),
        (_dataset(with_z=False), np.ones((200, 2)), None, "no predicted labels"),
        (_dataset(with_c=False), _dataset().z, np.zeros(200), "no true classes 'c'"),
        (_dataset(), _dataset().z[:150], None, "150 rows"),
        (_dataset(), _dataset().z, np.zeros(150), "150 entries"),
    ],
)
def test_evaluate_latents_explains_what_is_missing(data, z_hat, labels, match):
    with pytest.raises(InvalidDataError, match=match):
        evaluate_latents(z_hat, data, labels=labels)


def test_a_column_collapsed_on_the_fit_split_counts_zero_in_mcc_even_where_it_varies():
    z = np.random.default_rng(4).standard_normal((100, 2))
    fit, _ = split_indices(100, 0.5, seed=0)
    z_hat = z.copy()
    z_hat[fit, 1] = 0.0  # constant where the alignments are fitted, the truth itself on the held-out part
    with pytest.warns(UserWarning, match="collapsed"):
        out = identifiability_report(z, z_hat)
    assert out["mcc_strong"] == pytest.approx(0.5, abs=1e-9) and out["mcc_spearman"] == pytest.approx(0.5, abs=1e-9)


def test_true_dimensions_the_model_lacks_count_zero_in_the_matching_scores():
    """A 1-D fit of 3-D z matched its one column perfectly and used to score strong MCC and mcc_cca 1.0, above
    a complete fit: the true coordinates left without a partner now count 0, as a collapsed column does."""
    z = np.random.default_rng(0).normal(size=(800, 3))
    one = identifiability_report(z, z[:, :1])
    for key in ("mcc_strong", "mcc_spearman", "mcc_cca"):
        assert one[key] == pytest.approx(1 / 3, abs=1e-6), key
    two = identifiability_report(z, z[:, [2, 0]] * [3.0, -1.0])
    assert two["mcc_strong"] == pytest.approx(2 / 3, abs=1e-6)
    assert identifiability_report(z, z[:, ::-1])["mcc_strong"] == pytest.approx(1.0)
    extra = identifiability_report(z, np.c_[z, np.random.default_rng(1).normal(size=(800, 1))])
    assert extra["mcc_strong"] == pytest.approx(1.0)  # a learned column too many is not penalised here


@pytest.mark.parametrize("score", [identifiability_report, consistency])
def test_too_few_samples_for_the_split_says_so(score):
    """6 rows leave 3 per part, below the 4 each alignment needs: this used to read 'needs at least 4 samples;
    got 3 samples' of 6 given."""
    z = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(InvalidParameterError, match="3 fit and 3 held-out samples of 6; both parts need at least 4"):
        score(z, z)


@pytest.mark.parametrize("scales", [[1.0, 1.0, 1e-7], [1e150, 1.0, 1e-150]])
def test_scores_free_of_column_scale_ignore_how_differently_the_columns_are_scaled(scales):
    """A learned column 1e-7 of the others was taken for none by CCA (mcc_cca 0.707), and one 1e-150 of them
    made the permutation-and-scaling slope 0/0 (a NaN traceback from scikit-learn)."""
    z = np.random.default_rng(0).standard_normal((1000, 3))
    report = identifiability_report(z, z * np.array(scales))
    for key in ("affine_r2", "mcc_weak", "mcc_strong", "permutation_r2", "mcc_cca"):
        assert report[key] == pytest.approx(1.0, abs=1e-9), key
    assert consistency(z, z * np.array(scales))["mcc_cca"] == pytest.approx(1.0, abs=1e-9)


def test_evaluate_latents_reads_classes_given_as_a_list():
    """The docstring promises anything with x, z and c; a list c gave a raw TypeError."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    z = rng.standard_normal((40, 2))
    classes = [int(v) for v in rng.integers(0, 3, 40)]
    data = SimpleNamespace(x=z.tolist(), z=z, c=classes)
    out = evaluate_latents(z, data, labels=np.array(classes))
    assert out["cluster_acc"] == 1.0 and out["affine_r2"] == pytest.approx(1.0)


def test_evaluate_latents_names_labels_that_are_no_column_of_labels_and_counts_samples_without_x():
    """A scalar or a (1, n) matrix of labels raised numpy's IndexError or said 'has 1 entries'; a Dataset
    without x (or with a sparse one) raised "object of type 'NoneType' has no len()"."""
    import scipy.sparse

    rng = np.random.default_rng(0)
    z, c = rng.normal(size=(60, 2)), rng.integers(0, 3, 60)
    data = Dataset(x=rng.normal(size=(60, 4)), z=z, c=c)
    for labels in (np.int64(1), np.asmatrix(c)):
        with pytest.raises(InvalidDataError, match="one label per sample"):
            evaluate_latents(z, data, labels=labels)
    with pytest.raises(InvalidDataError, match=r"sparse matrix.*\.toarray\(\)"):
        evaluate_latents(z, data, labels=scipy.sparse.csr_matrix(c[:, None]))
    assert evaluate_latents(z, Dataset(x=None, z=z, c=c), labels=c)["cluster_acc"] == 1.0
    assert evaluate_latents(z, Dataset(x=scipy.sparse.csr_matrix(data.x), z=z))["mcc_strong"] == pytest.approx(1.0)
