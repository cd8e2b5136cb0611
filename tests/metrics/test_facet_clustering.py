"""Per-facet clustering scores: a true facet left without a learned label column is not scored (its keys
are absent, not a 0 that reads as measured), and the mean runs over the facets that were scored."""

from __future__ import annotations

import numpy as np

from latentid.metrics import evaluate_latents
from latentid.metrics.facets import facet_cluster_report


class _Data:
    def __init__(self, x, z, c):
        self.x, self.z, self.c, self.source = x, z, c, "facets.npz"


def _classes(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([rng.integers(0, 3, n), rng.integers(0, 2, n)])


def test_a_facet_without_a_label_column_gets_no_score():
    classes = _classes()
    out = facet_cluster_report(classes, classes[:, 0], split=0.5, seed=0)  # one learned column, two facets
    assert out["facet0_cluster_acc"] == 1.0 and out["facet0_matched_column"] == 0
    assert not [key for key in out if key.startswith("facet1_")], out
    assert out["facet_cluster_acc_mean"] == out["facet0_cluster_acc"]  # the unscored facet is not a 0 in it
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in out.values()), out


def test_every_facet_scored_when_there_are_enough_columns():
    classes = _classes()
    out = facet_cluster_report(classes, classes[:, ::-1], split=0.5, seed=0)
    assert out["facet0_matched_column"] == 1 and out["facet1_matched_column"] == 0
    assert out["facet_cluster_acc_mean"] == 1.0


def test_evaluate_holds_numbers_only_on_facet_data_with_one_label_column():
    classes = _classes()
    z = np.random.default_rng(1).normal(size=(200, 3))
    out = evaluate_latents(z, _Data(z, z, classes), labels=classes[:, 1], facet_blocks=[slice(0, 2), slice(2, 3)])
    prose = {"source", "scored_on", "split_note", "cluster_scored_on"}
    assert all(v is not None for k, v in out.items() if k not in prose), out
    assert "facet0_cluster_acc" not in out and out["facet1_cluster_acc"] == 1.0
    assert out["facet_cluster_acc_mean"] == 1.0


def test_a_facet_of_one_class_is_not_scored_nor_in_the_mean():
    """A one-class facet scored 1.0 for any labels and lifted facet_cluster_acc_mean (0.689 from 1.0 and 0.378)."""
    classes = _classes()
    classes[:, 0] = 0
    noise = np.random.default_rng(2).integers(0, 2, (200, 2))
    out = facet_cluster_report(classes, noise, split=0.5, seed=0)
    assert not [key for key in out if key.startswith("facet0_")], out
    assert out["facet_cluster_acc_mean"] == out["facet1_cluster_acc"] < 1.0


def test_one_label_column_against_several_facets_is_said_to_score_one_facet_only():
    classes = _classes()
    joint = classes[:, 0] * 2 + classes[:, 1]  # a perfect joint clustering: 6 clusters
    z = np.random.default_rng(1).normal(size=(200, 3))
    out = evaluate_latents(z, _Data(z, z, classes), labels=joint, facet_blocks=[slice(0, 2), slice(2, 3)])
    assert any(w.startswith("one label column against several facets") for w in out["warnings"])
    both = evaluate_latents(z, _Data(z, z, classes), labels=classes, facet_blocks=[slice(0, 2), slice(2, 3)])
    assert not any("one label column" in w for w in both.get("warnings", []))


def test_one_facet_is_scored_as_one_mixture():
    """Data of one facet (labels (n, 1)) and a one-facet model's (n, 1) labels get the mixture's keys, as VaDE does."""
    classes = _classes()[:, :1]
    rng = np.random.default_rng(1)
    data = _Data(rng.normal(size=(200, 4)), rng.normal(size=(200, 2)), classes)
    z_hat = data.z + 0.1 * rng.normal(size=(200, 2))
    for labels in (classes, classes[:, 0]):
        out = evaluate_latents(z_hat, data, labels=labels)
        assert out["cluster_acc"] == 1.0 and not [key for key in out if key.startswith("facet")], out
    joint = evaluate_latents(z_hat, _Data(data.x, data.z, classes[:, 0]), labels=classes)
    assert joint["cluster_acc"] == 1.0
