"""device='auto': a GPU only for networks large enough to gain from it (checked here without a GPU, by letting
torch claim one; tests/models/test_cuda.py fits on a real one)."""

from __future__ import annotations

import pytest
import torch

from latentid.models import VAE, VaDE
from latentid.models.base import AUTO_GPU_MIN_WEIGHTS


@pytest.fixture
def gpu_seen(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_keeps_small_networks_on_the_cpu_and_sends_large_ones_to_the_gpu(gpu_seen):
    model = VaDE()
    assert model._resolve_device(n_weights=AUTO_GPU_MIN_WEIGHTS - 1).type == "cpu"
    assert model._resolve_device(n_weights=AUTO_GPU_MIN_WEIGHTS).type == "cuda"
    assert VaDE(device="cuda")._resolve_device(n_weights=10).type == "cuda"  # asked for by name: kept
    assert VaDE(device="cpu")._resolve_device(n_weights=10**9).type == "cpu"


def test_fit_counts_the_weights_of_the_networks_it_will_train(gpu_seen):
    small = VaDE(latent_dim=2)._weight_count(10, None)
    mnist = VaDE(latent_dim=10, hidden_dims=[2000, 500, 500], encoder_dims=[500, 500, 2000])._weight_count(784, None)
    assert small < AUTO_GPU_MIN_WEIGHTS <= mnist
    wider = VAE(latent_dim=2, hidden_dims=[64, 64])._weight_count(10, None)
    assert wider > VAE(latent_dim=2, hidden_dims=[8, 8])._weight_count(10, None)
    assert VaDE(device="cpu")._weight_count(10, None) is None  # nothing to choose


def test_without_a_gpu_auto_is_the_cpu_whatever_the_size():
    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU here")
    assert VaDE()._resolve_device(n_weights=10**9).type == "cpu"
