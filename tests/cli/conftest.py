"""Fixtures of the command-line tests."""

import pytest

from latentid.data.synthetic import SyntheticSpec, save_simulation


@pytest.fixture(scope="session")
def small_simulation(tmp_path_factory):
    """A small file written like `latentid simulate`'s: 150 rows of 4 features (depth-2 mixing, seed 5), for
    tests of what commands do with run folders rather than of what they fit."""
    path = tmp_path_factory.mktemp("small-simulation") / "d.npz"
    gen = SyntheticSpec.create(depth=2, obs_dim=4, seed=5).build()
    save_simulation(path, gen, gen.sample(150))
    return path
