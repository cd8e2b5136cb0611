"""What a saved model records: the parameters its fit used, its config sealed, its training folder left behind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentid import checkpoint as ckpt
from latentid.errors import DataFileError
from latentid.models import PCA, VaDE, load_model

FAST = {"epochs": 2, "pretrain_epochs": 1, "n_init": 1, "batch_size": 64, "random_state": 0}


@pytest.fixture(scope="module")
def vade(gmm_data):
    return VaDE(**FAST).fit(gmm_data[0])


def test_save_records_the_fitted_parameters_not_those_set_since(vade, gmm_data, tmp_path):
    x = gmm_data[0]
    before = vade.transform(x)
    vade.set_params(slope=0.5, activation="relu")  # the fitted networks are unchanged until the next fit
    try:
        np.testing.assert_array_equal(vade.transform(x), before)
        loaded = load_model(vade.save(tmp_path / "m"))
    finally:
        vade.set_params(slope=0.2, activation="leaky_relu")
    assert loaded.slope == 0.2 and loaded.activation == "leaky_relu"
    np.testing.assert_array_equal(loaded.transform(x), before)


def test_a_linear_model_saves_its_fitted_parameters(gmm_data, tmp_path):
    x = gmm_data[0]
    pca = PCA(latent_dim=2, whiten=True).fit(x)
    before = pca.transform(x)
    pca.set_params(whiten=False, latent_dim=3)
    loaded = load_model(pca.save(tmp_path / "pca"))
    assert loaded.get_params()["whiten"] is True and loaded.latent_dim == 2
    np.testing.assert_array_equal(loaded.transform(x), before)


def test_numpy_integer_parameters_save_as_json(gmm_data, tmp_path):
    # GridSearchCV over np.arange(1, 4) sets numpy integers; fit took them, save raised a TypeError.
    model = PCA(latent_dim=np.int64(2)).fit(gmm_data[0])
    config = json.loads((model.save(tmp_path / "pca") / "config.json").read_text())
    assert config["latent_dim"] == 2 and config["params"]["latent_dim"] == 2


def test_a_failed_save_leaves_the_model_saved_there_before_whole(vade, gmm_data, tmp_path, monkeypatch):
    folder = vade.save(tmp_path / "m")
    other = VaDE(**{**FAST, "random_state": 1}).fit(gmm_data[0])
    before = {name: (folder / name).read_bytes() for name in ("model.pt", "config.json")}

    def refuse(*args, **kwargs):
        raise TypeError("Object of type int64 is not JSON serializable")

    monkeypatch.setattr(ckpt.json, "dumps", refuse)
    with pytest.raises(TypeError):
        other.save(folder)
    assert {name: (folder / name).read_bytes() for name in before} == before
    monkeypatch.undo()
    load_model(folder)


def test_a_loaded_model_does_not_train_into_the_run_folder_it_came_from(gmm_data, tmp_path):
    run = tmp_path / "run"
    model = VaDE(**FAST, checkpoint_dir=run).fit(gmm_data[0])
    files = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    assert any(name.startswith("restart-") for name in files)
    loaded = load_model(model.save(run / "model"))
    assert loaded.checkpoint_dir is None and loaded.resume is False
    loaded.fit(gmm_data[0][::-1].copy())  # a refit (or a clone in a grid search) on other data
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == files


@pytest.mark.parametrize("edit", [("slope", 0.5), ("activation", "relu")])
def test_a_hand_edited_config_is_refused(vade, tmp_path, edit):
    folder = vade.save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["params"][edit[0]] = edit[1]
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    with pytest.raises(DataFileError, match="config.json: edited or damaged"):
        load_model(folder)


def test_a_hand_edited_linear_config_is_refused(gmm_data, tmp_path):
    folder = PCA(latent_dim=2, whiten=True).fit(gmm_data[0]).save(tmp_path / "pca")
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_text(text.replace('"whiten": true', '"whiten": false'))
    with pytest.raises(DataFileError, match="config.json: edited or damaged"):
        load_model(folder)


def test_a_config_laid_out_anew_still_loads(vade, tmp_path):
    # The seal is over the values, not the file's layout: a config reformatted by a JSON tool keeps loading.
    folder = vade.save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(reversed(list(config.items())))))
    load_model(folder)


def test_a_numpy_random_state_seeds_as_in_scikit_learn(gmm_data, tmp_path):
    # Before: np.random.RandomState, scikit-learn's own kind of random_state, was refused by every estimator.
    x = gmm_data[0]
    first = VaDE(**{**FAST, "random_state": np.random.RandomState(3)}).fit(x)
    second = VaDE(**{**FAST, "random_state": np.random.RandomState(3)}).fit(x)
    np.testing.assert_array_equal(first.transform(x), second.transform(x))
    load_model(first.save(tmp_path / "m"))  # saved as no seed, like a Generator
    pca_runs = [PCA(latent_dim=2, random_state=np.random.RandomState(0)).fit(x).transform(x) for _ in range(2)]
    np.testing.assert_array_equal(*pca_runs)


def test_loading_names_a_missing_folder_and_a_linear_model_given_to_a_deep_class(gmm_data, tmp_path):
    from latentid.errors import InvalidParameterError

    with pytest.raises(DataFileError, match="no such folder"):  # it said "no config.json"
        load_model(tmp_path / "nowhere")
    folder = PCA(latent_dim=2).fit(gmm_data[0]).save(tmp_path / "pca")
    with pytest.raises(InvalidParameterError, match=r"holds a PCA model, not a VaDE"):  # "Upgrade latentid" before
        VaDE.load(folder)


def test_warnings_point_at_the_callers_line(gmm_data):
    # Before: a fixed stacklevel pointed at IVAE.fit's `super().fit` line (ivae.py) or at latentid's own files.
    import warnings

    import pandas as pd

    from latentid.models import IVAE

    x, _, c = gmm_data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        IVAE(epochs=1, batch_size=64, random_state=0, latent_dim=4).fit(x, u=c)  # 4 dims: some left inactive
        PCA(latent_dim=2).fit(x).transform(pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])]))
    ours = [w for w in caught if "inactive" in str(w.message) or "feature names" in str(w.message)]
    assert len(ours) == 2 and all(w.filename == __file__ for w in ours), [(w.filename, w.lineno) for w in ours]


@pytest.mark.parametrize("kind", ["deep", "linear"])
def test_a_save_stopped_between_its_writes_leaves_a_loadable_model(gmm_data, tmp_path, kind):
    """Saving over a saved model wrote the new weights, then the config: a crash between the two left weights and
    config that disagree, and neither model loaded. Now the weights wait beside the old ones until the config that
    records them is written."""
    x = gmm_data[0]
    make = (lambda seed: VaDE(**{**FAST, "random_state": seed})) if kind == "deep" else (lambda seed: PCA(2))
    old, new = make(0).fit(x), make(1).fit(x + (0.0 if kind == "deep" else 1.0))
    weights = ckpt.WEIGHTS_NAME if kind == "deep" else ckpt.ARRAYS_NAME
    folder, other = old.save(tmp_path / "m"), new.save(tmp_path / "other")
    # stopped before the config was written: the old model, whole
    (folder / (weights + ckpt.STAGED_SUFFIX)).write_bytes((other / weights).read_bytes())
    np.testing.assert_allclose(load_model(folder).transform(x), old.transform(x))
    # stopped after the config was written, before the new weights took the old ones' place: the new model
    (folder / ckpt.CONFIG_NAME).write_bytes((other / ckpt.CONFIG_NAME).read_bytes())
    np.testing.assert_allclose(load_model(folder).transform(x), new.transform(x))
    assert not (folder / (weights + ckpt.STAGED_SUFFIX)).exists()
    np.testing.assert_allclose(load_model(folder).transform(x), new.transform(x))
    # a first save (nothing there before) stopped at the same point: no weights under their name yet
    (other / weights).replace(other / (weights + ckpt.STAGED_SUFFIX))
    np.testing.assert_allclose(load_model(other).transform(x), new.transform(x))


def test_set_params_after_fit_changes_the_next_fit_only(gmm_data):
    """Names, facet columns, sample labels and the latent prior were read from the live parameters: after
    set_params they described another model than the fitted one (and set_output="pandas" failed)."""
    from latentid.models import MFCVAE

    x = gmm_data[0]
    pca = PCA(latent_dim=2).fit(x)
    pca.set_params(latent_dim=1)
    assert list(pca.get_feature_names_out()) == ["pca0", "pca1"]
    assert pca._latent_prior()[1].shape == (1, 2)
    frame = pca.set_output(transform="pandas").transform(x)
    assert list(frame.columns) == ["pca0", "pca1"]
    mfc = MFCVAE(facets=((1, 2), (1, 2)), **{**FAST, "n_init": 1}).fit(x)
    _, _, labels = mfc.sample(50, random_state=0)
    mfc.set_params(facets=((1, 2), (1, 3)))
    assert mfc.facet_slices_ == [slice(0, 1), slice(1, 2)]
    np.testing.assert_array_equal(mfc.sample(50, random_state=0)[2], labels)
    mfc.set_params(facets=((2, 2),))
    assert mfc.facet_slices_ == [slice(0, 1), slice(1, 2)] and len(mfc.get_feature_names_out()) == 2
    assert mfc.sample(5, random_state=0)[2].shape == (5, 2)


@pytest.mark.parametrize("source", [np.random.RandomState, np.random.default_rng])
def test_a_generator_as_random_state_is_saved_as_the_seed_the_fit_drew(gmm_data, tmp_path, source):
    """JSON cannot hold a RandomState or a Generator: it was saved as null, so the loaded model's scores were
    never the same twice."""
    from latentid.models import VAE

    x = gmm_data[0]
    model = VAE(epochs=2, batch_size=64, random_state=source(0)).fit(x)
    loaded = load_model(model.save(tmp_path / "m"))
    assert isinstance(loaded.random_state, int)
    assert loaded.score(x) == loaded.score(x)
    np.testing.assert_array_equal(loaded.transform(x), model.transform(x))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["params"].update(latent_dim="2"), "'latent_dim' parameter of VaDE must be an int"),
        (lambda c: c["params"].update(slope="0.2"), "'slope' parameter of VaDE must be a float"),
        (lambda c: c.update(fitted=[]), "'fitted' is not an object"),
        (lambda c: c.update(feature_names_in=["f0", "f1"]), "feature_names_in is not one name per feature"),
    ],
)
def test_a_config_of_wrong_values_is_refused_on_load_in_one_line(vade, tmp_path, edit, match):
    """A config.json whose digest matches (another writer, another version) but whose values are of the wrong type:
    TypeError / AttributeError tracebacks, a slope of text loaded, a short list of names refused the fitted frame."""
    folder = vade.save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config.pop(ckpt.CONFIG_DIGEST_KEY)
    edit(config)
    (folder / "config.json").write_text(json.dumps(ckpt.sealed(config)))
    with pytest.raises(DataFileError, match=match) as info:
        load_model(folder)
    assert "\n" not in str(info.value) and ".)." not in str(info.value)
