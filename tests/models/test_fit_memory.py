"""A deep fit that cannot fit in memory is refused in one line before its networks are built."""

import numpy as np
import pytest
import torch

from latentid import _memory
from latentid.errors import InvalidParameterError
from latentid.models import VAE, VaDE
from latentid.models.base import LatentModel
from latentid.models.fit_memory import fit_memory_need, mlp_weights


def _x(n_features: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(40, n_features)).astype(np.float32)


def test_the_weight_count_is_that_of_the_built_networks():
    model = VaDE(latent_dim=2, hidden_dims=[7, 9], encoder_dims=[5], device="cpu", epochs=1)
    module = model._build(6, torch.Generator())
    built = sum(p.numel() for part in (module.encoder, module.decoder) for p in part.parameters())
    weights, _ = fit_memory_need(6, 0, 2, [7, 9], [5], batch_rows=8, samples=1)
    assert weights == built == mlp_weights((6, 5)) + 2 * mlp_weights((5, 2)) + mlp_weights((2, 7, 9, 6))


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (VaDE(latent_dim=2, device="cpu"), r"VaDE's networks \(.* weights\) needs about .*narrower networks"),
        (VAE(latent_dim=2, hidden_dims=[8], iw_samples=10**9, device="cpu"), r"batches of activations.*iw_samples"),
    ],
)
def test_a_fit_beyond_the_memory_available_is_refused_before_anything_is_built(monkeypatch, model, expected):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**20)  # 1 MiB free
    monkeypatch.setattr(LatentModel, "_build", lambda *args, **kwargs: pytest.fail("built before the check"))
    with pytest.raises(InvalidParameterError, match=expected) as info:
        model.fit(_x(300))
    assert "\n" not in str(info.value)


def test_a_fit_within_the_memory_available_goes_ahead(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**30)
    VAE(latent_dim=2, hidden_dims=[8], epochs=1, device="cpu").fit(_x(5))


def test_the_working_copies_of_a_large_x_count_in_the_check(monkeypatch):
    """A fit holds about 3.6 copies of X at its peak, which the check left out: a 5 GB X was not refused."""
    x = np.random.default_rng(0).normal(size=(100_000, 10)).astype(np.float32)  # 4 MB; 12 MB of working copies
    monkeypatch.setattr(_memory, "available_bytes", lambda: 8 * 2**20)
    monkeypatch.setattr(LatentModel, "_build", lambda *args, **kwargs: pytest.fail("built before the check"))
    small = VAE(latent_dim=2, hidden_dims=[4], encoder_dims=[4], batch_size=32, device="cpu")
    with pytest.raises(InvalidParameterError, match=r"Fitting VAE on 1,000,000 values of X .* fewer rows"):
        small.fit(x)
