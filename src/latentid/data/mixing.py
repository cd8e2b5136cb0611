"""The mixing function f of the paper's model class: an MLP with a linear last layer.

Weights follow the torch convention: ``weights[l]`` has shape (n_out, n_in) and a layer maps
h -> h @ W.T + b. Activations are applied after every layer but the last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from latentid.data.io import dense_array
from latentid.errors import InvalidDataError, InvalidParameterError


def _leaky(slope: float) -> tuple[Callable, Callable, Callable]:
    return (
        lambda p: np.where(p > 0, p, slope * p),
        lambda p: np.where(p > 0, 1.0, slope),
        lambda h: np.where(h > 0, h, h / slope),
    )


def _gelu(p):
    from scipy.special import erf

    return 0.5 * p * (1.0 + erf(p / np.sqrt(2.0)))


def _gelu_grad(p):
    from scipy.special import erf

    return 0.5 * (1.0 + erf(p / np.sqrt(2.0))) + p * np.exp(-0.5 * p**2) / np.sqrt(2.0 * np.pi)


def _activation_table(slope: float) -> dict[str, tuple[Callable, Callable, Callable | None]]:
    """name -> (function, derivative, inverse or None). Keys use the CLI spelling."""
    sig = lambda p: 1.0 / (1.0 + np.exp(-p))  # noqa: E731
    return {
        "leaky-relu": _leaky(slope),
        "relu": (lambda p: np.maximum(p, 0.0), lambda p: (p > 0).astype(p.dtype), None),
        "tanh": (np.tanh, lambda p: 1.0 - np.tanh(p) ** 2, lambda h: np.arctanh(np.clip(h, -1 + 1e-12, 1 - 1e-12))),
        "sigmoid": (sig, lambda p: sig(p) * (1.0 - sig(p)), None),
        "linear": (lambda p: p, lambda p: np.ones_like(p), lambda h: h),
        # Smooth activations some models offer; named here so the theory can say they leave it.
        "elu": (lambda p: np.where(p > 0, p, np.expm1(p)), lambda p: np.where(p > 0, 1.0, np.exp(p)), None),
        "gelu": (_gelu, _gelu_grad, None),
    }


ACTIVATIONS = ("leaky-relu", "relu", "tanh", "sigmoid", "linear", "elu", "gelu")
PIECEWISE_AFFINE = frozenset({"leaky-relu", "relu", "linear"})


def normalise_activation(name: str) -> str:
    """Accept 'leaky_relu', 'LeakyReLU', 'leaky-relu' ...; return the canonical CLI spelling."""
    key = name.strip().lower().replace("_", "-").replace("leakyrelu", "leaky-relu")
    if key not in ACTIVATIONS:
        raise InvalidParameterError(f"Unknown activation '{name}'. Use one of: {', '.join(ACTIVATIONS)}.")
    return key


@dataclass(frozen=True, eq=False)
class MixingMLP:
    """x = f(z): ``len(weights)`` affine layers, ``activation`` between them, linear output.

    weights : list of ndarray, weights[l] of shape (width[l+1], width[l])
    biases : list of ndarray, biases[l] of shape (width[l+1],)
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activation: str = "leaky-relu"
    slope: float = 0.2

    def __post_init__(self):
        object.__setattr__(self, "activation", normalise_activation(self.activation))
        if self.activation == "leaky-relu" and not self.slope > 0:
            raise InvalidParameterError(f"The leaky-ReLU slope must be > 0. Got {self.slope} instead.")
        object.__setattr__(self, "weights", tuple(np.asarray(w, dtype=np.float64) for w in self.weights))
        object.__setattr__(self, "biases", tuple(np.asarray(b, dtype=np.float64) for b in self.biases))
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],) or (i > 0 and w.shape[1] != self.weights[i - 1].shape[0]):
                raise InvalidParameterError(
                    f"Layer {i} of the mixing MLP has inconsistent shapes {w.shape}, {b.shape}."
                )
        fn, grad, inv = _activation_table(self.slope)[self.activation]
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "_grad", grad)
        object.__setattr__(self, "_inv", inv)

    @property
    def widths(self) -> list[int]:
        """[m, n_1, ..., n_L = n]."""
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def depth(self) -> int:
        return len(self.weights)

    def pre_activations(self, z: np.ndarray) -> list[np.ndarray]:
        """Inputs to each hidden activation, a list of L-1 arrays of shape (n, width[l])."""
        h, pres = np.asarray(z, dtype=np.float64), []
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            p = h @ w.T + b
            pres.append(p)
            h = self._fn(p)
        return pres

    def _points(self, values, name: str, width: int) -> np.ndarray:
        """``values`` as float64 points (n, width), or InvalidDataError naming the shape wanted: a 1-D point, a
        scalar (broadcast as a row by invert) or a tensor in a graph failed inside numpy or gave a wrong shape."""
        try:
            arr = np.asarray(dense_array(values, name), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"{name} must be numbers of shape (n, {width}); {exc}") from None
        if arr.ndim != 2 or arr.shape[1] != width:
            raise InvalidDataError(
                f"{name} must have shape (n, {width}); got {arr.shape}. Pass one point as {name}[None] "
                f"(shape (1, {width}))."
            )
        return arr

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """f(z): z of shape (n, m) -> x of shape (n, n_obs), float64."""
        h = self._points(z, "z", self.weights[0].shape[1])
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = self._fn(h @ w.T + b)
        return h @ self.weights[-1].T + self.biases[-1]

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        """df/dz at each point: shape (n, n_obs, m)."""
        z = self._points(z, "z", self.weights[0].shape[1])
        jac = np.broadcast_to(self.weights[0], (len(z),) + self.weights[0].shape)
        h = z
        for w, b, w_next in zip(self.weights[:-1], self.biases[:-1], self.weights[1:], strict=True):
            p = h @ w.T + b
            h = self._fn(p)
            jac = np.matmul(w_next, self._grad(p)[:, :, None] * jac)  # BLAS, not einsum's unblocked loop
        return jac

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Layer-by-layer least-squares inverse: x of shape (n, n_obs) -> z of shape (n, m).

        Exact for noiseless x when f is injective (full-column-rank layers, invertible
        activation); for noisy x a good starting point for a solver. For ReLU the negative
        half is lost, so negative pre-activations are taken as zero; an activation with no inverse written
        here (sigmoid, elu, gelu) is passed through as the identity, a rough start only.
        """
        inv = self._inv if self._inv is not None else (lambda h: h)
        h = self._points(x, "x", self.weights[-1].shape[0])
        for i in range(self.depth - 1, -1, -1):
            w, b = self.weights[i], self.biases[i]
            h = np.linalg.lstsq(w, (h - b).T, rcond=None)[0].T
            if i > 0:
                h = inv(h)
        return h
