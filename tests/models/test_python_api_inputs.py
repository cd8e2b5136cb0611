"""What a notebook user passes that is not the plain arrays of the examples: a tensor in a graph, a device name of
another library, a path with '~', an array where a Dataset is due, one point for a prior's density."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentid.data.synthetic import SyntheticSpec
from latentid.errors import InvalidDataError, InvalidParameterError
from latentid.models import PCA, VaDE

X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    return VaDE(latent_dim=2, n_components=2, epochs=1, pretrain_epochs=1, n_restarts=1, random_state=0).fit(X)


def test_a_tensor_that_requires_grad_is_read_as_its_values(fitted):
    tensor = torch.from_numpy(X).requires_grad_()
    np.testing.assert_array_equal(fitted.transform(tensor), fitted.transform(X))


def test_load_refuses_a_device_torch_does_not_know_in_one_line(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    with pytest.raises(InvalidParameterError, match=r"must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got 'tpu'"):
        VaDE.load(tmp_path / "m", device="tpu")


def test_save_and_load_read_a_tilde_as_the_home_folder(fitted, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    fitted.save("~/deep")
    PCA(latent_dim=2).fit(X).save("~/linear")
    assert (tmp_path / "deep" / "config.json").is_file() and (tmp_path / "linear" / "config.json").is_file()
    assert not (tmp_path / "~").exists()
    np.testing.assert_array_equal(VaDE.load("~/deep").transform(X), fitted.transform(X))
    assert PCA.load("~/linear").transform(X).shape == (200, 2)


def test_fit_run_given_an_array_says_what_it_takes(tmp_path):
    from latentid.runs import fit_run

    with pytest.raises(InvalidParameterError, match="fit_run takes a latentid Dataset .*got ndarray"):
        fit_run("pca", X, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_priors_density_of_one_point_says_how_to_pass_it():
    prior = SyntheticSpec.create(latent_dim=2, seed=0).build().prior
    with pytest.raises(InvalidDataError, match=r"z must have shape \(n, 2\); got \(2,\). Pass one point as z\[None\]"):
        prior.log_prob(np.zeros(2))
    assert prior.log_prob(np.zeros((1, 2))).shape == (1,)
