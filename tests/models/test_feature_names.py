"""DataFrame column names: kept at fit as ``feature_names_in_``, checked at transform, saved with the model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from latentid.errors import InvalidDataError, InvalidDataTypeError
from latentid.models import IVAE, PCA, VaDE, load_model
from latentid.models.linear import load_linear

TINY = {"epochs": 1, "pretrain_epochs": 1, "n_restarts": 1, "device": "cpu", "random_state": 0, "threads": 1}
COLUMNS = [f"gene_{i}" for i in range(10)]


@pytest.fixture(scope="module")
def frame(gmm_data):
    return pd.DataFrame(gmm_data[0], columns=COLUMNS)


@pytest.fixture(scope="module")
def fitted(frame):
    return {"PCA": PCA(latent_dim=2).fit(frame), "VaDE": VaDE(latent_dim=2, n_init=1, **TINY).fit(frame)}


@pytest.mark.parametrize("name", ["PCA", "VaDE"])
def test_names_are_kept_and_a_reordered_frame_is_refused(fitted, frame, name):
    model = fitted[name]
    assert model.feature_names_in_.dtype == object and list(model.feature_names_in_) == COLUMNS
    reordered = frame[COLUMNS[::-1]]
    for method in [method for method in ("transform", "predict", "score") if hasattr(model, method)]:
        with pytest.raises(InvalidDataError, match="in another order.*X\\[model.feature_names_in_\\]"):
            getattr(model, method)(reordered)
    # Selected back in the fitted order, the same frame gives the same latents.
    np.testing.assert_array_equal(model.transform(reordered[list(model.feature_names_in_)]), model.transform(frame))


@pytest.mark.parametrize("name", ["PCA", "VaDE"])
def test_other_or_missing_columns_are_named(fitted, frame, name):
    model = fitted[name]
    with pytest.raises(InvalidDataError, match="lacks 'gene_3' and has 'other', not seen at fit"):
        model.transform(frame.rename(columns={"gene_3": "other"}))
    with pytest.raises(InvalidDataError, match="has 'extra', not seen at fit"):
        model.transform(frame.assign(extra=1.0))
    with pytest.raises(InvalidDataError, match="lacks 'gene_9'"):
        model.transform(frame.iloc[:, :9])


@pytest.mark.parametrize("name", ["PCA", "VaDE"])
def test_names_on_one_side_only_warn(fitted, frame, gmm_data, name):
    model = fitted[name]
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        z = model.transform(gmm_data[0])
    np.testing.assert_array_equal(z, model.transform(frame))
    unnamed = PCA(latent_dim=2).fit(gmm_data[0])
    assert not hasattr(unnamed, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        unnamed.transform(frame)


def test_a_refit_without_names_forgets_them(frame, gmm_data):
    model = PCA(latent_dim=2).fit(frame)
    model.fit(gmm_data[0])
    assert not hasattr(model, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.transform(gmm_data[0])


def test_integer_column_names_are_not_feature_names(gmm_data):
    model = PCA(latent_dim=2).fit(pd.DataFrame(gmm_data[0]))
    assert not hasattr(model, "feature_names_in_")


@pytest.mark.parametrize("estimator", [PCA(latent_dim=2), VaDE(latent_dim=2, epochs=1, n_init=1)])
def test_column_names_of_mixed_types_are_refused_at_fit_and_after(fitted, frame, estimator):
    mixed = frame.set_axis(["a", *range(1, frame.shape[1])], axis=1)
    with pytest.raises(InvalidDataTypeError, match=r"column names mix types \(int, str\).*astype\(str\)"):
        estimator.fit(mixed)
    with pytest.raises(InvalidDataTypeError, match="mix types"):
        fitted["PCA"].transform(mixed)


@pytest.mark.parametrize("name", ["PCA", "VaDE"])
def test_saved_models_keep_their_names(fitted, frame, tmp_path, name):
    fitted[name].save(tmp_path / name)
    loaded = (load_linear if name == "PCA" else load_model)(tmp_path / name)
    assert list(loaded.feature_names_in_) == COLUMNS and loaded.feature_names_in_.dtype == object
    with pytest.raises(InvalidDataError, match="in another order"):
        loaded.transform(frame[COLUMNS[::-1]])


def test_ivae_checks_the_names_of_x_beside_u(frame, gmm_data):
    labels = gmm_data[2]
    model = IVAE(latent_dim=2, **TINY).fit(frame, u=labels)
    assert list(model.feature_names_in_) == COLUMNS
    with pytest.raises(InvalidDataError, match="in another order"):
        model.transform(frame[COLUMNS[::-1]], u=labels)


def test_set_output_pandas_names_the_latents_and_keeps_the_index(frame, gmm_data):
    indexed = frame.set_axis(range(1000, 1000 + len(frame)))
    model = IVAE(latent_dim=2, **TINY).set_output(transform="pandas").fit(indexed, u=gmm_data[2])
    out = model.transform(indexed, u=gmm_data[2])
    assert list(out.columns) == ["ivae0", "ivae1"] and out.index.equals(indexed.index)
    assert list(model.get_feature_names_out()) == ["ivae0", "ivae1"]
    with pytest.raises(InvalidDataError, match="input_features is not equal to feature_names_in_"):
        model.get_feature_names_out(COLUMNS[::-1])


def test_fitting_a_frame_raises_no_feature_name_warning(frame, gmm_data):
    # fit's own checks read the validated array; they must not warn that it lacks the frame's names.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names")
        VaDE(latent_dim=2, n_init=1, **TINY).fit(frame)
        IVAE(latent_dim=2, **TINY).fit_transform(frame, u=gmm_data[2])


def test_names_repeated_otherwise_are_not_called_another_order(gmm_data):
    x = gmm_data[0][:, :4]
    model = PCA(latent_dim=2).fit(pd.DataFrame(x, columns=["a", "a", "b", "c"]))
    with pytest.raises(InvalidDataError, match=r"names its columns 'a', 'b', 'b', 'c' where the fit had 'a', 'a'"):
        model.transform(pd.DataFrame(x, columns=["a", "b", "b", "c"]))
