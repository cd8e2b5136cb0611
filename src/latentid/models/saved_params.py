"""The hyper-parameters a saved model records: the ones its fit used, not the ones set since.

scikit-learn's contract lets ``set_params`` change an estimator after ``fit`` without touching the fitted model
until the next fit. ``save`` must therefore record the parameters the weights were fitted with: a save after
``set_params(slope=0.5)`` that recorded the new slope would load as another model (latents off by 2.3 in a
measured case). A loaded model has no training folder of its own: ``checkpoint_dir`` and ``resume`` are
cleared on load, so that refitting it (or a clone of it in a grid search) never writes over the run folder
it was fitted in.
"""

from __future__ import annotations

from typing import Any

from latentid.checkpoint import jsonable

FIT_PARAMS_ATTR = "_fit_params"
TRAINING_FOLDER_PARAMS = {"checkpoint_dir": None, "resume": False}


def snapshot_params(estimator) -> dict[str, Any]:
    """``estimator.get_params(deep=False)`` as JSON values (tuples as lists, numpy scalars as Python's)."""
    return {key: jsonable(value) for key, value in estimator.get_params(deep=False).items()}


def remember_fit_params(estimator, params: dict[str, Any]) -> None:
    """Record ``params`` (a ``snapshot_params`` taken when the fit started) as those of the fitted model."""
    setattr(estimator, FIT_PARAMS_ATTR, params)


def params_to_save(estimator) -> dict[str, Any]:
    """The parameters the fitted ``estimator`` was fitted with (its current ones for a model fitted before they
    were recorded, e.g. unpickled from an older latentid)."""
    stored = getattr(estimator, FIT_PARAMS_ATTR, None)
    return dict(stored) if isinstance(stored, dict) else snapshot_params(estimator)


def params_to_load(params: dict[str, Any]) -> dict[str, Any]:
    """A saved config's parameters for the loaded estimator: its training folder cleared (where it has one), and
    MFC-VAE's facets back as the pairs JSON turned into lists (as its default, a tuple of tuples)."""
    loaded = {**params, **{key: value for key, value in TRAINING_FOLDER_PARAMS.items() if key in params}}
    if isinstance(loaded.get("facets"), list):
        loaded["facets"] = tuple(tuple(pair) if isinstance(pair, list) else pair for pair in loaded["facets"])
    return loaded


def fitted_latent_dim(estimator) -> int:
    """The latent dimension the fitted ``estimator`` was fitted with (its facets' sum for MFC-VAE), whatever
    ``set_params`` has set since: what its transform, names and latent prior have."""
    params = params_to_save(estimator)
    if params.get("facets") is not None:
        return int(sum(int(m) for m, _ in params["facets"]))
    return int(params["latent_dim"])


def fitted_facets(estimator) -> list[tuple[int, int]]:
    """MFC-VAE's (latent_dim_j, K_j) per facet as fitted, whatever ``set_params`` has set since."""
    return [(int(m), int(k)) for m, k in params_to_save(estimator)["facets"]]
