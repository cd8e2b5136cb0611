"""Clustering accuracy (1:1 Hungarian), NMI and ARI."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from latentid.errors import InvalidDataError, InvalidParameterError
from latentid.metrics import cluster_report, match_clusters


def _brute_force_accuracy(labels_true, labels_pred) -> float:
    """Best 1:1 assignment of clusters to classes by trying every injective map."""
    classes, clusters = np.unique(labels_true), np.unique(labels_pred)
    best = 0
    k = min(len(classes), len(clusters))
    for chosen in itertools.permutations(clusters, k):
        for targets in itertools.permutations(classes, k):
            mapping = dict(zip(chosen, targets, strict=True))
            hits = sum(mapping.get(p) == t for p, t in zip(labels_pred, labels_true, strict=True))
            best = max(best, hits)
    return best / len(labels_true)


def test_permuted_labels_score_perfectly():
    true = np.repeat([0, 1, 2], 5)
    pred = np.array([2, 0, 1])[true]
    report = cluster_report(true, pred)
    assert (report["cluster_acc"], report["nmi"], report["ari"]) == pytest.approx((1.0, 1.0, 1.0))
    assert match_clusters(true, pred) == {2: 0, 0: 1, 1: 2}


def test_more_clusters_than_classes_count_unmatched_clusters_as_errors():
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 2, 2, 1, 1, 1, 1])  # class 0 split in two: many-to-one would say 1.0
    report = cluster_report(true, pred)
    assert report["cluster_acc"] == pytest.approx(0.75)
    assert (report["n_clusters"], report["n_classes"]) == (3, 2)


def test_fewer_clusters_than_classes():
    report = cluster_report([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 1])
    assert report["cluster_acc"] == pytest.approx(4 / 6)
    assert (report["n_clusters"], report["n_classes"]) == (2, 3)


def test_string_labels_work():
    report = cluster_report(["a", "a", "b", "b", "c"], ["x", "x", "y", "y", "y"])
    assert report["cluster_acc"] == pytest.approx(4 / 5)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=4, max_size=30))
def test_agrees_with_brute_force_and_sklearn(pairs):
    true, pred = (np.array(col) for col in zip(*pairs, strict=True))
    report = cluster_report(true, pred)
    assert report["cluster_acc"] == pytest.approx(_brute_force_accuracy(true, pred))
    assert report["nmi"] == pytest.approx(normalized_mutual_info_score(true, pred))
    assert report["ari"] == pytest.approx(adjusted_rand_score(true, pred))


def test_split_fits_the_matching_on_one_part_and_scores_the_other():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 200)
    pred = np.where(rng.random(200) < 0.9, (true + 1) % 3, rng.integers(0, 3, 200))
    everything = cluster_report(true, pred)
    held = cluster_report(true, pred, split=0.5, seed=1)
    assert everything["n_eval"] == 200 and held["n_eval"] == 100
    assert held["cluster_scored_on"].startswith("held-out")
    assert everything["cluster_scored_on"].startswith("all samples")
    assert held["cluster_acc"] == pytest.approx(everything["cluster_acc"], abs=0.1)
    assert cluster_report(true, pred, split=0.5, seed=1) == held


@pytest.mark.parametrize(
    ("true", "pred", "match"),
    [
        ([0, 1, 0, 1, 1], [0, 1, 0, 1], "same samples"),
        (np.zeros((4, 2)), np.zeros(4), "1-D"),
        ([0.5, 1, 0, 1], [0, 1, 0, 1], "integer labels"),
        ([np.nan, 1, 0, 1], [0, 1, 0, 1], "integer labels"),
        ([0, 1, 0], [0, 1, 0], "at least 4"),
    ],
)
def test_bad_labels_raise(true, pred, match):
    with pytest.raises(InvalidDataError, match=match):
        cluster_report(true, pred)


def test_bad_split_raises():
    with pytest.raises(InvalidParameterError, match="split"):
        cluster_report([0, 1, 0, 1], [0, 1, 0, 1], split=1.0)


def test_a_split_too_small_for_one_part_names_the_split_not_a_count_the_user_never_gave():
    labels = np.arange(9) % 3
    with pytest.raises(InvalidParameterError, match=r"^split=0.3 leaves 3 fit and 6 held-out samples of 9"):
        cluster_report(labels, labels, split=0.3, seed=0)


def test_match_clusters_refuses_labels_of_other_samples_in_one_line():
    labels = np.arange(20) % 3
    with pytest.raises(InvalidDataError, match="labels_true has 20 samples but labels_pred has 10"):
        match_clusters(labels, labels[:10])


def test_evaluate_notes_held_out_classes_that_no_cluster_could_be_matched_to():
    """Identical labels of 1,000 classes over 300 rows score 0.14: most held-out classes are absent from the fit
    split. The score stands (the matching is held out), and a note says what caps it."""
    from latentid.data.synthetic import SyntheticSpec
    from latentid.metrics.report import evaluate_latents

    data = SyntheticSpec.create(components=1000, seed=0).build().sample(300, random_state=0)
    result = evaluate_latents(data.z, data, labels=data.c)
    assert result["cluster_acc"] < 0.2 and result["nmi"] == pytest.approx(1.0)
    (note,) = result["warnings"]
    assert note.startswith("129 of the 150 held-out samples") and note.endswith(
        f"at most {result['cluster_acc']:.3f} here"
    )
    few = SyntheticSpec.create(components=4, seed=0).build().sample(300, random_state=0)
    assert "warnings" not in evaluate_latents(few.z, few, labels=few.c)  # every class seen on both sides


def test_data_of_one_class_is_not_scored_as_a_clustering():
    """Standard-normal data (c all 0): a VaDE fit's clusters scored cluster_acc 0.952 (and the oracle 1.0), with
    no word; a facet of one class was already left unscored."""
    from latentid.data.synthetic import SyntheticSpec
    from latentid.metrics.report import ONE_CLASS_NOTE, evaluate_latents

    data = SyntheticSpec.create(prior="standard-normal", seed=0).build().sample(300, random_state=0)
    result = evaluate_latents(data.z, data, labels=np.arange(300) % 3)
    assert not {"cluster_acc", "nmi", "ari"} & set(result) and result["warnings"] == [ONE_CLASS_NOTE]
    assert result["n_eval"] == 150 and result["mcc_strong"] == pytest.approx(1.0)
    with pytest.raises(InvalidDataError, match="labels"):  # the labels given are still checked
        evaluate_latents(data.z, data, labels=np.full(300, np.nan))
    from types import SimpleNamespace

    from latentid.studies.run_one import _unmeasured_note

    asked = SimpleNamespace(metrics=["cluster_acc"], model="gmm")  # a study's run asking for it says why it is None
    note = _unmeasured_note(asked, {"cluster_acc": None}, data, labels=np.zeros(300, dtype=int))
    assert note == "not measured: cluster_acc (the data has one true class: nothing to cluster)"


def test_pandas_string_and_categorical_labels_are_labels():
    """pandas keeps strings as objects: they were refused as 'dtype object', though strings are accepted."""
    pd = pytest.importorskip("pandas")
    true, pred = pd.Series(list("abcabcabca")), pd.Series(list("xyzxyzxyzx"))
    assert cluster_report(true, pred)["cluster_acc"] == 1.0
    assert cluster_report(true.astype("category"), pred)["cluster_acc"] == 1.0
    with pytest.raises(InvalidDataError, match=r"got objects of type\(s\) int, str"):
        cluster_report(pd.Series(["a", 1, "b", 2, "a"]), pred[:5])


def test_labels_too_many_to_match_in_memory_are_refused_in_words(monkeypatch):
    """20,000 distinct labels on each side ended the process with std::bad_alloc: no message, no exit code."""
    from latentid import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**20)  # 1 MiB: a 1,000 x 1,000 table needs 24 MB
    ids = np.arange(1_000)
    with pytest.raises(InvalidParameterError, match="Matching 1,000 clusters to 1,000 classes needs about"):
        cluster_report(ids, ids[::-1].copy())
    assert cluster_report(ids % 3, ids % 3)["cluster_acc"] == 1.0  # a few classes still fit


def test_labels_held_as_python_objects_are_read_as_the_numbers_they_are():
    """pandas' astype(object) keeps ints as objects: refused as 'must hold integer or string labels; got objects
    of type(s) int', which contradicted itself."""
    import pandas as pd

    truth = np.random.default_rng(0).integers(0, 3, 60)
    for labels in (truth.astype(object), pd.Series(truth).astype(object), [int(v) for v in truth]):
        assert cluster_report(truth, labels)["cluster_acc"] == 1.0
    with pytest.raises(InvalidDataError, match="int, str"):
        cluster_report(truth, np.array([1, "a"] * 30, dtype=object))
