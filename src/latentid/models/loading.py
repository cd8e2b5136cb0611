"""One loader for every saved model: deep (``LatentModel``, torch weights) or linear (scikit-learn arrays)."""

from __future__ import annotations

import os
from pathlib import Path

from latentid import checkpoint as ckpt
from latentid.models.base import LatentModel
from latentid.models.linear import LINEAR_MODELS, LinearModel, load_linear


def load_model(path: str | os.PathLike, device: str | None = None) -> LatentModel | LinearModel:
    """Load any saved latentid model (VaDE, VAE, MFCVAE, IVAE, PCA, FastICA, GMMBaseline) from its folder.

    ``device`` places a deep model ('cpu', 'cuda', 'cuda:N', 'auto'; None: 'auto', as ``LatentModel.load``);
    linear models ignore it.
    """
    path = Path(path).expanduser()
    if ckpt.read_run_config(path).get("class") in LINEAR_MODELS:
        return load_linear(path)
    return LatentModel.load(path, device=device)
