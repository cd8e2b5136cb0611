"""On a GPU: every deep model fits and resumes there, so does the command line, and a model fitted
there loads on the CPU with the same latents.

Skipped unless torch sees a GPU, and the suite hides GPUs unless LATENTID_TEST_GPU=1 (tests/conftest.py), so on a
GPU machine: ``LATENTID_TEST_GPU=1 pytest tests/models/test_cuda.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.models import IVAE, MFCVAE, VAE, VaDE, load_model
from latentid.models.fitting import _restart_generators

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# Fits this short leave latent dimensions inactive; the warning says so and is beside the point here.
pytestmark = [pytestmark, pytest.mark.filterwarnings("ignore:.*inactive:UserWarning")]
FAST = {"epochs": 3, "batch_size": 64, "random_state": 0, "device": "cuda"}
MODELS = {
    "VaDE": lambda: VaDE(pretrain_epochs=2, n_init=1, **FAST),
    "VAE": lambda: VAE(**FAST),
    "MFCVAE": lambda: MFCVAE(facets=[(1, 2), (1, 2)], pretrain_epochs=2, **FAST),
    "IVAE": lambda: IVAE(latent_dim=2, **FAST),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_a_model_fitted_on_the_gpu_loads_on_the_cpu_with_the_same_latents(gmm_data, tmp_path, name):
    x, _, c = gmm_data
    model = MODELS[name]()
    model.fit(x, u=c) if name == "IVAE" else model.fit(x)
    assert model.module_.x_shift.device.type == "cuda"
    extra = {"u": c} if name == "IVAE" else {}
    latents = model.transform(x, **extra)
    assert np.isfinite(latents).all()
    on_cpu = load_model(model.save(tmp_path / name), device="cpu")
    assert on_cpu.module_.x_shift.device.type == "cpu"
    np.testing.assert_allclose(on_cpu.transform(x, **extra), latents, atol=1e-4)


class Interrupt(Exception):
    pass


def _stop_after_epoch_2(event: dict) -> None:
    if event["stage"] == "train" and event["epoch"] == 2:
        raise Interrupt


def test_a_gpu_fit_stopped_part_way_resumes_to_the_uninterrupted_fit(gmm_data, tmp_path):
    x = gmm_data[0]
    settings = {**FAST, "epochs": 4, "pretrain_epochs": 1, "n_init": 1, "n_restarts": 1}
    straight = VaDE(**settings).fit(x)
    with pytest.raises(Interrupt):
        VaDE(checkpoint_dir=tmp_path, callback=_stop_after_epoch_2, **settings).fit(x)
    resumed = VaDE(checkpoint_dir=tmp_path, resume=True, **settings).fit(x)
    np.testing.assert_allclose(resumed.transform(x), straight.transform(x), atol=1e-4)


def test_gpu_weights_are_drawn_on_the_cpu_from_the_same_seed():
    train_gen, build_gen = _restart_generators(7, torch.device("cuda"))
    assert train_gen.device.type == "cuda" and build_gen.device.type == "cpu"
    assert torch.equal(torch.rand(5, generator=build_gen), torch.rand(5, generator=torch.Generator().manual_seed(7)))


def test_the_command_line_fits_on_the_gpu_and_reads_the_run_back(tmp_path):
    generator = SyntheticSpec.create(latent_dim=2, components=3, obs_dim=6, seed=0).build()
    save_simulation(tmp_path / "d.npz", generator, generator.sample(400, random_state=0))
    runner = CliRunner()
    fit = [
        "fit",
        "--data",
        tmp_path / "d.npz",
        "--out",
        tmp_path / "run",
        "--epochs",
        "3",
        "--pretrain-epochs",
        "1",
        "--device",
        "cuda",
    ]
    result = runner.invoke(app, [str(a) for a in fit])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["device"].startswith("cuda")
    for command in (
        ["transform", "--run", tmp_path / "run", "--data", tmp_path / "d.npz", "--out", tmp_path / "z.npy"],
        ["evaluate", "--run", tmp_path / "run", "--data", tmp_path / "d.npz"],
        ["explain", "--run", tmp_path / "run"],
    ):
        result = runner.invoke(app, [str(a) for a in command])
        assert result.exit_code == 0, result.output


def test_auto_takes_the_gpu_for_large_networks_only(gmm_data):
    x = gmm_data[0]
    small = VaDE(pretrain_epochs=1, n_init=1, **{**FAST, "device": "auto"}).fit(x)
    assert small.device_ == "cpu"
    wide = VaDE(pretrain_epochs=1, n_init=1, hidden_dims=[800, 800], **{**FAST, "epochs": 1, "device": "auto"}).fit(x)
    assert wide.device_.startswith("cuda")
