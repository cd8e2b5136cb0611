"""The scikit-learn contract of VaDE and VAE: fit/transform/predict/score/sample/save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError, NotFittedError
from latentid.models import VAE, LatentModel, VaDE, load_model

FAST = {"epochs": 3, "batch_size": 64, "random_state": 0}
MODELS = [
    pytest.param(lambda **kw: VaDE(pretrain_epochs=2, n_init=1, **{**FAST, **kw}), id="VaDE"),
    pytest.param(lambda **kw: VAE(**{**FAST, **kw}), id="VAE"),
]


@pytest.fixture(scope="module")
def fitted(gmm_data):
    x = gmm_data[0]
    return {
        "VaDE": VaDE(pretrain_epochs=2, n_init=1, **FAST).fit(x),
        "VAE": VAE(**FAST).fit(x),
    }


@pytest.mark.parametrize("name", ["VaDE", "VAE"])
def test_fitted_shapes_and_attributes(fitted, gmm_data, name):
    model, x = fitted[name], gmm_data[0]
    z = model.transform(x)
    assert z.shape == (300, 2) and z.dtype == np.float32 and np.isfinite(z).all()
    if name == "VaDE":
        proba = model.predict_proba(x)
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)  # float64 sums: numpy's choice(p=row) takes them
        rng = np.random.default_rng(0)
        assert all(rng.choice(proba.shape[1], p=row) >= 0 for row in proba)
        assert model.predict(x).shape == (300,)
    else:  # no mixture, nothing to predict: hidden, not all zeros
        assert not any(hasattr(model, method) for method in ("predict", "predict_proba", "fit_predict"))
    assert np.isfinite(model.score(x))
    assert model.score_samples(x).shape == (300,)
    assert model.n_iter_ == 3 and len(model.elbo_history_) == 3 and model.n_features_in_ == 10
    k = 4 if name == "VaDE" else 1
    assert model.weights_.shape == (k,) and model.means_.shape == (k, 2) and model.covariances_.shape == (k, 2, 2)
    assert model.noise_scale_ > 0
    linears = [m for m in model.decoder_ if isinstance(m, torch.nn.Linear)]
    assert linears[0].in_features == 2 and linears[-1].out_features == 10
    widths = [lin.in_features for lin in linears] + [10]
    assert widths == sorted(widths), "default decoder widths never shrink (injective)"


@pytest.mark.parametrize("name", ["VaDE", "VAE"])
def test_sample(fitted, name):
    x, z, c = fitted[name].sample(7, random_state=1)
    assert x.shape == (7, 10) and z.shape == (7, 2) and c.shape == (7,)
    x2, _, _ = fitted[name].sample(7, random_state=1)
    np.testing.assert_array_equal(x, x2)


@pytest.mark.parametrize("make", MODELS)
def test_training_increases_elbo(make, gmm_data):
    model = make(epochs=6).fit(gmm_data[0])
    assert model.elbo_history_[-1] > model.elbo_history_[0]
    assert model.val_elbo_history_[-1] > model.val_elbo_history_[0]


@pytest.mark.parametrize("make", MODELS)
def test_same_seed_same_result_and_clone(make, gmm_data):
    x = gmm_data[0]
    a = make()
    b = clone(a)
    assert b.get_params() == a.get_params()
    za, zb = a.fit(x).transform(x), b.fit(x).transform(x)
    assert za.tobytes() == zb.tobytes()
    assert a.score(x) == b.score(x)
    zc = make(random_state=1).fit(x).transform(x)
    assert not np.array_equal(za, zc)


@pytest.mark.parametrize("make", MODELS)
def test_fit_does_not_touch_hyper_parameters(make, gmm_data):
    model = make()
    before = model.get_params()
    model.fit(gmm_data[0])
    assert model.get_params() == before


def test_fit_predict_equals_fit_then_predict(gmm_data):
    x = gmm_data[0]
    make = MODELS[0].values[0]
    np.testing.assert_array_equal(make().fit_predict(x), make().fit(x).predict(x))


@pytest.mark.parametrize("name", ["VaDE", "VAE"])
def test_save_load_round_trip(fitted, gmm_data, tmp_path, name):
    model, x = fitted[name], gmm_data[0]
    folder = model.save(tmp_path / "run")
    assert json.loads((folder / "config.json").read_text())["class"] == name
    for loaded in (type(model).load(folder), load_model(folder), LatentModel.load(folder)):
        assert type(loaded) is type(model)
        assert loaded.transform(x).tobytes() == model.transform(x).tobytes()
        if hasattr(model, "predict"):
            np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
        assert loaded.score(x) == model.score(x)
        assert loaded.n_iter_ == model.n_iter_


def test_load_refuses_other_class_and_non_runs(fitted, tmp_path):
    folder = fitted["VAE"].save(tmp_path / "vae")
    with pytest.raises(InvalidParameterError, match="holds a VAE model, not a VaDE"):
        VaDE.load(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match="not a saved latentid model"):
        load_model(tmp_path / "empty")
    (folder / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataFileError, match="model.pt: damaged .*SHA-256"):
        load_model(folder)
    config = json.loads((folder / "config.json").read_text())
    del config["config_sha256"]  # as saved before configs were sealed: the weights' digest is checked alone
    config["weights_sha256"] = 5  # an edited digest does not switch the check off
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataFileError, match=r"config.json: its weights_sha256 is not a SHA-256 \(5\)"):
        load_model(folder)
    del config["weights_sha256"]  # as saved before models recorded it: torch's own checks only
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataFileError, match="not a readable"):
        load_model(folder)


def test_not_fitted_raises(gmm_data):
    for method in ("transform", "predict", "predict_proba", "score"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(VaDE(), method)(gmm_data[0])
    with pytest.raises(NotFittedError):
        VaDE().sample(3)
    with pytest.raises(NotFittedError):
        _ = VaDE().means_


def test_not_fitted_is_caught_as_scikit_learns_not_fitted_error(gmm_data):
    """Code written for scikit-learn estimators catches sklearn.exceptions.NotFittedError."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    from latentid.models import PCA

    for model in (VaDE(), PCA()):
        with pytest.raises(SklearnNotFittedError):
            model.transform(gmm_data[0])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_components": 0}, "The 'n_components' parameter of VaDE must be an int >= 1. Got 0 instead."),
        ({"covariance": "spherical"}, "'covariance' parameter of VaDE must be one of 'diag', 'full'"),
        ({"lr": -1.0}, "'lr' parameter of VaDE must be a float > 0.0"),
        ({"hidden_dims": [8, 0]}, "must be a list of at most 1,000 ints >= 1 or None. Got [8, 0] instead."),
        # 100,000 layers took minutes to build with nothing shown; the message shows the list's first 200 characters
        ({"hidden_dims": [8] * 100_000}, "at most 1,000 ints >= 1 or None. Got a list of 100,000 ([8, 8, 8"),
        ({"device": "gpu"}, "'device' parameter"),
        ({"validation_fraction": 1.0}, "'validation_fraction' parameter"),
        ({"random_state": -3}, "'random_state' parameter"),
        ({"epochs": 2.5}, "'epochs' parameter of VaDE must be an int >= 1. Got 2.5 instead."),
    ],
)
def test_bad_parameters(gmm_data, params, message):
    with pytest.raises(InvalidParameterError) as info:
        VaDE(**params).fit(gmm_data[0])
    assert message in str(info.value) and "\n" not in str(info.value) and len(str(info.value)) < 400


def test_bad_data(gmm_data, fitted):
    x = gmm_data[0]
    with pytest.raises(InvalidDataError, match="needs at least 4 training samples"):
        VaDE(**FAST).fit(x[:4])
    with pytest.raises(InvalidParameterError, match="'latent_dim' parameter of VaDE must be <= n_features"):
        VaDE(latent_dim=12, **FAST).fit(x)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        VaDE(**FAST).fit(bad)
    with pytest.raises(InvalidDataError, match="X has 9 features, but VaDE is expecting 10 features as input"):
        fitted["VaDE"].transform(x[:, :9])
    with pytest.raises(InvalidDataError, match="needs X in \\[0, 1\\]"):
        VAE(likelihood="bernoulli", **FAST).fit(x)


def test_bernoulli_likelihood_fits_binary_data(gmm_data):
    x = (gmm_data[0] > 0).astype(np.float32)
    model = VAE(likelihood="bernoulli", **FAST).fit(x)
    assert model.noise_scale_ is None and np.isfinite(model.score(x))
    assert set(np.unique(model.sample(20, random_state=0)[0])) <= {0.0, 1.0}


def test_early_stopping_triggers(gmm_data):
    model = VAE(epochs=50, patience=2, tol=1e6, batch_size=64, random_state=0).fit(gmm_data[0])
    assert model.n_iter_ == 3  # no gain reaches tol: patience runs out after 2 more epochs
    # but the best held-out weights are kept, whatever the size of their gain
    assert model.best_epoch_ == 1 + int(np.argmax(model.val_elbo_history_))


def test_threads_are_set_for_the_fit_and_restored(gmm_data):
    during = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # conftest pins 1; start from another value so that a restore is visible
    try:
        VAE(threads=1, callback=lambda event: during.append(torch.get_num_threads()), **FAST).fit(gmm_data[0])
        assert during and set(during) == {1}
        assert torch.get_num_threads() == 2
        during.clear()
        VAE(threads=None, callback=lambda event: during.append(torch.get_num_threads()), **FAST).fit(gmm_data[0])
        assert set(during) == {2}, "threads=None leaves torch's setting alone"
    finally:
        torch.set_num_threads(before)


def test_restarts_keep_the_module_with_the_best_held_out_score(gmm_data, tmp_path):
    """Each restart's own weights (from its checkpoint) scored afresh: the kept module is the best one."""
    import copy

    from latentid.checkpoint import load_checkpoint

    x = gmm_data[0]
    model = VAE(n_restarts=3, validation_fraction=0.5, checkpoint_dir=tmp_path, **FAST).fit(x)
    own_scores, transforms = [], []
    for r in range(3):
        other = copy.deepcopy(model)
        other.module_.load_state_dict(load_checkpoint(tmp_path / f"restart-{r + 1}.pt")["best"]["model"])
        own_scores.append(float(np.mean(other.score_samples(x, random_state=0))))
        transforms.append(other.transform(x))
    best = int(np.argmax(own_scores))
    # with this seed the restarts differ clearly and the best is not the last one
    assert best != 2 and sorted(own_scores)[-1] - sorted(own_scores)[-2] > 1.0, own_scores
    assert model.best_restart_ == best
    np.testing.assert_array_equal(model.transform(x), transforms[best])
    assert float(np.mean(model.score_samples(x, random_state=0))) == pytest.approx(max(own_scores), abs=1e-9)
    assert len(model.restart_scores_) == 3


@pytest.mark.parametrize("estimator", [VaDE(), VAE()], ids=["VaDE", "VAE"])
def test_sklearn_parameter_checks(estimator):
    name = type(estimator).__name__
    check_parameters_default_constructible(name, estimator)
    check_no_attributes_set_in_init(name, estimator)
    check_get_params_invariance(name, estimator)
    check_set_params(name, estimator)


def test_vae_prior_is_standard_normal(fitted):
    model = fitted["VAE"]
    np.testing.assert_array_equal(model.means_, np.zeros((1, 2)))
    np.testing.assert_array_equal(model.covariances_, np.eye(2)[None])
    assert list(model.prior_.parameters()) == []


def test_resume_needs_a_checkpoint_dir(gmm_data):
    with pytest.raises(InvalidParameterError, match="'resume' parameter of VaDE is True but 'checkpoint_dir' is None"):
        VaDE(resume=True, **FAST).fit(gmm_data[0])


def test_without_validation_the_last_weights_are_kept(gmm_data):
    model = VAE(validation_fraction=0.0, patience=1, **FAST).fit(gmm_data[0])
    assert model.val_elbo_history_ == [None] * 3 and model.best_epoch_ == 3 and model.n_iter_ == 3


def test_too_few_samples_names_only_what_the_model_has():
    """A VAE has no components to lower; VaDE names its n_components, MFC-VAE its facets."""
    from latentid.models import MFCVAE

    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    only_validation = r"^VAE needs at least 2 training samples; .* lower validation_fraction\.$"
    with pytest.raises(InvalidDataError, match=only_validation):
        VAE().fit(x)
    with pytest.raises(InvalidDataError, match=r"\(n_components=4\).*lower n_components / validation_fraction"):
        VaDE().fit(x)
    with pytest.raises(InvalidDataError, match=r"\(facets=\[\(1, 2\), \(1, 3\)\]\).*lower a facet's components"):
        MFCVAE(facets=[(1, 2), (1, 3)]).fit(x)


def test_loading_a_run_folder_points_at_its_model_folder(tmp_path, gmm_data):
    run_folder = tmp_path / "run"
    VAE(latent_dim=2, epochs=1, batch_size=64, random_state=0).fit(gmm_data[0][:200]).save(run_folder / "model")
    with pytest.raises(DataFileError, match=r"no config\.json\)\. Pass .*run/model, the model folder of this run\.$"):
        load_model(run_folder)
    assert load_model(run_folder / "model").latent_dim == 2


def test_a_u_given_to_a_model_of_x_alone_is_refused_not_ignored(gmm_data):
    """VaDE, VAE and PCA used to accept u= at fit and transform and silently fit x alone."""
    from latentid.models import PCA

    x, _, c = gmm_data
    for model in (VaDE(2, 4, epochs=1, pretrain_epochs=1, n_restarts=1), VAE(2, epochs=1), PCA(latent_dim=2)):
        with pytest.raises(InvalidParameterError, match="reads x alone and takes no auxiliary variable u"):
            model.fit(x, u=c)
    fitted = VAE(2, epochs=1).fit(x)
    with pytest.raises(InvalidParameterError, match="drop u="):
        fitted.transform(x, u=c)


def test_a_config_that_no_longer_fits_the_weights_names_the_first_mismatch(fitted, tmp_path):
    folder = fitted["VaDE"].save(tmp_path / "vade")
    config = json.loads((folder / "config.json").read_text())
    del config["config_sha256"]  # as saved before configs were sealed
    config["params"]["latent_dim"] = config["latent_dim"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataFileError, match=r"model.pt does not match config.json \(size mismatch for [a-z._]+weight"):
        load_model(folder)
