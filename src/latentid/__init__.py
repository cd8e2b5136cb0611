"""latentid: identifiable deep latent variable models without auxiliary information."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names load on first use (PEP 562), so that `import latentid` is quick and the console script can
# catch a Ctrl-C that lands while numpy, torch and scikit-learn are still being imported.
_LAZY = {
    "Dataset": "latentid.data.io",
    "read_dataset": "latentid.data.io",
    "SyntheticGenerator": "latentid.data.synthetic",
    "SyntheticSpec": "latentid.data.synthetic",
    "LatentIDError": "latentid.errors",
    "LatentIDWarning": "latentid.errors",
    "assess": "latentid.theory",
}

__all__ = [
    "Dataset",
    "LatentIDError",
    "LatentIDWarning",
    "SyntheticGenerator",
    "SyntheticSpec",
    "assess",
    "read_dataset",
    "__version__",
]

if TYPE_CHECKING:
    from latentid.data.io import Dataset, read_dataset
    from latentid.data.synthetic import SyntheticGenerator, SyntheticSpec
    from latentid.errors import LatentIDError, LatentIDWarning
    from latentid.theory import assess


def __dir__() -> list[str]:  # the lazy names too, for tab completion
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'latentid' has no attribute {name!r}")
