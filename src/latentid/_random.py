"""The one place where a ``random_state`` becomes generators. Nothing seeds global state."""

from __future__ import annotations

import numpy as np
import torch

from latentid.errors import InvalidParameterError

SeedLike = int | np.random.Generator | np.random.RandomState | None


def numpy_rng(random_state: SeedLike) -> np.random.Generator:
    """A numpy Generator from an int seed, an existing Generator, a legacy RandomState (scikit-learn's kind:
    a seed is drawn from it, so it advances as scikit-learn's estimators advance it), or None (fresh entropy)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(int(random_state.randint(0, 2**63 - 1, dtype=np.int64)))
    if random_state is None or (isinstance(random_state, (int, np.integer)) and random_state >= 0):
        return np.random.default_rng(random_state)
    raise InvalidParameterError(
        f"random_state must be a non-negative int, a numpy Generator or RandomState, or None. Got {random_state!r} "
        "instead."
    )


def torch_generator(random_state: SeedLike, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch Generator seeded from ``random_state`` (drawn through numpy if it is a Generator)."""
    seed = int(numpy_rng(random_state).integers(0, 2**63 - 1))
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
