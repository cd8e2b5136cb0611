"""The linear baselines: PCA, FastICA and GMMBaseline against scikit-learn, their recovery, save/load, errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn import decomposition
from sklearn.base import clone

from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError, NotFittedError
from latentid.metrics.clustering import cluster_report
from latentid.metrics.correlation import mcc
from latentid.models.linear import LINEAR_MODELS, PCA, FastICA, GMMBaseline, LinearModel, load_linear

BUILDERS = {
    "PCA": lambda **kw: PCA(2, random_state=0, **kw),
    "FastICA": lambda **kw: FastICA(2, random_state=0, **kw),
    "GMMBaseline": lambda **kw: GMMBaseline(2, 3, n_init=2, random_state=0, **kw),
}
NAMES = list(BUILDERS)


@pytest.fixture(scope="module")
def laplace():
    """Two independent Laplace sources s (1000, 2) mixed into x = s A + noise (1000, 4) by a random A."""
    rng = np.random.default_rng(0)
    s = rng.laplace(size=(1000, 2))
    a = rng.normal(size=(2, 4))
    return s @ a + 0.05 * rng.normal(size=(1000, 4)), s


@pytest.fixture(scope="module")
def blobs():
    """Three well-separated Gaussian blobs in 5-D: x (600, 5), labels c (600,)."""
    rng = np.random.default_rng(1)
    centres = 10.0 * rng.normal(size=(3, 5))
    c = rng.integers(0, 3, size=600)
    return centres[c] + rng.normal(size=(600, 5)), c


@pytest.fixture(scope="module")
def fitted(blobs):
    return {name: build().fit(blobs[0]) for name, build in BUILDERS.items()}


def test_pca_transform_equals_sklearn(laplace):
    x = laplace[0]
    for whiten in (True, False):
        z = PCA(2, whiten=whiten).fit(x).transform(x)
        ref = decomposition.PCA(2, whiten=whiten).fit_transform(x)
        assert z.dtype == np.float32 and z.shape == (1000, 2)
        np.testing.assert_allclose(z, ref, rtol=1e-5, atol=1e-5)


def test_pca_score_is_ppca_log_likelihood_whitened_or_not(laplace):
    x = laplace[0]
    ref_pca = decomposition.PCA(2).fit(x)
    ref = multivariate_normal(ref_pca.mean_, ref_pca.get_covariance()).logpdf(x)
    for whiten in (True, False):  # scikit-learn's own score_samples is wrong with whiten=True
        model = PCA(2, whiten=whiten).fit(x)
        np.testing.assert_allclose(model.score_samples(x), ref, rtol=1e-8)
        assert model.score(x) == pytest.approx(ref.mean())


def test_pca_latent_distribution_matches_its_transform(laplace):
    x = laplace[0]
    for whiten in (True, False):
        model = PCA(2, whiten=whiten).fit(x)
        z = model.transform(x).astype(np.float64)
        assert model.weights_.shape == (1,) and model.means_.shape == (1, 2) and model.covariances_.shape == (1, 2, 2)
        np.testing.assert_allclose(model.means_[0], z.mean(0), atol=1e-5)
        np.testing.assert_allclose(model.covariances_[0], np.cov(z.T), rtol=1e-4, atol=1e-5)


def test_fastica_recovers_laplace_sources_where_pca_does_not(laplace):
    x, s = laplace
    ica = FastICA(2, random_state=0).fit(x)
    result = mcc(s, ica.transform(x))
    assert result.matched.min() > 0.95
    assert mcc(s, PCA(2).fit(x).transform(x)).score < 0.9, "the mixing must not be solvable by PCA alone"
    z = ica.transform(x).astype(np.float64)
    np.testing.assert_allclose(np.cov(z.T), ica.covariances_[0], atol=1e-2)  # unit-variance sources
    assert ica.n_iter_ >= 1


def test_gmm_baseline_clusters_blobs(blobs, fitted):
    x, c = blobs
    model = fitted["GMMBaseline"]
    pred = model.predict(x)
    assert pred.dtype == np.int64 and pred.shape == (600,)
    assert cluster_report(c, pred)["cluster_acc"] == 1.0
    proba = model.predict_proba(x)
    assert proba.shape == (600, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(model.fit_predict(x), pred)
    assert model.n_iter_ == model.gmm_.n_iter_ >= 1
    assert np.isfinite(model.score(x)) and model.score_samples(x).shape == (600,)


def test_gmm_baseline_latent_mixture_is_the_gmm_through_the_projection(blobs, fitted):
    x = blobs[0]
    model = fitted["GMMBaseline"]
    z = model.transform(x).astype(np.float64)
    np.testing.assert_allclose(z, PCA(2).fit(x).transform(x), rtol=1e-5, atol=1e-5)
    pred = model.predict(x)
    assert model.weights_.shape == (3,) and model.means_.shape == (3, 2) and model.covariances_.shape == (3, 2, 2)
    for k in range(3):  # well-separated blobs: each component is its cluster's sample moments
        np.testing.assert_allclose(model.means_[k], z[pred == k].mean(0), atol=1e-4)
        np.testing.assert_allclose(model.covariances_[k], np.cov(z[pred == k].T, bias=True), atol=1e-4)


@pytest.mark.parametrize("covariance", ["tied", "diag", "spherical"])
def test_gmm_baseline_other_covariance_types(blobs, covariance):
    model = GMMBaseline(2, 3, covariance=covariance, n_init=1, random_state=0).fit(blobs[0])
    cov = model.covariances_
    assert cov.shape == (3, 2, 2) and np.all(np.linalg.eigvalsh(cov) > 0)
    assert cluster_report(blobs[1], model.predict(blobs[0]))["cluster_acc"] == 1.0


@pytest.mark.parametrize("name", ["PCA", "FastICA"])
def test_models_without_clusters_have_no_predict(blobs, fitted, name):
    # Before, predict answered 0 and predict_proba 1 for every sample: a clustering of nothing.
    model = fitted[name]
    assert not any(hasattr(model, method) for method in ("predict", "predict_proba", "fit_predict"))
    np.testing.assert_array_equal(model.weights_, [1.0])


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(tmp_path, blobs, fitted, name):
    x, model = blobs[0], fitted[name]
    folder = model.save(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "config.json"]
    config = json.loads((folder / "config.json").read_text())
    assert config["class"] == name and config["n_features_in"] == 5 and config["latent_dim"] == 2
    assert config["params"] == model.get_params()
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:  # no pickled objects inside
        assert all(npz[key].dtype != object for key in npz.files)
    loaders = (load_linear(folder), LinearModel.load(folder), LINEAR_MODELS[name].load(folder, device="cpu"))
    for loaded in loaders:  # device= as deep models' load takes it, ignored
        assert type(loaded) is type(model) and loaded.n_features_in_ == 5 and loaded.n_iter_ == model.n_iter_
        np.testing.assert_array_equal(loaded.transform(x), model.transform(x))
        if hasattr(model, "predict"):
            np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
            np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
        np.testing.assert_array_equal(loaded.covariances_, model.covariances_)
        if name != "FastICA":
            np.testing.assert_array_equal(loaded.score_samples(x), model.score_samples(x))


def test_load_refuses_another_class_and_bad_folders(tmp_path, fitted):
    folder = fitted["PCA"].save(tmp_path / "pca")
    with pytest.raises(InvalidParameterError, match="holds a PCA model, not a FastICA"):
        FastICA.load(folder)
    with pytest.raises(DataFileError, match="missing: no such folder"):
        load_linear(tmp_path / "missing")
    with pytest.raises(DataFileError, match="exists and is not a folder"):
        fitted["PCA"].save(folder / "config.json")


def _edit_unsealed(folder, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in config.json and drop its config_sha256, as in a config saved before
    latentid recorded one: the checks behind the seal still catch what the edit breaks."""
    config = json.loads((folder / "config.json").read_text().replace(old, new))
    del config["config_sha256"]
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda f: (f / "arrays.npz").unlink(), id="no-arrays"),
        pytest.param(lambda f: (f / "arrays.npz").write_bytes((f / "arrays.npz").read_bytes()[:50]), id="truncated"),
        pytest.param(lambda f: np.savez(f / "arrays.npz", other=np.zeros(2)), id="missing-key"),
        pytest.param(lambda f: (f / "config.json").write_text("{not json"), id="bad-json"),
        pytest.param(lambda f: _edit_unsealed(f, '"class": "GMMBaseline"', '"class": "VaDE"'), id="deep-class"),
        pytest.param(lambda f: _edit_unsealed(f, '"n_components": 3', '"n_components": 0'), id="bad-param"),
        pytest.param(lambda f: _edit_unsealed(f, '"n_features_in": 5', '"n_features_in": 4'), id="wrong-shape"),
    ],
)
def test_load_corrupt_folder_is_one_line_data_file_error(tmp_path, fitted, damage):
    folder = fitted["GMMBaseline"].save(tmp_path / "m")
    damage(folder)
    with pytest.raises(DataFileError) as info:
        load_linear(folder)
    assert "\n" not in str(info.value)


def test_arrays_rewritten_with_other_values_are_refused(tmp_path, fitted, blobs):
    # A valid .npz with the same keys and one number changed passes the zip's CRC; the SHA-256 in config.json does not.
    folder = fitted["PCA"].save(tmp_path / "pca")
    with np.load(folder / "arrays.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    key = next(k for k in arrays if arrays[k].dtype.kind == "f" and arrays[k].size > 1)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] += 0.5
    np.savez(folder / "arrays.npz", **arrays)
    with pytest.raises(DataFileError, match=r"arrays.npz: damaged .*SHA-256"):
        load_linear(folder)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_outputs(blobs, name):
    x = blobs[0]
    a, b = BUILDERS[name]().fit(x), BUILDERS[name]().fit(x)
    np.testing.assert_array_equal(a.transform(x), b.transform(x))
    if hasattr(a, "predict_proba"):
        np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))


@pytest.mark.parametrize("name", NAMES)
def test_sklearn_clone_and_params(fitted, name):
    model = fitted[name]
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        copy.transform(np.zeros((3, 5)))
    copy.set_params(latent_dim=3)
    assert copy.latent_dim == 3 and model.latent_dim == 2


@pytest.mark.parametrize("name", NAMES)
def test_latents_beyond_float32_are_refused_not_inf(blobs, fitted, name):
    # Before: X * 1e39 gave latents of inf, with only numpy's "overflow encountered in cast" warning.
    with pytest.raises(InvalidDataError, match="beyond float32's range"):
        fitted[name].transform(blobs[0] * 1e39)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs(blobs, fitted, name):
    x, model = blobs[0], fitted[name]
    with pytest.raises(InvalidParameterError, match="'latent_dim'"):
        BUILDERS[name]().set_params(latent_dim=6).fit(x)
    with pytest.raises(InvalidParameterError, match="'latent_dim'"):
        BUILDERS[name]().set_params(latent_dim=0).fit(x)
    with pytest.raises(InvalidDataError, match="features"):
        model.transform(x[:, :4])
    with pytest.raises(InvalidDataError, match="NaN"):
        model.transform(np.full((2, 5), np.nan))
    with pytest.raises(InvalidDataError, match="2-D"):
        model.transform(x[0])
    with pytest.raises(InvalidParameterError, match="refine applies only to deep models"):
        model.transform(x, refine=True)
    np.testing.assert_array_equal(model.transform(x, refine=False), model.transform(x, refine=None))
    with pytest.raises(NotFittedError):
        BUILDERS[name]().transform(x)
    with pytest.raises(NotFittedError):
        _ = BUILDERS[name]().means_
    with pytest.raises(NotFittedError):
        BUILDERS[name]().save("unused")
    with pytest.raises(InvalidParameterError, match="takes no auxiliary variable u"):  # not silently ignored
        BUILDERS[name]().fit(x, u=np.ones((600, 1)))


def test_bad_parameters_and_sample_counts(blobs):
    x = blobs[0]
    with pytest.raises(InvalidParameterError, match="'covariance' parameter of GMMBaseline"):
        GMMBaseline(covariance="bogus").fit(x)
    with pytest.raises(InvalidParameterError, match="'whiten'"):
        PCA(whiten="yes").fit(x)
    with pytest.raises(InvalidParameterError, match="'tol'"):
        FastICA(tol=0.0).fit(x)
    with pytest.raises(InvalidParameterError, match="'random_state'"):
        PCA(random_state=-1).fit(x)
    with pytest.raises(InvalidDataError, match="at least 5 samples"):
        GMMBaseline(2, 5).fit(x[:4])
    ica = FastICA(2, random_state=0).fit(x)
    assert not hasattr(ica, "score") and not hasattr(ica, "score_samples")  # as scikit-learn code asks
    with pytest.raises(AttributeError, match="has no attribute 'score'") as info:
        ica.score(x)
    assert "has no likelihood" in str(info.value.__cause__)  # why, in the traceback


def test_fastica_that_stops_at_max_iter_says_so_once_and_run_json_records_it(tmp_path):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from latentid.data.io import Dataset
    from latentid.runs import fit_run

    x = np.random.default_rng(0).standard_normal((300, 6))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = FastICA(latent_dim=4, max_iter=1, random_state=0).fit(x)
    ours = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert model.converged_ is False and len(ours) == 1  # sklearn's own warning is replaced by one line
    assert (
        str(ours[0].message)
        == "FastICA did not converge within max_iter=1 iterations; its components may be unreliable."
    )
    assert FastICA(latent_dim=2, random_state=0).fit(x[:, :2] @ np.array([[1.0, 0.5], [0.0, 1.0]])).converged_

    run = fit_run("fastica", Dataset(x=x.astype(np.float32)), tmp_path / "run", latent_dim=4, max_iter=1)
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())["warnings"]
    assert recorded == run.info["warnings"] == [str(ours[0].message)]


@pytest.mark.parametrize("scale", [1e-8, 1e-4, 1e6, 1e8])
def test_gmm_baseline_is_the_same_fit_in_any_units(blobs, fitted, scale):
    """reg_covar follows the data's scale: the same clusters, and log p(x) shifted by the Jacobian only."""
    x = blobs[0]
    model = GMMBaseline(2, 3, n_init=2, random_state=0).fit(x * scale)
    reference = fitted["GMMBaseline"]
    assert np.array_equal(model.predict(x * scale), reference.predict(x))
    assert model.score(x * scale) + x.shape[1] * np.log(scale) == pytest.approx(reference.score(x), abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_identical_rows_are_refused_in_one_line(name):
    for rows in (np.ones((50, 4)), np.tile([[1e6, -3.0, 0.5, 2.0]], (50, 1))):
        with pytest.raises(InvalidDataError, match="every row of X is the same") as info:
            BUILDERS[name]().fit(rows)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_fewer_directions_than_latent_dim_are_refused(name):
    """Rows on a line: the second latent coordinate would be rounding noise divided by ~0."""
    rng = np.random.default_rng(2)
    line = rng.normal(size=(60, 1)) @ rng.normal(size=(1, 4)) + 1.0
    with pytest.raises(InvalidDataError, match=r"spans only 1 dimension\(s\) above rounding, fewer than latent_dim=2"):
        BUILDERS[name]().fit(line)
    one = BUILDERS[name]().set_params(latent_dim=1).fit(line)  # what the message says to do works
    assert one.transform(line).shape == (60, 1)


def test_a_degenerate_fit_in_scikit_learn_is_one_line_invalid_data_error(monkeypatch, blobs):
    def fail(self, X, y=None):
        raise ValueError("Fitting the mixture model failed because some components have ill-defined covariance.\nmore")

    monkeypatch.setattr(GMMBaseline()._make_parts(np.random.default_rng(0))["gmm_"].__class__, "fit", fail)
    with pytest.raises(InvalidDataError, match=r"^GMMBaseline could not be fitted on X \(Fitting the mixture") as info:
        GMMBaseline(2, 3).fit(blobs[0])
    assert "\n" not in str(info.value)


def test_saving_over_another_kind_of_model_leaves_no_stale_weights(tmp_path, fitted, blobs):
    from latentid.models import VAE, load_model

    folder = tmp_path / "m"
    VAE(latent_dim=2, epochs=1, random_state=0, threads=1).fit(blobs[0]).save(folder)
    fitted["PCA"].save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "config.json"]
    VAE(latent_dim=2, epochs=1, random_state=0, threads=1).fit(blobs[0]).save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.pt"]
    assert type(load_model(folder)).__name__ == "VAE"


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_refit_leaves_the_model_as_it_was(blobs, name):
    """The rank check ran after the new names, sizes and components were set: the model then answered on the very
    data it had refused, with latents of rounding noise."""
    x = blobs[0]
    model = BUILDERS[name]().fit(x)
    before = model.transform(x)
    rng = np.random.default_rng(3)
    line = rng.normal(size=(60, 1)) @ rng.normal(size=(1, 7)) + 1.0
    with pytest.raises(InvalidDataError, match="spans only 1 dimension"):
        model.fit(line)
    assert model.n_features_in_ == 5
    np.testing.assert_array_equal(model.transform(x), before)
    with pytest.raises(InvalidParameterError, match="takes no auxiliary variable u"):
        model.fit_transform(x, u=blobs[1])  # refused as by fit, not ignored


def test_columns_of_very_different_scales_are_named_as_the_cause_of_a_rank_refusal():
    """Full-rank data with one column in other units read 'spans only 1 dimension(s) ... pass more varied samples'."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 5))
    x[:, 3] *= 1e6
    for model in (PCA(latent_dim=2), FastICA(latent_dim=2, random_state=0)):
        with pytest.raises(InvalidDataError, match=r"column 3's sd is .* Standardise the columns"):
            model.fit(x)
    # where standardising would not give the rank either (a duplicated column), the scales are not blamed
    x[:, 1] = x[:, 0]
    with pytest.raises(InvalidDataError, match="spans only") as refused:
        PCA(latent_dim=5).fit(x)
    assert "Standardise" not in str(refused.value)


def test_a_constant_column_gives_fastica_no_bare_numpy_warning():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 4))
    x[:, 2] = 5.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        z = FastICA(latent_dim=2, random_state=0).fit_transform(x)
    assert np.isfinite(z).all()
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]  # "invalid value encountered in divide"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # PYTHONWARNINGS=error: raised inside scikit-learn's fit
        FastICA(latent_dim=2, random_state=0).fit(x)
