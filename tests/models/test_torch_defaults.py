"""A fit is the same whatever torch defaults the calling program set: grad mode, inference mode, default dtype;
and those settings are the caller's again afterwards."""

import numpy as np
import pytest
import torch

from latentid.data.synthetic import SyntheticSpec
from latentid.models import IVAE, VAE, VaDE, load_model

FAST = dict(epochs=2, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def data():
    gen = SyntheticSpec.create(depth=2, obs_dim=4, components=3, seed=1).build()
    return gen.sample(240)


@pytest.fixture(scope="module")
def reference(data):
    return VaDE(2, 3, pretrain_epochs=1, n_restarts=1, **FAST).fit(data.x)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode, lambda: torch.set_grad_enabled(False)])
def test_a_fit_with_gradients_switched_off_by_the_caller_is_the_same_fit(data, reference, mode):
    """It failed with torch's 'element 0 of tensors does not require grad and does not have a grad_fn'."""
    with mode():
        model = VaDE(2, 3, pretrain_epochs=1, n_restarts=1, **FAST).fit(data.x)
        assert not torch.is_grad_enabled()  # the caller's mode, back after the fit
    np.testing.assert_array_equal(model.transform(data.x), reference.transform(data.x))
    with torch.no_grad():
        IVAE(2, **FAST).fit(data.x, u=data.c)
        VAE(2, **FAST).fit(data.x)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_float64_default_dtype_changes_neither_the_fit_nor_the_loaded_model(data, reference, tmp_path):
    """Under torch.set_default_dtype(torch.float64) every parameter came out float64 and a seeded fit gave another
    model (latents up to 3.7 apart); load_model built the saved networks in float64 too."""
    reference.save(tmp_path / "model")
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = VaDE(2, 3, pretrain_epochs=1, n_restarts=1, **FAST).fit(data.x)
        loaded = load_model(tmp_path / "model")
        assert torch.get_default_dtype() == torch.float64  # the caller's, back
    finally:
        torch.set_default_dtype(before)
    assert {p.dtype for p in model.module_.parameters()} == {torch.float32}
    assert {p.dtype for p in loaded.module_.parameters()} == {torch.float32}
    np.testing.assert_array_equal(model.transform(data.x), reference.transform(data.x))
    np.testing.assert_array_equal(loaded.transform(data.x), reference.transform(data.x))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_refined_inference_under_the_callers_torch_settings(data, reference):
    """transform(refine=True) differentiates (Gauss-Newton steps): under inference_mode it failed with 'does not
    require grad', and under a float64 default with 'mat1 and mat2 must have the same dtype'."""
    plain = reference.transform(data.x[:30], refine=True)
    with torch.inference_mode():
        np.testing.assert_array_equal(reference.transform(data.x[:30], refine=True), plain)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        np.testing.assert_array_equal(reference.transform(data.x[:30], refine=True), plain)
    finally:
        torch.set_default_dtype(before)
