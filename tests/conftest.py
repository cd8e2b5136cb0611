"""Shared fixtures: tiny data from the paper's model class, made with numpy alone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# The suite runs on the CPU everywhere, also where torch sees a GPU: its exact-equality checks (resume, save/load,
# seeds) are the CPU's, and many tests feed CPU tensors to a model's parts. A GPU's own checks are
# tests/models/test_cuda.py, run on a GPU machine with LATENTID_TEST_GPU=1. Set before torch touches CUDA, and
# inherited by the command lines the tests start.
if os.environ.get("LATENTID_TEST_GPU") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def make_gmm_data(n: int = 300, n_features: int = 10, seed: int = 0, noise: float = 0.01):
    """z from a 4-component 2-D GMM, x = a random 3-layer leaky-ReLU MLP(z) + noise.

    Returns x (n, n_features) float32, z (n, 2) float32, c (n,) int64.
    """
    rng = np.random.default_rng(seed)
    means = np.array([[-3.0, -3.0], [3.0, -3.0], [-3.0, 3.0], [3.0, 3.0]])
    c = rng.integers(0, 4, size=n)
    z = means[c] + 0.7 * rng.standard_normal((n, 2))
    h = z
    widths = [2, n_features, n_features, n_features]
    for i in range(3):
        h = h @ (rng.standard_normal((widths[i], widths[i + 1])) / np.sqrt(widths[i]))
        if i < 2:
            h = np.where(h > 0, h, 0.2 * h)
    x = h + noise * rng.standard_normal(h.shape)
    return x.astype(np.float32), z.astype(np.float32), c.astype(np.int64)


@pytest.fixture(scope="session")
def gmm_data():
    """(x, z, c) with 300 samples and 10 features."""
    return make_gmm_data()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny tensors run fastest on one thread, and the test machine's cores are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder with the published MNIST / Fashion-MNIST files ($LATENTID_DATA, else <repo>/../shared/data).

    Skips the test where a checkout has neither: the files are never downloaded by tests.
    """
    root = Path(os.environ.get("LATENTID_DATA") or SHARED_DATA)
    if not (root / "mnist").is_dir():
        pytest.skip(f"no MNIST files in {root}; set LATENTID_DATA to the folder holding mnist/ and fashion-mnist/")
    return root


@pytest.fixture
def fits(monkeypatch):
    """Every fit a seed-consistency study makes: model name, seed and a copy of the X it was given."""
    from latentid.experiments import consistency as study

    calls = []
    real = study.make_model

    def spy(name, **params):
        model = real(name, **params)
        fit = model.fit

        def recording_fit(X, u=None):
            calls.append({"model": name, "seed": params.get("random_state"), "x": np.array(X)})
            return fit(X)

        model.fit = recording_fit
        return model

    monkeypatch.setattr(study, "make_model", spy)
    return calls


@pytest.fixture(scope="session", autouse=True)
def _no_child_process_outlives_the_session():
    """Python joins non-daemon multiprocessing children at exit: one left waiting by a failed test would hang
    pytest after its summary (a CI run did). Kill any that remain, and say so."""
    import multiprocessing
    import warnings

    yield
    leftover = multiprocessing.active_children()
    for child in leftover:
        child.kill()
        child.join(5)
    if leftover:
        warnings.warn(f"killed {len(leftover)} child process(es) a test left running: {leftover}", stacklevel=1)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF  # inside the deflate stream: zlib.error, which is no OSError
    path.write_bytes(bytes(raw))


GZ_SPOILERS = {"truncated": _truncate, "damaged": _damage}


@pytest.fixture(params=sorted(GZ_SPOILERS))
def spoil_gz(request):
    """Each way of spoiling a .gz file in place: cut in half ('truncated'), one byte of its deflate stream
    flipped ('damaged'). The tests that take it run once per way."""
    return GZ_SPOILERS[request.param]
