"""The report's scores against their definitions, recomputed here from numpy, scipy and scikit-learn on the
report's own split: which rows fit, which score, how the directions are averaged. A mutation study found these
definitions unguarded (a CCA scored on its fit rows, a max for a mean, a min for a max all passed the suite)."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from latentid.metrics import consistency, identifiability_report, split_indices
from latentid.metrics.alignment import CCAAlignment
from latentid.metrics.facets import facet_cluster_report


def _held_out_cca(t, h, split=0.5, seed=0):
    """Mean correlation, on the held-out rows, of the canonical pairs fitted on the fit rows (k = min(m, m_hat))."""
    fit, held = split_indices(len(t), split, seed, 4)

    def whitener(a):
        values, vectors = np.linalg.eigh(np.cov(a, rowvar=False))
        return vectors / np.sqrt(values)

    wt, wh = whitener(t[fit]), whitener(h[fit])
    ct, ch = t[fit].mean(0), h[fit].mean(0)
    u, _, vt = np.linalg.svd(((t[fit] - ct) @ wt).T @ ((h[fit] - ch) @ wh) / (len(fit) - 1))
    k = min(t.shape[1], h.shape[1])
    a, b = (t[held] - ct) @ wt @ u[:, :k], (h[held] - ch) @ wh @ vt.T[:, :k]
    return float(np.mean([np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(k)]))


def _pearson(a, b):
    """(d_a, d_b) Pearson correlations of a's columns with b's."""
    return np.corrcoef(a, b, rowvar=False)[: a.shape[1], a.shape[1] :]


def _held_out_matched_mean(a, b, split=0.5, seed=0):
    """Mean over min(d_a, d_b) pairs of the held-out Pearson correlation times its fit-rows sign, the 1:1 pairs
    maximising the summed |Pearson| on the fit rows."""
    fit, held = split_indices(len(a), split, seed, 4)
    on_fit = _pearson(a[fit], b[fit])
    rows, cols = linear_sum_assignment(-np.abs(on_fit))
    return float(np.mean(np.sign(on_fit[rows, cols]) * _pearson(a[held], b[held])[rows, cols]))


def _weak(target, source, split=0.5, seed=0):
    """Mean Pearson correlation of each held-out target column with its least-squares prediction from source,
    the map fitted on the fit rows."""
    fit, held = split_indices(len(target), split, seed, 4)
    mapped = LinearRegression().fit(source[fit], target[fit]).predict(source[held])
    return float(np.mean(np.diag(_pearson(target[held], mapped))))


@pytest.fixture(scope="module")
def weak_signal():
    rng = np.random.default_rng(11)
    z = rng.standard_normal((60, 3))
    z_hat = z @ rng.standard_normal((3, 3)) * 0.3 + rng.standard_normal((60, 3))
    return z, z_hat


def test_mcc_cca_is_scored_on_the_held_out_rows(weak_signal):
    z, z_hat = weak_signal
    out = identifiability_report(z, z_hat)
    assert out["mcc_cca"] == pytest.approx(_held_out_cca(z, z_hat), abs=1e-8)
    fit = split_indices(len(z), 0.5, 0, 4)[0]
    on_fit_rows = CCAAlignment().fit(z[fit], z_hat[fit]).score(z[fit], z_hat[fit])
    assert abs(out["mcc_cca"] - on_fit_rows) > 0.02  # this data tells the two apart


def test_consistency_averages_both_directions_and_counts_cca_pairs_over_the_smaller_run():
    rng = np.random.default_rng(12)
    a = rng.standard_normal((300, 3))
    b = np.column_stack([a @ rng.standard_normal((3, 5)) * 0.4 + rng.standard_normal((300, 5))])
    out = consistency(a, b)
    assert out["mcc_weak_a_to_b"] == pytest.approx(_weak(a, b), abs=1e-8)
    assert out["mcc_weak_b_to_a"] == pytest.approx(_weak(b, a), abs=1e-8)
    assert out["mcc_weak"] == pytest.approx((_weak(a, b) + _weak(b, a)) / 2, abs=1e-8)
    assert out["mcc_cca"] == pytest.approx(_held_out_cca(a, b), abs=1e-8)  # 3 pairs over min(3, 5) = 3
    assert out["mcc_strong"] == pytest.approx(_held_out_matched_mean(a, b), abs=1e-8)


@pytest.fixture(scope="module")
def unrelated():
    """40 draws of 10 latent coordinates unrelated to 10 true ones, 200 rows: chance level."""
    rng = np.random.default_rng(17)
    return [(rng.standard_normal((200, 10)), rng.standard_normal((200, 10))) for _ in range(40)]


def test_strong_mcc_pairs_on_the_fit_rows_and_scores_on_the_held_out_rows(unrelated):
    # unrelated latents tell the rows apart: the pairs the held-out rows would choose are not the fit rows' pairs
    for z, z_hat in unrelated[:3]:
        out = identifiability_report(z, z_hat)
        assert out["mcc_strong"] == pytest.approx(_held_out_matched_mean(z, z_hat), abs=1e-8)
        held = split_indices(200, 0.5, 0, 4)[1]
        on_held = np.abs(_pearson(z[held], z_hat[held]))
        assert abs(out["mcc_strong"] - on_held[linear_sum_assignment(-on_held)].mean()) > 0.05


def test_strong_mcc_of_unrelated_latents_is_zero_on_average(unrelated):
    # matched on the rows it scores, this reads about 0.17 (benchmarks/mcc_chance_level.py)
    scores = [identifiability_report(z, z_hat)["mcc_strong"] for z, z_hat in unrelated]
    spearman = [identifiability_report(z, z_hat)["mcc_spearman"] for z, z_hat in unrelated[:10]]
    assert abs(np.mean(scores)) < 0.02 and abs(np.mean(spearman)) < 0.04
    assert np.mean([consistency(z, z_hat)["mcc_strong"] for z, z_hat in unrelated[:10]]) < 0.04


def test_weak_mcc_pairs_each_true_coordinate_with_its_own_prediction(weak_signal):
    z, z_hat = weak_signal
    out = identifiability_report(z, z_hat)
    assert out["mcc_weak"] == pytest.approx(_weak(z, z_hat), abs=1e-8)


def test_consistency_counts_a_collapsed_column_zero_in_mcc_strong():
    rng = np.random.default_rng(13)
    z = rng.standard_normal((300, 3))
    collapsed = z.copy()
    collapsed[:, 2] = 0.25
    with pytest.warns(UserWarning, match="collapsed"):
        out = consistency(z, collapsed)
    assert out["mcc_strong"] == pytest.approx(2 / 3, abs=1e-8)  # two perfect pairs and one of correlation 0


def test_consistency_counts_a_collapsed_column_zero_in_weak_mcc_and_affine_r2():
    # two runs that kept one of five dimensions alike read 1.0 by weak MCC when collapsed columns were left out
    rng = np.random.default_rng(18)
    kept_one = np.zeros((400, 5))
    kept_one[:, 0] = rng.standard_normal(400)
    with pytest.warns(UserWarning, match="collapsed"):
        out = consistency(kept_one, 2 * kept_one + 1)
    for key in ("mcc_strong", "mcc_weak", "mcc_weak_a_to_b", "affine_r2", "affine_r2_b_to_a", "mcc_cca"):
        assert out[key] == pytest.approx(1 / 5, abs=1e-8), key


def test_exact_ties_on_the_fit_rows_break_the_same_whatever_the_column_order():
    """Spearman correlations of 5 fit rows lie on a coarse grid, so matchings tie exactly; the Hungarian algorithm
    kept one by position, so permuting the columns, or swapping the runs, changed the held-out score."""
    rng = np.random.default_rng(6)
    for _ in range(60):
        z, h = rng.standard_normal((10, 3)), rng.standard_normal((10, 3))
        out = identifiability_report(z, h)["mcc_spearman"]
        assert identifiability_report(z, h[:, [2, 0, 1]])["mcc_spearman"] == pytest.approx(out, abs=1e-12)
        assert identifiability_report(z[:, ::-1], -h)["mcc_spearman"] == pytest.approx(out, abs=1e-12)
        pair = consistency(z, h)["mcc_spearman"]
        assert consistency(h, z)["mcc_spearman"] == pytest.approx(pair, abs=1e-12)
    binary = np.random.default_rng(6)
    for _ in range(200):  # binary latents tie Pearson correlations too
        a, b = (binary.integers(0, 2, size=(40, 3)).astype(float) for _ in range(2))
        pair = consistency(a, b)["mcc_strong"]  # permuted and negated columns: canonical_order's job
        assert consistency(a[:, [2, 0, 1]], -b[:, ::-1])["mcc_strong"] == pytest.approx(pair, abs=1e-12)


def test_with_every_learned_column_collapsed_affine_r2_is_that_of_the_fit_rows_mean():
    rng = np.random.default_rng(14)
    z = rng.standard_normal((60, 2))
    fit, held = split_indices(60, 0.5, 0, 4)
    with pytest.warns(UserWarning, match="collapsed"):
        out = identifiability_report(z, np.zeros((60, 2)))
    expected = r2_score(z[held], np.broadcast_to(z[fit].mean(0), z[held].shape))
    assert out["affine_r2"] == pytest.approx(expected, abs=1e-10) and expected < -1e-3


def test_cca_score_is_signed():
    rng = np.random.default_rng(15)
    t = rng.standard_normal((400, 2))
    h = t + 0.1 * rng.standard_normal((400, 2))
    cca = CCAAlignment().fit(t[:200], h[:200])
    assert cca.score(t[200:], h[200:]) > 0.95
    assert cca.score(t[200:], -h[200:]) < -0.95  # pairs that turned round on new rows count against


def test_the_facet_cluster_accuracy_mean_is_the_mean_over_facets():
    rng = np.random.default_rng(16)
    c = rng.integers(0, 3, size=(400, 2))
    labels = c.copy()
    labels[:, 1] = rng.integers(0, 3, size=400)  # facet 0 exact, facet 1 chance
    out = facet_cluster_report(c, labels, 0.5, 0)
    per_facet = [out["facet0_cluster_acc"], out["facet1_cluster_acc"]]
    assert per_facet[0] == 1.0 and per_facet[1] < 0.6
    assert out["facet_cluster_acc_mean"] == pytest.approx(np.mean(per_facet))
