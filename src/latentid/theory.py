"""The identifiability hierarchy: which guarantee a model has, and are its assumptions met.

Levels (Kivva et al. 2022; see the README's table):
  "1"       GMM prior + piecewise-affine, weakly injective f  -> p(z) up to an affine map
  "2"       level 1 + injective f                               -> the whole model up to an affine map
  "3"       level 2 + diagonal components that vary enough     -> z up to permutation, scaling, translation
  "vanilla" one Gaussian component + injective f                -> z up to an orthogonal map (after whitening)
  "none"    an assumption fails                                 -> no guarantee from this theory

MFC-VAE's prior (one Gaussian mixture per facet, z = (z_1, ..., z_J)) is a product of mixtures,
itself one Gaussian mixture with prod K_j components and block-diagonal covariances: levels 1-2
apply to it as to any mixture, and level 3 only where its own check passes on the joint mixture.

Level 3's exact conditions are our reconstruction from the paper's follow-ups (iVAE-type
variability: 2m+1 components whose natural parameters make the difference matrix full rank);
we state them as such and check them numerically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from latentid.data.mixing import PIECEWISE_AFFINE, normalise_activation
from latentid.errors import InvalidParameterError

RANK_TOL = 1e-8  # relative singular-value threshold for "full rank"
DISTINCT_TOL = 1e-6  # of the prior's own scale (its largest sd, and its square for covariances)
UNUSED_WEIGHT = 1e-6  # a fitted component of less weight is no part of p(z)
DIAGONAL_TOL = 1e-6  # largest |correlation| between two coordinates of a component that still counts as diagonal
# A component whose smallest covariance eigenvalue is below this share of the largest eigenvalue over all
# components is flat next to the prior's spread: non-degenerate in exact arithmetic, but the level rests on it
# numerically, so the check is passed with a warning (not a tick). 1e-5: a float32 fit's relative precision
# is about 1e-7 and a healthy fitted prior's eigenvalues span a few decades at most.
NEAR_DEGENERATE_RATIO = 1e-5
# Two components whose Bhattacharyya distance is below this overlap almost wholly (Bhattacharyya coefficient
# above 0.99): distinct in exact arithmetic, but one component in all but name, so the check warns.
NEAR_DUPLICATE_DISTANCE = 0.01
NEAR_DUPLICATE_MAX_COMPONENTS = 500  # above, the K^2 / 2 pairs' distances cost more than the check is worth
FACET_CHECK = "prior is the product of the facets' mixtures"
AXIS_CHECK = "likelihood pins the axes (level 3, in practice)"
# Below this many nats per sample, the likelihood's preference for the true axes over a 45-degree mix of two of
# them is small next to what fitted models lose to estimation: in benchmarks/ivae_comparison.py (margins 0.03-0.09
# nat) amortised fits stayed 0.3-10 nats below log p(x) and their strong MCC fell short of the oracle's.
AXIS_MARGIN_WARN = 0.1

EQUIVALENCE = {
    "3": "permutation, coordinate-wise scaling and translation",
    "2": "an invertible affine map z -> Az + b (prior and decoder both identified)",
    "1": "an invertible affine map z -> Az + b (the latent distribution p(z) identified)",
    "vanilla": "an orthogonal map (rotation/reflection) after whitening by the prior",
    "none": "no guarantee from this theory",
}


# The level names of a Verdict, and the number each has in the hierarchy (None: not a numbered level).
LEVEL_NUMBERS: dict[str, int | None] = {"3": 3, "2": 2, "1": 1, "vanilla": None, "none": None}


@dataclass(frozen=True)
class Check:
    """One assumption: passed is True, False, or None when it does not apply.

    figures : the numbers ``detail`` quotes, by name (a number, or a list of numbers); empty when it quotes none.
    """

    name: str
    passed: bool | None
    detail: str
    figures: dict = field(default_factory=dict)
    warning: str | None = None  # passed, but only just: what to look at (shown instead of a tick)

    def to_dict(self) -> dict:
        """{"name", "passed", "detail", "figures", "warning"}, in that order (warning None when there is none)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "figures": dict(self.figures),
            "warning": self.warning,
        }


@dataclass(frozen=True)
class Verdict:
    """level is the hierarchy's name for the level: "3", "2", "1", "vanilla" or "none" (see the module docstring)."""

    level: str
    equivalence: str
    checks: list[Check]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The verdict for scripts, keys in this fixed order: ``level`` (3, 2, 1, or None for "vanilla" and
        "none"), ``level_name`` (the level's name: "3", "2", "1", "vanilla", "none"), ``in_theory`` (False
        only for "none"), ``equivalence``, ``checks`` (each ``Check.to_dict``: {"name", "passed", "detail",
        "figures", "warning"}), ``notes``."""
        return {
            "level": LEVEL_NUMBERS[self.level],
            "level_name": self.level,
            "in_theory": self.level != "none",
            "equivalence": self.equivalence,
            "checks": [check.to_dict() for check in self.checks],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class DecoderDescription:
    """What the theory needs to know of f: layer widths [m, ..., n], hidden activation,
    output activation and, when known, the weight matrices (n_out, n_in) of each layer."""

    widths: list[int]
    activation: str
    output_activation: str = "linear"
    weights: list[np.ndarray] | None = None
    # Smallest relative singular value (s_min / s_max) of f's Jacobian over sampled latent points, and how
    # many points: the numerical check of weak injectivity for a decoder whose widths shrink somewhere.
    jacobian_rank: tuple[float, int] | None = None


@dataclass(frozen=True)
class PriorDescription:
    """weights (K,), means (K, m), covariances (K, m, m) of the (true or fitted) mixture prior.

    facets : ((m_1, K_1), ..., (m_J, K_J)) when the prior is a product of per-facet mixtures
    (MFC-VAE), its components in C order over (c_1, ..., c_J); None for one mixture.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    facets: tuple[tuple[int, int], ...] | None = None


def _prior_checks(prior: PriorDescription) -> tuple[list[Check], bool]:
    cov = np.asarray(prior.covariances, dtype=np.float64)
    means = np.asarray(prior.means, dtype=np.float64)
    k = len(cov)
    eigenvalues = np.linalg.eigvalsh(0.5 * (cov + np.swapaxes(cov, 1, 2)))  # (K, m), ascending
    eig_min = float(eigenvalues.min())
    eig_max = float(eigenvalues.max())
    scale = max(float(np.abs(cov).max()), 1e-300)
    nondegenerate = bool(eig_min > RANK_TOL * scale)
    ratio = eig_min / max(eig_max, 1e-300)
    flat = int(np.argmin(eigenvalues[:, 0]))
    warning = None
    if nondegenerate and ratio < NEAR_DEGENERATE_RATIO:
        warning = (
            f"component {flat} is nearly degenerate: its smallest covariance eigenvalue is {ratio:.2g} of the largest "
            f"over all components (below {NEAR_DEGENERATE_RATIO:g})"
        )
    checks = [
        Check(
            "prior is a Gaussian mixture",
            True,
            f"{k} component(s) in {means.shape[1]} dimension(s)",
            {"components": k, "latent_dim": int(means.shape[1])},
        ),
        Check(
            "components non-degenerate",
            nondegenerate,
            f"smallest covariance eigenvalue {eig_min:.3g}, {ratio:.3g} of the largest ({eig_max:.3g})",
            {"min_covariance_eigenvalue": eig_min, "max_covariance_eigenvalue": eig_max, "eigenvalue_ratio": ratio},
            warning,
        ),
    ]
    if k == 1:
        checks.append(
            Check("components pairwise distinct", None, "one component: nothing to compare", {"components": 1})
        )
        return checks, nondegenerate
    sd = max(np.sqrt(eig_max), 1e-300)  # in units of the prior's largest sd: no rescaling of z changes the verdict
    gaps = [
        (np.linalg.norm(means[i] - means[j]) / sd + np.linalg.norm(cov[i] - cov[j]) / sd / sd, i, j)
        for i in range(k)
        for j in range(i + 1, k)
    ]
    gap, i, j = min(gaps)
    distinct = bool(gap > DISTINCT_TOL)
    detail = f"closest pair ({i}, {j}): mean+covariance distance {gap:.3g} (in the prior's largest sd)"
    figures = {"closest_pair": [i, j], "closest_distance": float(gap)}
    warning = None
    alike = _most_alike_pair(means, cov) if distinct and nondegenerate else None
    if alike is not None:
        distance, a, b = alike
        detail += f"; most alike pair ({a}, {b}): Bhattacharyya distance {distance:.3g}"
        figures.update({"most_alike_pair": [a, b], "bhattacharyya_distance": distance})
        if distance < NEAR_DUPLICATE_DISTANCE:
            warning = (
                f"components {a} and {b} are near duplicates: Bhattacharyya distance {distance:.2g} (below "
                f"{NEAR_DUPLICATE_DISTANCE:g}), so they overlap by {np.exp(-distance):.3f} and act as one component"
            )
    checks.append(Check("components pairwise distinct", distinct, detail, figures, warning))
    return checks, nondegenerate and distinct


def _most_alike_pair(means: np.ndarray, cov: np.ndarray) -> tuple[float, int, int] | None:
    """The pair of components (K, m), (K, m, m) with the smallest Bhattacharyya distance, which no affine map of
    z changes: (distance, i, j); None above NEAR_DUPLICATE_MAX_COMPONENTS components or if one is singular."""
    k = len(means)
    if k > NEAR_DUPLICATE_MAX_COMPONENTS:
        return None
    i, j = np.triu_indices(k, 1)
    mid = 0.5 * (cov[i] + cov[j])  # (P, m, m)
    sign_mid, logdet_mid = np.linalg.slogdet(mid)
    sign, logdet = np.linalg.slogdet(cov)
    if (sign_mid <= 0).any() or (sign <= 0).any():
        return None
    diff = means[i] - means[j]
    maha = np.einsum("pm,pm->p", diff, np.linalg.solve(mid, diff[..., None])[..., 0])
    distance = 0.125 * maha + 0.5 * (logdet_mid - 0.5 * (logdet[i] + logdet[j]))
    best = int(np.argmin(distance))
    return max(float(distance[best]), 0.0), int(i[best]), int(j[best])


def _variability_check(prior: PriorDescription) -> Check:
    """iVAE-type condition: natural parameters (mu/s^2, -1/(2 s^2)) of 2m+1 components differ in 2m directions."""
    cov = np.asarray(prior.covariances, dtype=np.float64)
    means = np.asarray(prior.means, dtype=np.float64)
    k, m = means.shape
    if k < 2 * m + 1:
        return Check(
            "components vary enough (level 3)",
            False,
            f"needs >= 2m+1 = {2 * m + 1} components, has {k}",
            {"components_needed": 2 * m + 1, "components": k},
        )
    var = np.einsum("kii->ki", cov)
    eta = np.concatenate([means / var, -0.5 / var], axis=1)  # (K, 2m)
    diffs = (eta[1:] - eta[0]).T  # (2m, K-1)
    singular = np.linalg.svd(diffs, compute_uv=False)
    rank = int(np.sum(singular > RANK_TOL * singular[0])) if singular[0] > 0 else 0
    ok = bool(rank == 2 * m)
    return Check(
        "components vary enough (level 3)",
        ok,
        f"natural-parameter difference matrix has rank {rank} of {2 * m}; smallest singular value {singular[-1]:.3g}",
        {"rank": rank, "rank_needed": 2 * m, "min_singular_value": float(singular[-1])},
    )


def axis_margin(weights: np.ndarray, variances: np.ndarray) -> tuple[float, tuple[int, int]]:
    """How strongly a diagonal mixture prior pins its axes: the smallest, over pairs of axes (i, j), of the expected
    log-likelihood per sample lost by mixing axes i and j at 45 degrees. weights (K,), variances (K, m) -> (nats,
    (i, j)).

    A rotation of z moves the means, which the model class fits freely, but makes each component's covariance
    non-diagonal; the best diagonal model of a rotated component keeps the diagonal, and loses
    KL = log(((a + b) / 2) / sqrt(a b)) for variances (a, b) mixed at 45 degrees (where the loss is largest).
    The sum over components, weighted, is exact when u labels the components (iVAE) and an upper bound for a
    mixture whose components overlap. 0 when some pair of axes has equal variances in every component: those
    two axes are then not identified at all.
    """
    weights = np.asarray(weights, dtype=np.float64)
    var = np.asarray(variances, dtype=np.float64)
    m = var.shape[1]
    best, pair = np.inf, (0, 0)
    for i in range(m):
        for j in range(i + 1, m):
            a, b = var[:, i], var[:, j]
            loss = float(weights @ (np.log(0.5 * (a + b)) - 0.5 * np.log(a) - 0.5 * np.log(b)))
            if loss < best:
                best, pair = loss, (i, j)
    return (0.0 if m < 2 else max(best, 0.0)), pair


def _axis_check(prior: PriorDescription) -> Check:
    """The axis margin of a diagonal prior, a tick above AXIS_MARGIN_WARN, a warning below."""
    var = np.einsum("kii->ki", np.asarray(prior.covariances, dtype=np.float64))
    margin, (i, j) = axis_margin(prior.weights, var)
    detail = f"mixing axes {i} and {j} (the weakest pair) at 45 degrees fits worse by {margin:.3g} nat per sample"
    warning = None
    if margin < AXIS_MARGIN_WARN:
        warning = (
            f"under {AXIS_MARGIN_WARN} nat: a fit must come this close to the maximum likelihood to recover the "
            "axes (strong MCC); see evaluate's likelihood gap"
        )
    return Check(AXIS_CHECK, True, detail, {"axis_margin_nats": margin, "weakest_axes": [i, j]}, warning)


def _facet_check(prior: PriorDescription) -> Check:
    """Is the mixture the product of its facets' mixtures? Weights factorise, and facet j's block of every
    component's mean and covariance depends on c_j alone (which makes the covariances block-diagonal)."""
    facets = [(int(m), int(k)) for m, k in prior.facets or ()]
    name = FACET_CHECK
    weights = np.asarray(prior.weights, dtype=np.float64)
    means = np.asarray(prior.means, dtype=np.float64)
    cov = np.asarray(prior.covariances, dtype=np.float64)
    shape = tuple(k for _, k in facets)
    dims = [m for m, _ in facets]
    if sum(dims) != means.shape[1] or int(np.prod(shape)) != len(weights):
        return Check(
            name,
            False,
            f"facets {facets} need {sum(dims)} dimension(s) and {int(np.prod(shape))} components",
            {
                "facet_dims": dims,
                "facet_components": list(shape),
                "dims_needed": sum(dims),
                "components_needed": int(np.prod(shape)),
                "latent_dim": int(means.shape[1]),
                "components": len(weights),
            },
        )
    ends = np.cumsum(dims)
    blocks = [slice(end - dim, end) for dim, end in zip(dims, ends, strict=True)]
    w = weights.reshape(shape)
    marginals = [w.sum(axis=tuple(a for a in range(len(shape)) if a != j)) for j in range(len(shape))]
    outer = marginals[0]
    for marginal in marginals[1:]:
        outer = np.multiply.outer(outer, marginal)
    worst = float(np.abs(w - outer).max())
    mask = np.zeros((means.shape[1],) * 2, dtype=bool)
    for j, block in enumerate(blocks):
        mask[block, block] = True
        others = tuple(a for a in range(len(shape)) if a != j)
        for part in (means[:, block], cov[:, block, block].reshape(len(cov), -1)):
            arr = part.reshape(shape + (-1,))
            first = arr[tuple(slice(0, 1) if a in others else slice(None) for a in range(len(shape)))]
            worst = max(worst, float(np.abs(arr - first).max()))
    off_block = float(np.abs(cov[:, ~mask]).max()) if (~mask).any() else 0.0
    worst = max(worst, off_block)
    scale = max(float(np.abs(cov).max()), float(np.abs(means).max()), 1e-300)
    ok = bool(worst <= 1e-6 * scale)
    listed = ", ".join(f"{m}:{k}" for m, k in facets)
    return Check(
        name,
        ok,
        f"{len(facets)} facet(s) (dim:components) {listed} -> {len(weights)} joint components; "
        f"largest departure from the product (block-diagonal) form {worst:.3g}",
        {
            "facet_dims": dims,
            "facet_components": list(shape),
            "components": len(weights),
            "max_departure": worst,
        },
    )


def _facet_note(prior: PriorDescription, level: str, diagonal: bool, variability: Check) -> list[str]:
    """What the facets mean: levels 1-2 hold for the joint mixture, level 3 only where its own check passes."""
    facets = list(prior.facets or ())
    k = len(prior.weights)
    listed = ", ".join(f"z_{j + 1} {m}-D with {kj} component(s)" for j, (m, kj) in enumerate(facets))
    if k == 1:  # one Gaussian: the vanilla note says what holds, the mixture levels do not apply
        return [f"Facets (MFC-VAE): {listed}. Their product is a single Gaussian, not a mixture."]
    notes = [
        f"Facets (MFC-VAE): {listed}. Their product is one Gaussian mixture with {k} components and "
        "block-diagonal covariances, so the mixture levels apply to it as to any mixture: levels 1-2 identify z "
        "up to an affine map of the whole z (which need not keep the facets' blocks apart)."
    ]
    if level == "3":
        notes.append(
            f"Level 3 holds for the joint mixture: its covariances are diagonal and its {k} components vary "
            "enough, so each coordinate of z, whichever facet it belongs to, is identified up to permutation, "
            "scaling and translation."
        )
    elif level in {"1", "2"}:
        if not diagonal:
            why = "its covariances are not diagonal"
        elif not variability.passed:
            why = (
                f"its components do not vary enough ({variability.detail}); for a product this needs every "
                "facet's own components to vary enough (K_j >= 2 m_j + 1 at least)"
            )
        else:
            why = "f is not shown injective"
        notes.append(f"Level 3 does not apply to the joint mixture: {why}.")
    return notes


def _decoder_checks(decoder: DecoderDescription) -> tuple[list[Check], bool, bool]:
    """Returns the checks, whether f is piecewise affine (in the theory) and whether it is injective."""
    widths = list(decoder.widths)
    named = normalise_activation(decoder.activation)
    # one layer has no hidden activation: f is affine whatever activation is named (e.g. depth 1 with tanh)
    act = "linear" if len(widths) == 2 else named
    out = normalise_activation(decoder.output_activation)
    pw_affine = act in PIECEWISE_AFFINE
    unused = f" (no hidden layer: '{named}' is never applied)" if act != named else ""
    checks = [
        Check(
            "activation piecewise affine",
            pw_affine,
            f"'{act}'{unused}" + ("" if pw_affine else ": smooth, not piecewise affine; the theory does not cover it"),
        ),
        Check(
            "output layer linear",
            out in PIECEWISE_AFFINE,
            f"'{out}'"
            + (
                ""
                if out == "linear"
                else ": piecewise affine, so f stays in the theory"
                + (" (a plain ReLU output is not injective: level 1 at most)" if out == "relu" else "")
                if out in PIECEWISE_AFFINE
                else ": a squashing output leaves the theory; use a linear output"
            ),
        ),
    ]
    m, n = widths[0], widths[-1]
    obs_ok = n >= m
    checks.append(
        Check(
            "data dimension >= latent dimension",
            obs_ok,
            f"n = {n}, m = {m}" + ("" if obs_ok else ": f cannot be injective"),
            {"obs_dim": int(n), "latent_dim": int(m)},
        )
    )
    nondecreasing = all(a <= b for a, b in zip(widths[:-1], widths[1:], strict=False))
    checks.append(
        Check("widths never shrink", nondecreasing, " -> ".join(map(str, widths)), {"widths": [int(w) for w in widths]})
    )
    full_rank: bool | None = None
    if decoder.weights is not None:
        smallest = []
        for w in decoder.weights:
            s = np.linalg.svd(np.asarray(w, dtype=np.float64), compute_uv=False)
            smallest.append(s[-1] / max(s[0], 1e-300))
        full_rank = bool(min(smallest) > RANK_TOL)
        if nondecreasing:  # a layer that maps to fewer units than it reads collapses a direction everywhere
            full_rank = full_rank and all(min(np.shape(w)) == np.shape(w)[1] for w in decoder.weights)
        worst = int(np.argmin(smallest))
        checks.append(
            Check(
                "every layer full rank",
                full_rank,
                f"smallest relative singular value {min(smallest):.3g} (layer {worst}); "
                f"condition numbers up to {1 / max(min(smallest), 1e-300):.3g}",
                {
                    "min_relative_singular_value": float(min(smallest)),
                    "worst_layer": worst,
                    "max_condition_number": float(1 / max(min(smallest), 1e-300)),
                },
            )
        )
    else:
        checks.append(
            Check(
                "every layer full rank",
                None,
                "not checked: no weights given (drawn at random: full rank almost surely)",
            )
        )
    weakly = full_rank is not False
    if (not nondecreasing or act == "relu") and decoder.jacobian_rank is not None:
        # Wide then narrow, or plain ReLU: no layer-wise argument. A piecewise-affine f whose Jacobian has full
        # column rank where the prior puts its mass has finitely many preimages there; that is needed for weak
        # injectivity, not enough (such an f may still fold two regions onto one: f(z) = |z|), so weak
        # injectivity stays an assumption. A rank-deficient Jacobian (dead ReLUs, a constant f) rules it out.
        smallest, points = decoder.jacobian_rank
        weakly = bool(smallest > RANK_TOL)
        checks.append(
            Check(
                "Jacobian of f full column rank (needed for weak injectivity)",
                weakly,
                f"smallest relative singular value {smallest:.3g} over {points} points drawn from the prior",
                {"min_relative_singular_value": float(smallest), "points": int(points)},
            )
        )
    narrowest = min(widths[1:-1], default=m)  # hidden layers only: n < m has its own check above
    if narrowest < m:  # f's Jacobian has rank <= narrowest < m on every piece, whatever the weights
        weakly = False
        checks.append(
            Check(
                "no layer narrower than m",
                False,
                f"a layer of {narrowest} unit(s) < m = {m}: every point of the image has infinitely many preimages",
                {"narrowest": int(narrowest), "latent_dim": int(m)},
            )
        )
    out_injective = out in ("linear", "leaky-relu")  # a leaky ReLU output is injective and piecewise affine too
    injective = pw_affine and out_injective and obs_ok and nondecreasing and act != "relu" and full_rank is not False
    if act == "relu":
        detail = "plain ReLU: at best weakly injective (one-to-one on some open piece); level 1 at most"
    elif injective:
        kind = "affine" if act == "linear" else "leaky-ReLU"
        detail = f"{kind}, full-rank layers, widths never shrink: injective"
    elif not nondecreasing and weakly and decoder.jacobian_rank is not None:
        detail = (
            "widths shrink somewhere: not shown injective; its Jacobian has full rank, which weak injectivity "
            "needs, and weak injectivity is assumed (f may fold); level 1 at most"
        )
    else:
        detail = "not shown injective"
    checks.append(Check("f injective", injective, detail))
    # A rank-deficient layer (or Jacobian) collapses a direction everywhere: not even weakly injective.
    in_theory = pw_affine and (out in PIECEWISE_AFFINE) and obs_ok and weakly
    return checks, in_theory, injective


def _check_description(prior: PriorDescription) -> None:
    """Refuse a prior the checks cannot read: shapes (K,), (K, m), (K, m, m), finite values, and weights that
    are not negative and sum to 1."""
    weights, means, cov = (np.asarray(a, dtype=np.float64) for a in (prior.weights, prior.means, prior.covariances))
    k = weights.shape[0] if weights.ndim == 1 else -1
    if k < 1 or means.ndim != 2 or means.shape[0] != k or cov.shape != (k, means.shape[1], means.shape[1]):
        raise InvalidParameterError(
            f"the prior's weights, means and covariances must have shapes (K,), (K, m) and (K, m, m); got "
            f"{weights.shape}, {means.shape} and {cov.shape}."
        )
    if not (np.isfinite(weights).all() and np.isfinite(means).all() and np.isfinite(cov).all()):
        raise InvalidParameterError("the prior's weights, means and covariances must be finite (no NaN or inf).")
    if (weights < 0).any() or abs(weights.sum() - 1.0) > 1e-3:  # 1e-3: float32 weights of many components
        raise InvalidParameterError(
            f"the prior's weights must be >= 0 and sum to 1; got {np.array2string(weights, precision=3)}. "
            "Normalise them."
        )


def _without_unused(prior: PriorDescription) -> tuple[PriorDescription, str | None]:
    """The prior without components of weight below ``UNUSED_WEIGHT`` (a fitted mixture that stopped using some:
    p(z) has only the others, and they alone count toward level 3's 2m + 1), and a note naming them."""
    weights = np.asarray(prior.weights, dtype=np.float64)
    unused = np.flatnonzero(weights < UNUSED_WEIGHT)
    if not unused.size or unused.size == weights.size or prior.facets is not None:
        return prior, None
    keep = weights >= UNUSED_WEIGHT
    reduced = PriorDescription(
        weights[keep] / weights[keep].sum(),
        np.asarray(prior.means, dtype=np.float64)[keep],
        np.asarray(prior.covariances, dtype=np.float64)[keep],
    )
    listed = ", ".join(map(str, unused))
    note = (
        f"Component(s) {listed} have weight below {UNUSED_WEIGHT:g}: p(z) is the mixture of the other "
        f"{int(keep.sum())}, which alone are checked."
    )
    return reduced, note


def assess(prior: PriorDescription, decoder: DecoderDescription) -> Verdict:
    """Which level of the hierarchy applies, with every assumption checked.

    ``prior``: the mixture p(z) (``PriorDescription``: weights (K,), means (K, m), covariances (K, m, m), facets);
    ``decoder``: the network f (``DecoderDescription``: widths, activation, weights). Build both from a simulated
    generator with ``latentid.explaining.describe_generator`` or from a fitted model with
    ``latentid.explaining.describe_model``; ``latentid.explaining.explain_model`` / ``explain_dataset`` wrap them.
    """
    _check_description(prior)
    prior, unused_note = _without_unused(prior)
    prior_checks, prior_ok = _prior_checks(prior)
    decoder_checks, in_theory, injective = _decoder_checks(decoder)
    checks = prior_checks + decoder_checks
    notes: list[str] = [unused_note] if unused_note else []
    cov = np.asarray(prior.covariances, dtype=np.float64)
    k, m = np.asarray(prior.means).shape
    off_diagonal = cov - np.einsum("kii->ki", cov)[:, :, None] * np.eye(m)
    sds = np.sqrt(np.maximum(np.einsum("kii->ki", cov), 0.0))
    # as correlations, so that no rescaling of z changes the level (an absolute 1e-8 did: a prior of correlation
    # 0.9 read as diagonal once z was scaled by 1e-5); sd times sd, not the root of a product that underflows
    scale = sds[:, :, None] * sds[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        correlations = np.where(off_diagonal == 0, 0.0, off_diagonal / scale)
    diagonal = bool(np.all(np.abs(correlations) <= DIAGONAL_TOL))
    largest_off = float(np.abs(off_diagonal).max()) if off_diagonal.size else 0.0
    checks.append(
        Check(
            "diagonal covariances (level 3)",
            diagonal,
            "every component diagonal" if diagonal else f"off-diagonal terms up to {largest_off:.3g}",
            {"max_abs_off_diagonal": largest_off},
        )
    )
    variability = (
        _variability_check(prior)
        if diagonal
        else Check("components vary enough (level 3)", None, "needs diagonal covariances first")
    )
    checks.append(variability)
    if diagonal and variability.passed and m >= 2:
        checks.append(_axis_check(prior))
    if prior.facets is not None:
        checks.append(_facet_check(prior))
    if not (prior_ok and in_theory):
        level = "none"
        failed = [
            c.name
            for c in checks
            if c.passed is False and "level 3" not in c.name and c.name not in {"f injective", FACET_CHECK}
        ]
        notes.append("Outside the theory: " + "; ".join(failed) + ".")
    elif k == 1 and injective:
        level = "vanilla"
        notes.append("One Gaussian component (a vanilla VAE prior): identifiable only up to rotation.")
    elif k == 1:
        level = "none"
        notes.append(
            "One Gaussian component and an f only weakly injective: level 1 (p(z) up to an affine map) holds for any "
            "single Gaussian and says nothing of z, and the rotation guarantee of a vanilla VAE needs f injective."
        )
    elif injective and diagonal and variability.passed:
        level = "3"
    elif injective:
        level = "2"
    else:
        level = "1"
        notes.append(
            "Level 1 assumes f weakly injective (one-to-one on some open piece of its image), as the theory does for "
            "ReLU nets and decoders that narrow; it is not shown: a full-rank Jacobian, checked where a model's is "
            "known, rules out collapsed directions, not a fold of two regions onto one."
        )
    if prior.facets is not None:
        notes.extend(_facet_note(prior, level, diagonal, variability))
    if level == "3":
        notes.append(
            "Level 3's exact conditions are our reconstruction of the paper's follow-ups (iVAE-type variability)."
        )
    return Verdict(level=level, equivalence=EQUIVALENCE[level], checks=checks, notes=notes)


def recoverability(jacobians: np.ndarray, noise: float, prior_std: float) -> Check:
    """Does noise drown a direction? jacobians of shape (n, n_obs, m) evaluated on the data.

    The posterior spread along f's weakest direction is about noise / s_min; we warn when it
    exceeds a tenth of the prior's smallest standard deviation at the 10th percentile of s_min.
    """
    s_min = np.linalg.svd(jacobians, compute_uv=False)[:, -1]
    p10, median = np.percentile(s_min, [10, 50])
    resolution = noise / max(p10, 1e-300)
    ok = resolution <= 0.1 * prior_std
    # No assumption of the hierarchy: a warning ("!") when it fails, never a cross beside a level it does not touch
    warning = (
        None
        if ok
        else f"noise blurs z by {resolution:.3g} along f's weakest direction, over a tenth of {prior_std:.3g}"
    )
    return Check(
        "noise leaves every direction recoverable",
        True,
        f"smallest Jacobian singular value: median {median:.3g}, 10th percentile {p10:.3g}; "
        f"noise {noise:.3g} blurs z by about {resolution:.3g} along the weakest direction "
        f"(prior's smallest std {prior_std:.3g})",
        {
            "median_min_singular_value": float(median),
            "p10_min_singular_value": float(p10),
            "noise": float(noise),
            "blur": float(resolution),
            "prior_min_std": float(prior_std),
        },
        warning,
    )
