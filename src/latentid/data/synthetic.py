"""Data from the paper's model class: z ~ GMM (or N(0, I)), x = f(z) + eps.

``SyntheticSpec`` is the validated, hashable description of a setting; ``spec.build()``
draws a concrete ``SyntheticGenerator`` (prior parameters and mixing weights) from
``spec.seed``; ``generator.sample(n)`` draws a data set. The same spec gives the same
generator and the same samples, byte for byte, on the same machine.

How the mixing network is drawn: every layer's weight matrix is U diag(s) V^T with random
orthonormal U, V and singular values log-uniform in [1, MAX_CONDITION] (so every layer is full
rank with a bounded condition number), and
scaled so that its outputs have unit average variance on a pilot sample from the prior; every hidden unit's bias
puts its kink at the median of its input on that pilot sample, so each unit bends half the
data. The last layer is linear. Widths never shrink: m -> hidden_width ... -> n.

Facets (MFC-VAE, Falck et al. 2021): with ``facets=((m_1, K_1), ..., (m_J, K_J))`` the latent
z = (z_1, ..., z_J) has one block per facet and the prior is the product of J independent
Gaussian mixtures, facet j with its own dimension m_j, K_j components and label c_j. That
product is itself one Gaussian mixture with prod K_j components (weights multiply, means
concatenate, covariances are block-diagonal), indexed in C order over (c_1, ..., c_J); the
generator holds it as such, so everything that reads ``generator.prior`` works unchanged.
"""

from __future__ import annotations

import json
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from latentid._memory import check_memory
from latentid._random import SeedLike, numpy_rng
from latentid.data.io import Dataset
from latentid.data.mixing import MixingMLP, normalise_activation
from latentid.data.mixture import GaussianMixture
from latentid.errors import DataFileError, InvalidParameterError, LatentIDWarning
from latentid.models.params import MAX_LAYERS

MAX_DEPTH = MAX_LAYERS + 1  # affine layers of f: depth 100,000 drew layers for minutes with nothing shown

PILOT_SAMPLES = 4096
MISFIT_ROWS = 500  # rows on which SyntheticGenerator.misfit tells whether x is what the generator draws
DIRICHLET_CONCENTRATION = 5.0  # keeps every component's weight away from zero
MAX_CONDITION = 10.0  # largest / smallest singular value allowed for a mixing layer
# At most this many components (prod K_j with facets): the mixture is held and drawn from component by component.
MAX_JOINT_COMPONENTS = 10_000
MAX_MEAN_SCALE = 1e6  # beyond, float32 (what z and x are stored in) rounds away the spread within a component


_BOUND_WORDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _problem(error: dict) -> str:
    """One validation problem as "field: what is wrong (got value)"; a rule about the whole setting
    (a model validator, no field) without the field part."""
    field = ".".join(map(str, error["loc"]))
    context = error.get("ctx") or {}
    bound = next((f"{_BOUND_WORDS[key]} {context[key]}" for key in _BOUND_WORDS if key in context), None)
    if bound is not None and "input" in error:
        text = f"must be {bound} (got {error['input']})"
    else:
        text = error["msg"].removeprefix("Value error, ")
    return f"{field}: {text}" if field else text


class SyntheticSpec(BaseModel):
    """A simulation setting. Defaults are the informative setting of the BRIEF (m=2, n=10, K=4).

    Fields: ``latent_dim`` m; ``obs_dim`` n (>= m); ``prior`` 'gmm' or 'standard-normal' (one N(0, I)
    component); ``components`` K; ``covariance`` 'full', 'diag' or 'isotropic'; ``weights`` 'uniform' or
    'dirichlet' (drawn); ``mean_scale`` the sd of the component means; ``eigen_range`` (low, high) from which
    each component's covariance eigenvalues are drawn uniformly; ``activation`` of f ('leaky-relu', 'relu',
    'tanh', ...; any spelling ``normalise_activation`` reads) and its leaky ``slope``; ``depth`` the affine
    layers of f (1: linear); ``hidden_width`` (None: n); ``noise`` the Gaussian noise sd (0 allowed); ``seed``
    of the generator; ``facets`` ((m_j, K_j), ...) for a product of per-facet mixtures (MFC-VAE's data).

    ``SyntheticSpec.create(**settings)`` turns invalid settings into one-line ``InvalidParameterError``s; the
    constructor raises pydantic's ``ValidationError`` (a ValueError). ``build()`` draws the generator.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    latent_dim: int = Field(2, ge=1)
    obs_dim: int = Field(10, ge=1)
    prior: Literal["gmm", "standard-normal"] = "gmm"
    components: int = Field(4, ge=1)
    covariance: Literal["full", "diag", "isotropic"] = "full"
    weights: Literal["uniform", "dirichlet"] = "uniform"
    mean_scale: float = Field(2.0, gt=0)
    eigen_range: tuple[float, float] = (0.1, 0.5)
    activation: str = "leaky-relu"
    slope: float = 0.2
    depth: int = Field(6, ge=1, le=MAX_DEPTH)
    hidden_width: int | None = None
    noise: float = Field(0.01, ge=0)
    seed: int = Field(0, ge=0)
    facets: tuple[tuple[int, int], ...] | None = None  # (m_j, K_j) per facet; None = one mixture

    @model_validator(mode="after")
    def _check(self) -> SyntheticSpec:
        object.__setattr__(self, "activation", normalise_activation(self.activation))
        if self.facets is not None:
            self._resolve_facets()
        elif self.components > MAX_JOINT_COMPONENTS:  # every sample's component is drawn among them: hours
            raise ValueError(
                f"components ({self.components}) is more than {MAX_JOINT_COMPONENTS:,}, which simulating could take "
                "hours over; use fewer components"
            )
        if self.mean_scale > MAX_MEAN_SCALE:
            raise ValueError(
                f"mean_scale ({self.mean_scale:.3g}) is more than {MAX_MEAN_SCALE:.0e}: the spread within a component "
                "would be lost to float32 rounding; use a smaller mean scale"
            )
        if self.obs_dim < self.latent_dim:
            raise ValueError(
                f"obs_dim ({self.obs_dim}) must be >= latent_dim ({self.latent_dim}): f cannot be injective otherwise"
            )
        if self.activation == "leaky-relu" and not self.slope > 0:
            raise ValueError(f"slope must be > 0 for leaky-relu (got {self.slope}); slope 0 is plain relu")
        lo, hi = self.eigen_range
        if not 0 < lo <= hi:
            raise ValueError(f"eigen_range must satisfy 0 < low <= high (got {self.eigen_range})")
        width = self.hidden_width_resolved
        if not self.latent_dim <= width <= self.obs_dim:
            raise ValueError(
                f"hidden_width ({width}) must lie between latent_dim ({self.latent_dim}) and obs_dim ({self.obs_dim}) "
                "so that widths never shrink"
            )
        if self.prior == "standard-normal" and self.components != 1:
            object.__setattr__(self, "components", 1)
        return self

    def _resolve_facets(self) -> None:
        """latent_dim = sum m_j and components = prod K_j; a value the user gave must agree."""
        if not self.facets:
            raise ValueError("facets must list at least one (latent_dim, components) pair")
        bad = [facet for facet in self.facets if min(facet) < 1]
        if bad:
            raise ValueError(f"every facet needs latent_dim >= 1 and components >= 1 (got {bad[0]})")
        if self.prior != "gmm":
            raise ValueError(f"facets need prior 'gmm' (got '{self.prior}'): each facet is a Gaussian mixture")
        total_dim = sum(m for m, _ in self.facets)
        total_k = int(np.prod([k for _, k in self.facets], dtype=object))  # exact, no overflow
        if total_k > MAX_JOINT_COMPONENTS:
            raise ValueError(
                f"the facets' components multiply to {total_k} joint components, more than {MAX_JOINT_COMPONENTS}; "
                "use fewer facets or fewer components per facet"
            )
        if "latent_dim" in self.model_fields_set and self.latent_dim != total_dim:
            raise ValueError(
                f"latent_dim ({self.latent_dim}) must equal the sum of the facets' latent dimensions ({total_dim})"
            )
        if "components" in self.model_fields_set and self.components != total_k:
            raise ValueError(
                f"components ({self.components}) must equal the product of the facets' components ({total_k})"
            )
        object.__setattr__(self, "latent_dim", total_dim)
        object.__setattr__(self, "components", total_k)

    @property
    def hidden_width_resolved(self) -> int:
        """The hidden width of f: ``hidden_width``, or n when None."""
        return self.obs_dim if self.hidden_width is None else self.hidden_width

    @property
    def widths(self) -> list[int]:
        """The layer widths of f, input to output: [m, width, ..., width, n] (depth + 1 entries)."""
        return [self.latent_dim] + [self.hidden_width_resolved] * (self.depth - 1) + [self.obs_dim]

    @classmethod
    def create(cls, **kwargs) -> SyntheticSpec:
        """Validate keyword settings; raise InvalidParameterError with one line per problem."""
        from pydantic import ValidationError

        try:
            return cls(**kwargs)
        except ValidationError as exc:
            problems = "; ".join(_problem(e).rstrip(".") for e in exc.errors())  # each may end a sentence itself
            raise InvalidParameterError(f"Invalid simulation setting: {problems}.") from None

    def build(self) -> SyntheticGenerator:
        """Draw the generator (prior and mixing network) from ``self.seed``."""
        widths = self.widths
        weights = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True)) + sum(widths[1:])
        components = math.prod(k for _, k in self.facets) if self.facets is not None else self.components
        check_memory(
            8 * (weights + 3 * components * self.latent_dim * (self.latent_dim + 1)),
            f"A generator of {components:,} components and layer widths {_shown(widths)}",
            "Lower obs_dim, hidden_width, the depth or the number of components.",
        )
        build_seed, _ = np.random.SeedSequence(self.seed).spawn(2)
        rng = np.random.default_rng(build_seed)
        prior = _draw_prior(self, rng)
        mixing = _draw_mixing(self, prior, rng)
        return SyntheticGenerator(spec=self, prior=prior, mixing=mixing)

    def sampling_seed(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed).spawn(2)[1]


def _shown(widths: list[int]) -> str:
    """Layer widths for a message, shortened when the network is deep: '2-10-10' or '2-10-...-10 (1,000 layers)'."""
    if len(widths) <= 6:
        return "-".join(f"{w:,}" for w in widths)
    return f"{widths[0]:,}-{widths[1]:,}-...-{widths[-1]:,} ({len(widths) - 1:,} layers)"


def _random_rotation(m: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((m, m)))
    return q * np.sign(np.diag(r))


def _draw_prior(spec: SyntheticSpec, rng: np.random.Generator) -> GaussianMixture:
    if spec.prior == "standard-normal":
        m = spec.latent_dim
        return GaussianMixture(np.ones(1), np.zeros((1, m)), np.eye(m)[None])
    if spec.facets is None:
        return _draw_mixture(spec, spec.latent_dim, spec.components, rng)
    # One mixture per facet, drawn in facet order from the same stream, then their product.
    return product_mixture([_draw_mixture(spec, m, k, rng) for m, k in spec.facets])


def _draw_mixture(spec: SyntheticSpec, m: int, k: int, rng: np.random.Generator) -> GaussianMixture:
    """A K-component mixture in m dimensions with the spec's weights, mean scale and covariance type."""
    weights = np.full(k, 1.0 / k) if spec.weights == "uniform" else rng.dirichlet(np.full(k, DIRICHLET_CONCENTRATION))
    means = spec.mean_scale * rng.standard_normal((k, m))
    lo, hi = spec.eigen_range
    covs = np.empty((k, m, m))
    for j in range(k):
        if spec.covariance == "isotropic":
            covs[j] = rng.uniform(lo, hi) * np.eye(m)
        elif spec.covariance == "diag":
            covs[j] = np.diag(rng.uniform(lo, hi, size=m))
        else:
            rot = _random_rotation(m, rng)
            covs[j] = (rot * rng.uniform(lo, hi, size=m)) @ rot.T
            covs[j] = 0.5 * (covs[j] + covs[j].T)
    return GaussianMixture(weights, means, covs)


def product_mixture(facets: list[GaussianMixture]) -> GaussianMixture:
    """The product of independent per-facet mixtures as one mixture with prod K_j components.

    Component (c_1, ..., c_J) sits at ``np.ravel_multi_index((c_1, ..., c_J), (K_1, ..., K_J))``
    (C order): its weight is prod_j pi_j[c_j], its mean the concatenation of the facets' means,
    its covariance block-diagonal with the facets' covariances on the diagonal.
    """
    from scipy.linalg import block_diag

    shape = tuple(f.n_components for f in facets)
    index = np.unravel_index(np.arange(int(np.prod(shape))), shape)  # J arrays of shape (K,)
    weights = np.prod([f.weights[i] for f, i in zip(facets, index, strict=True)], axis=0)
    means = np.concatenate([f.means[i] for f, i in zip(facets, index, strict=True)], axis=1)  # (K, m)
    covs = np.stack(
        [block_diag(*(f.covariances[i[k]] for f, i in zip(facets, index, strict=True))) for k in range(len(weights))]
    )
    return GaussianMixture(weights / weights.sum(), means, covs)


def facet_blocks(spec: SyntheticSpec) -> list[slice]:
    """The latent columns of each facet: z[:, blocks[j]] is z_j. One block [0, m) without facets."""
    dims = [spec.latent_dim] if spec.facets is None else [m for m, _ in spec.facets]
    ends = np.cumsum(dims)
    return [slice(int(end - dim), int(end)) for dim, end in zip(dims, ends, strict=True)]


def _well_conditioned(n_out: int, n_in: int, rng: np.random.Generator) -> np.ndarray:
    """U diag(s) V^T of shape (n_out, n_in): random orthonormal U, V and singular values
    log-uniform in [1, MAX_CONDITION], so the condition number is bounded by construction."""
    u = _random_rotation(n_out, rng)[:, :n_in]
    v = _random_rotation(n_in, rng)
    singular = np.exp(rng.uniform(0.0, np.log(MAX_CONDITION), size=n_in))
    return (u * singular) @ v.T


def _draw_mixing(spec: SyntheticSpec, prior: GaussianMixture, rng: np.random.Generator) -> MixingMLP:
    pilot, _ = prior.sample(PILOT_SAMPLES, rng)
    widths = spec.widths
    weights, biases = [], []
    probe = MixingMLP((np.eye(widths[0]),), (np.zeros(widths[0]),), spec.activation, spec.slope)
    act = probe._fn  # the activation function itself
    h = pilot
    for layer, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w = _well_conditioned(n_out, n_in, rng)
        p = h @ w.T
        scale = 1.0 / np.sqrt(p.var(axis=0).mean())
        w, p = w * scale, p * scale
        last = layer == len(widths) - 2
        b = -p.mean(axis=0) if last else -np.median(p, axis=0)
        weights.append(w)
        biases.append(b)
        h = p + b if last else act(p + b)
    return MixingMLP(tuple(weights), tuple(biases), spec.activation, spec.slope)


Z_ROUNDING_SHARE = 0.01  # float32 rounding of z, as a share of the smallest component sd, above which z is refused
ROUNDING_SHARE = 0.1  # float32 rounding error of x, as a share of the noise sd, above which likelihoods mislead


def _warn_if_noise_below_rounding(x: np.ndarray, x32: np.ndarray, noise: float) -> None:
    """Warn when storing x (n, obs_dim) as float32 adds an error comparable to the noise: the true model's
    density, so ``true_log_likelihood``, the oracle and every likelihood gap, would then score the rounding."""
    if noise <= 0 or x.size == 0:
        return
    rounding = float(np.sqrt(np.mean((x32.astype(np.float64) - x) ** 2)))
    if rounding > ROUNDING_SHARE * noise:
        warnings.warn(
            f"the noise scale {noise:.3g} is below the float32 rounding of x it is stored in (rms error "
            f"{rounding:.2g}): the true log-likelihood, the oracle and likelihood gaps on these data are unreliable. "
            f"Use noise >= {rounding / ROUNDING_SHARE:.2g}.",
            LatentIDWarning,
            stacklevel=3,
        )


@dataclass(frozen=True, eq=False)
class SyntheticGenerator:
    """A concrete generator: true prior, true mixing f and noise scale."""

    spec: SyntheticSpec
    prior: GaussianMixture
    mixing: MixingMLP

    @property
    def noise(self) -> float:
        return self.spec.noise

    def sample(self, n: int, random_state: SeedLike = None) -> Dataset:
        """Draw n samples; ``random_state=None`` uses the spec's own sampling seed.

        Returns a Dataset with x (n, obs_dim) float32, z (n, latent_dim) float32 and c int64: of
        shape (n,) (the component), or (n, J) (one label per facet, column j = c_j) when the spec
        has facets.
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise InvalidParameterError(f"The number of samples must be an int >= 1. Got {n!r} instead.")
        n = int(n)
        # float64 z, two layers alive at once in the mixing, x and its noise, then the float32 copies
        widest = max(self.spec.widths)
        per_row = 8 * (self.spec.latent_dim + 4 * widest) + 4 * (self.spec.latent_dim + self.spec.obs_dim)
        check_memory(n * per_row, f"Drawing {n:,} samples", "Ask for fewer samples, or draw them in parts.")
        rng = np.random.default_rng(self.spec.sampling_seed()) if random_state is None else numpy_rng(random_state)
        z, c = self.prior.sample(n, rng)
        if self.spec.facets is not None:  # joint component index -> (c_1, ..., c_J), C order
            c = np.stack(np.unravel_index(c, tuple(k for _, k in self.spec.facets)), axis=1).astype(np.int64)
        x = self.mixing(z)
        if self.noise > 0:
            x = x + self.noise * rng.standard_normal(x.shape)
        limit = float(np.finfo(np.float32).max)
        for name, values in (("x", x), ("z", z)):
            if not np.all(np.abs(values) < limit):  # also catches inf and NaN from an overflow in float64
                raise InvalidParameterError(
                    f"The simulated {name} does not fit in float32 (|{name}| up to {np.nanmax(np.abs(values)):.3g}, "
                    f"the limit is {limit:.3g}). Lower the noise or the mean scale."
                )
        z32 = z.astype(np.float32)
        self._refuse_z_rounded_away(z, z32)
        x32 = x.astype(np.float32)
        _warn_if_noise_below_rounding(x, x32, self.noise)
        return Dataset(x=x32, z=z32, c=c, source="<simulated>")

    def _refuse_z_rounded_away(self, z: np.ndarray, z32: np.ndarray) -> None:
        """InvalidParameterError when storing z (n, m) as float32 moves it by more than 1% of the smallest
        component sd: components placed far out (a large mean scale) would leave a z that x was not drawn from."""
        smallest_sd = float(np.sqrt(np.linalg.eigvalsh(self.prior.covariances).min()))
        rounding = float(np.abs(z32.astype(np.float64) - z).max()) if z.size else 0.0
        if rounding > Z_ROUNDING_SHARE * smallest_sd:
            raise InvalidParameterError(
                f"float32, which z is stored in, rounds it by up to {rounding:.2g}, more than "
                f"{Z_ROUNDING_SHARE:.0%} of the smallest component sd ({smallest_sd:.2g}): the stored z would not be "
                "the one x was drawn from. Lower the mean scale (or widen the components' eigen_range)."
            )

    def posterior(self, x: np.ndarray, *, n_samples: int = 512, random_state: SeedLike = 0):
        """The oracle's posterior under this generator for x (n, obs_dim): a ``latentid.oracle.OracleResult``
        (E[z | x], the MAP, p(c | x) over the prior's components, log p(x)). See ``latentid.oracle``."""
        from latentid.oracle import oracle_posterior

        return oracle_posterior(self.prior, self.mixing, self.noise, x, n_samples=n_samples, random_state=random_state)

    def misfit(self, x: np.ndarray, rows: int = MISFIT_ROWS) -> float:
        """How far x (n, obs_dim) lies from what this generator draws: the mean squared distance of each row from
        f at its MAP, per feature, over noise^2 (about 1 for data it drew; with noise 0, over x's own variance,
        about 0). Read on the first ``rows`` rows. A file whose x was changed after ``latentid simulate``
        (standardised, say) keeps its generator, and every score under it (the oracle, log p(x)) is then wrong."""
        from latentid.oracle import map_estimate

        x = np.asarray(x[:rows], dtype=np.float64)
        with np.errstate(over="ignore"):
            z_map, _ = map_estimate(self.prior, self.mixing, self.noise, x, np.random.default_rng(0))
        residual = float(np.mean((x - self.mixing(z_map)) ** 2))
        scale = self.noise**2 if self.noise > 0 else float(np.mean(np.var(x, axis=0))) or 1.0
        return residual / scale

    def posterior_mean(self, x: np.ndarray, *, n_samples: int = 512, random_state: SeedLike = 0) -> np.ndarray:
        """The oracle E[z | x] under this generator: x (n, obs_dim) -> (n, latent_dim) float32."""
        return self.posterior(x, n_samples=n_samples, random_state=random_state).mean

    def bayes_labels(self, component_probs: np.ndarray) -> np.ndarray:
        """The Bayes classifier's labels from p(c | x) (n, K) (``posterior(x).component_probs``): the most
        probable component (n,), or with facets the most probable component of each facet, from the facet's
        marginal posterior (n, J), laid out as the simulator's c."""
        probs = np.asarray(component_probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != self.prior.n_components:
            raise InvalidParameterError(
                f"component_probs must have shape (n, {self.prior.n_components}); got {probs.shape}."
            )
        if self.spec.facets is None:
            return probs.argmax(axis=1).astype(np.int64)
        shape = tuple(k for _, k in self.spec.facets)  # joint components in C order (``product_mixture``)
        joint = probs.reshape(-1, *shape)
        columns = []
        for j in range(len(shape)):
            others = tuple(axis + 1 for axis in range(len(shape)) if axis != j)
            columns.append(joint.sum(axis=others).argmax(axis=1))
        return np.stack(columns, axis=1).astype(np.int64)

    def log_likelihood(self, x: np.ndarray, *, n_samples: int = 512, random_state: SeedLike = 0):
        """The true log p(x) of x (n, obs_dim): a ``latentid.oracle.TrueLogLikelihood`` (per sample, with se)."""
        from latentid.oracle import true_log_likelihood

        return true_log_likelihood(
            self.prior, self.mixing, self.noise, x, n_samples=n_samples, random_state=random_state
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to rebuild this generator, as named numpy arrays (for an .npz)."""
        arrays = {
            "spec_json": np.array(self.spec.model_dump_json()),
            "prior_weights": self.prior.weights,
            "prior_means": self.prior.means,
            "prior_covariances": self.prior.covariances,
            "mixing_activation": np.array(self.mixing.activation),
            "mixing_slope": np.array(self.mixing.slope),
            "noise": np.array(self.noise),
        }
        for i, (w, b) in enumerate(zip(self.mixing.weights, self.mixing.biases, strict=True)):
            arrays[f"mixing_weight_{i}"] = w
            arrays[f"mixing_bias_{i}"] = b
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str = "<arrays>") -> SyntheticGenerator:
        """Rebuild a generator from ``to_arrays`` output (e.g. a Dataset's ``extras``)."""
        if "spec_json" not in arrays:
            raise InvalidParameterError(
                f"{source}: no generator is recorded in this file; it was not written by 'latentid simulate'."
            )
        spec = recorded_spec(arrays, source)
        depth = sum(1 for key in arrays if key.startswith("mixing_weight_"))
        try:
            mixing = MixingMLP(
                tuple(arrays[f"mixing_weight_{i}"] for i in range(depth)),
                tuple(arrays[f"mixing_bias_{i}"] for i in range(depth)),
                str(arrays["mixing_activation"]),
                float(arrays["mixing_slope"]),
            )
            prior = GaussianMixture(arrays["prior_weights"], arrays["prior_means"], arrays["prior_covariances"])
        except KeyError as exc:
            raise DataFileError(
                f"{source}: its generator lacks the array {exc.args[0]!r}: the file was edited or damaged. "
                "Simulate it again."
            ) from None
        return cls(spec=spec, prior=prior, mixing=mixing)


def recorded_spec(arrays: dict[str, np.ndarray], source: str) -> SyntheticSpec | None:
    """The SyntheticSpec a simulated file records (its ``spec_json``), None when it records none; a one-line
    DataFileError when it does not parse (an edited or damaged file)."""
    if "spec_json" not in arrays:
        return None
    try:
        return SyntheticSpec.model_validate(json.loads(str(arrays["spec_json"])))
    except (ValueError, TypeError, RecursionError) as exc:  # json's and pydantic's errors are ValueErrors
        raise DataFileError(
            f"{source}: its recorded generator (spec_json) does not parse ({type(exc).__name__}): the file was "
            "edited or damaged. Simulate it again."
        ) from None


def save_simulation(path, generator: SyntheticGenerator, data: Dataset, replace: bool = True) -> None:
    """Write x, z, c and the generator to an .npz file, atomically; ``replace=False`` keeps a file another
    command has put at ``path`` meanwhile (FileExistsError, ``atomic_path``)."""
    from latentid._atomic import atomic_path

    with atomic_path(path, replace=replace) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, x=data.x, z=data.z, c=data.c, **generator.to_arrays())
