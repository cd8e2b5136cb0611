"""The column names of a DataFrame X: kept at fit as ``feature_names_in_``, checked wherever X is read again.

The models compute on arrays, so without this check a frame whose columns are in another order at
transform than at fit would silently give other latents. The rules are scikit-learn's: names are kept
only when every column name is a string (names of mixed types are refused); the same names in another
order, or other names, are refused; names on one side only are a warning.
"""

from __future__ import annotations

import warnings

import numpy as np

from latentid._warnings import caller_stacklevel
from latentid.errors import DataFileError, InvalidDataError, InvalidDataTypeError, LatentIDWarning

ATTRIBUTE = "feature_names_in_"
SHOWN = 5  # names listed in an error before '...'


def column_names(X) -> np.ndarray | None:
    """The column names of X (a pandas DataFrame, or anything with ``columns``) as an object array
    (n_features,), when every name is a string; None for arrays and for frames with other names."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = list(columns)
    strings = [isinstance(name, str) for name in names]
    if any(strings) and not all(strings):  # scikit-learn refuses these too: which order would be checked?
        kinds = sorted({type(name).__name__ for name in names})
        raise InvalidDataTypeError(
            f"X's column names mix types ({', '.join(kinds)}): names are kept and checked only when all are "
            "strings. Use X.columns = X.columns.astype(str), or pass X.to_numpy() to drop them."
        )
    if not names or not all(strings):
        return None
    return np.asarray(names, dtype=object)


def remember_names(estimator, X) -> None:
    """At fit: set ``estimator.feature_names_in_`` from X's column names, or remove an earlier fit's."""
    set_names(estimator, column_names(X))


def set_names(estimator, names) -> None:
    """Set ``feature_names_in_`` to ``names`` (a sequence of str, one per feature), or remove it (None)."""
    if names is not None:
        setattr(estimator, ATTRIBUTE, np.asarray([str(n) for n in names], dtype=object))
    elif hasattr(estimator, ATTRIBUTE):
        delattr(estimator, ATTRIBUTE)


def _listing(names) -> str:
    shown = ", ".join(repr(str(n)) for n in list(names)[:SHOWN])
    return shown + (", ..." if len(names) > SHOWN else "")


def check_names(estimator, X) -> None:
    """Before X is read by a fitted estimator: refuse columns named otherwise, or ordered otherwise, than at
    fit (one line naming them); warn when only one of fit and X had names."""
    fitted = getattr(estimator, ATTRIBUTE, None)
    given = column_names(X)
    name = type(estimator).__name__
    if fitted is None and given is None:
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {name} was fitted without feature names.",
            LatentIDWarning,
            stacklevel=caller_stacklevel(),
        )
        return
    if given is None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with feature names; its columns are taken "
            "in the fitted order.",
            LatentIDWarning,
            stacklevel=caller_stacklevel(),
        )
        return
    fitted_list, given_list = [str(n) for n in fitted], [str(n) for n in given]
    if fitted_list == given_list:
        return
    missing = [n for n in fitted_list if n not in given_list]
    unexpected = [n for n in given_list if n not in fitted_list]
    if sorted(fitted_list) == sorted(given_list):
        raise InvalidDataError(
            f"X has the columns {name} was fitted with, in another order. Select them in the fitted order: "
            f"X[model.feature_names_in_] ({_listing(fitted_list)})."
        )
    parts = []
    if missing:
        parts.append(f"lacks {_listing(missing)}")
    if unexpected:
        parts.append(f"has {_listing(unexpected)}, not seen at fit")
    if not parts:  # the same names, repeated otherwise (a, a, b against a, b, b)
        parts.append(f"names its columns {_listing(given_list)} where the fit had {_listing(fitted_list)}")
    raise InvalidDataError(
        f"X's columns differ from those {name} was fitted with: it {' and '.join(parts)}. "
        "Pass the fitted columns: X[model.feature_names_in_]."
    )


def saved_names(estimator) -> list[str] | None:
    """``feature_names_in_`` as a JSON list for a saved model's config (None when fitted without names)."""
    names = getattr(estimator, ATTRIBUTE, None)
    return None if names is None else [str(n) for n in names]


def check_saved_names(saved, n_features: int, path) -> None:
    """A saved config's ``feature_names_in``: None, or one name (text) per feature; DataFileError otherwise (a
    short list loaded, then refused the very frame the model was fitted on)."""
    if saved is None:
        return
    if not (isinstance(saved, list) and len(saved) == n_features and all(isinstance(n, str) for n in saved)):
        raise DataFileError(
            f"{path}: config.json's feature_names_in is not one name per feature ({n_features}): the file was edited "
            "or damaged. Save the model again."
        )


def restore_names(estimator, saved) -> None:
    """Set ``feature_names_in_`` from a saved config's list (nothing for None or an older config)."""
    if isinstance(saved, list) and saved and all(isinstance(n, str) for n in saved):
        setattr(estimator, ATTRIBUTE, np.asarray(saved, dtype=object))


def names_out(estimator, input_features=None) -> np.ndarray:
    """``get_feature_names_out``: the latent columns' names, '<class><i>' (e.g. 'vade0', 'vade1'), as an object
    array (latent_dim,). ``input_features``, when given, must be the fitted input columns (scikit-learn's rule)."""
    if input_features is not None:
        given = [str(n) for n in input_features]
        fitted = getattr(estimator, ATTRIBUTE, None)
        if fitted is not None and given != [str(n) for n in fitted]:
            raise InvalidDataError("input_features is not equal to feature_names_in_. Pass the fitted columns or None.")
        if len(given) != estimator.n_features_in_:
            raise InvalidDataError(
                f"input_features should have length equal to the number of features ({estimator.n_features_in_}), "
                f"got {len(given)}."
            )
    from latentid.models.saved_params import fitted_latent_dim

    prefix = type(estimator).__name__.lower()
    return np.asarray([f"{prefix}{i}" for i in range(fitted_latent_dim(estimator))], dtype=object)
