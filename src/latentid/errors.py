"""One error family for everything the user can get wrong.

Every subclass also derives from a builtin (ValueError, TypeError, ...) so callers that
catch the builtin keep working. Messages say what was expected, what was received and
how to fix it, on one line; the command line prints them and exits with code 2.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as SklearnNotFittedError


class LatentIDError(Exception):
    """Base class of latentid's own, user-facing errors."""


class InvalidParameterError(LatentIDError, ValueError):
    """A hyper-parameter or command-line option is out of its allowed range."""


class InvalidDataError(LatentIDError, ValueError):
    """Input data is malformed: wrong shape, non-finite values, too few samples."""


class InvalidDataTypeError(InvalidDataError, TypeError):
    """Data of a type that cannot be read as numbers (e.g. an object array holding a dict)."""


class DataFileError(LatentIDError, OSError):
    """A data or run file is missing, unreadable or of an unknown format."""


class NotFittedError(LatentIDError, SklearnNotFittedError):
    """A method that needs a fitted estimator was called before ``fit``; scikit-learn's NotFittedError (a
    ValueError and AttributeError) as well, so code written for scikit-learn estimators catches it."""


class TrainingDivergedError(LatentIDError, RuntimeError):
    """Training produced a non-finite loss; the last good checkpoint is kept."""


class LatentIDWarning(UserWarning):
    """What latentid warns of (an inactive latent dimension, a run-away fit, rare labels): a UserWarning, so filters
    and code written for those keep working, of its own class, so ``warnings.filterwarnings("ignore",
    category=LatentIDWarning)`` silences latentid's alone."""
