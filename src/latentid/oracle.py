"""The oracle: E[z | x] under the *true* generating model (prior, f and noise).

No encoder can recover z better than this posterior mean, so every quality figure in
latentid is read against it. How it is computed, per observation x:

1. MAP: damped Gauss-Newton on  ||x - f(z)||^2 / (2 sigma^2) - log p(z), started from the
   best few of many candidate points (the layer-by-layer inverse of x, the component means,
   draws from the prior); the best end point is kept. Leaky-ReLU nets that squeeze some
   directions hard have local optima, hence the many starts.
2. Self-normalised importance sampling around the MAP with a multivariate Student-t
   proposal (5 degrees of freedom, scale = inverse Gauss-Newton Hessian), whose heavy tails
   cover the neighbouring affine pieces of f. Weights are handled in log space.

The same draws give p(c | x) = E[p(c | z) | x], the posterior over the prior's components: its argmax is
the Bayes classifier, the clustering ceiling no model of x alone beats on average. The same draws, with
every density normalised, also estimate the true log-likelihood
log p(x) = log E_r[p(x|z) p(z) / r(z)] (``true_log_likelihood``), with its Monte Carlo standard
error by the delta method. It is the ceiling every fitted model's bound is read against.

With zero noise the posterior is a point mass at f^{-1}(x), which the MAP step returns (and
log p(x) is not a density in R^n: ``true_log_likelihood`` refuses it).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

from latentid._random import SeedLike, numpy_rng
from latentid.data.io import validate_matrix
from latentid.data.mixing import MixingMLP
from latentid.data.mixture import GaussianMixture
from latentid.errors import InvalidDataError, InvalidParameterError

logger = logging.getLogger(__name__)
# Called with (rows done, rows in all) after each chunk of an oracle pass, within ``reporting_rows``.
_ROW_PROGRESS: ContextVar[Callable[[int, int], None] | None] = ContextVar("oracle_row_progress", default=None)


@contextlib.contextmanager
def reporting_rows(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Within it, every oracle pass (posterior means, log p(x), the likelihood gaps) calls ``callback(done,
    total)`` after each chunk of rows: a pass over a million rows takes half an hour, so a progress bar's."""
    token = _ROW_PROGRESS.set(callback)
    try:
        yield
    finally:
        _ROW_PROGRESS.reset(token)


STUDENT_DF = 5.0
GN_ITERATIONS = 60
PRIOR_STARTS = 2048
N_REFINED = 4
START_SEED = 0  # solver starts are fixed, so only the importance sampling depends on random_state
# A MAP whose squared residual / sigma^2 is this many chi-square sds above n_obs (its mean at the true z) is
# solved again. 10 sds let wrong basins through whose residual was 1-4.5 sds high, each 2-21 nats below the
# right one (14 of 3,000 rows of the default setting, mean log p(x) 0.02 nat low); 0 catches them for 1.3-1.5
# times the oracle's time (with the starts refined in one batch).
RESCUE_SDS = 0.0
RESCUE_STARTS = 1 << 16  # prior draws searched for the rows solved again
RESCUE_REFINED = 16  # of which the nearest this many are refined
MEMORY_BUDGET = 1e7  # float64 entries per chunk of importance samples (about 160 MB)
MAX_CHUNK_ROWS = 1000


@dataclass(frozen=True)
class OracleResult:
    """mean : (n, m) posterior means; map : (n, m) MAP points; ess : (n,) effective sample sizes;
    log_likelihood, log_likelihood_se : (n,) importance estimates of log p(x) and their Monte Carlo
    standard errors (NaN when the noise is 0); component_probs : (n, K) p(c = k | x) under the true model
    (at the MAP when the noise is 0)."""

    mean: np.ndarray
    map: np.ndarray
    ess: np.ndarray
    log_likelihood: np.ndarray
    log_likelihood_se: np.ndarray
    component_probs: np.ndarray


def _prior_grad_and_precision(prior: GaussianMixture, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """grad log p(z) of shape (n, m) and the responsibility-weighted precision (n, m, m)."""
    gamma = prior.responsibilities(z)  # (n, K)
    precisions = np.linalg.inv(prior.covariances)  # (K, m, m)
    diff = z[:, None, :] - prior.means[None]  # (n, K, m)
    # matmul rather than multi-operand einsum, which numpy runs as one unblocked loop (7-15 times slower here)
    grad = -np.sum(gamma[:, :, None] * np.matmul(precisions, diff[..., None])[..., 0], axis=1)
    k, m = precisions.shape[0], precisions.shape[-1]
    return grad, (gamma @ precisions.reshape(k, m * m)).reshape(-1, m, m)


def _gram(jac: np.ndarray) -> np.ndarray:
    """J^T J of each row's Jacobian: (n, n_obs, m) -> (n, m, m)."""
    return np.matmul(jac.transpose(0, 2, 1), jac)


def _objective(prior, mixing, x, z, data_weight, prior_weight) -> np.ndarray:
    resid = x - mixing(z)
    return 0.5 * data_weight * np.sum(resid**2, axis=1) - prior_weight * prior.log_prob(z)


def _gauss_newton(prior, mixing, x, z, data_weight, prior_weight) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt steps on every row at once; returns (z, GN Hessian) of shapes (n, m), (n, m, m)."""
    m = z.shape[1]
    damping = np.full(len(z), 1e-3)
    value = _objective(prior, mixing, x, z, data_weight, prior_weight)
    for _ in range(GN_ITERATIONS):
        jac = mixing.jacobian(z)  # (n, n_obs, m)
        resid = x - mixing(z)
        prior_grad, prior_prec = _prior_grad_and_precision(prior, z)
        grad = -data_weight * np.matmul(resid[:, None, :], jac)[:, 0] - prior_weight * prior_grad
        hess = data_weight * _gram(jac) + prior_weight * prior_prec
        # Floored: with noise 0 (no prior term) a start where a ReLU layer is all dead has J = 0, so hess = 0;
        # its step is then 0 (grad = 0 too) rather than a singular solve.
        scale = np.maximum(np.einsum("nii->ni", hess), 1e-12)
        damped = hess + (damping[:, None] * scale)[:, :, None] * np.eye(m)
        step = -np.linalg.solve(damped, grad[..., None])[..., 0]
        candidate = z + step
        new_value = _objective(prior, mixing, x, candidate, data_weight, prior_weight)
        better = new_value < value
        z = np.where(better[:, None], candidate, z)
        value = np.where(better, new_value, value)
        damping = np.where(better, damping / 3.0, damping * 4.0).clip(1e-9, 1e9)
        if np.all(np.abs(step).max(axis=1) < 1e-10) or np.all(damping >= 1e9):
            break
    jac = mixing.jacobian(z)
    hess = data_weight * _gram(jac) + prior_weight * _prior_grad_and_precision(prior, z)[1]
    return z, hess


def map_estimate(
    prior: GaussianMixture, mixing: MixingMLP, noise: float, x: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """MAP of p(z | x) (the least-squares inverse when noise is 0), and its Gauss-Newton Hessian.

    Starts: the layer-by-layer inverse of x, the component means and PRIOR_STARTS draws from
    the prior (shared by all rows); the N_REFINED best starts per row by objective are refined.
    Returns z of shape (n, m) and the Hessian of shape (n, m, m).
    """
    data_weight, prior_weight = (1.0 / noise**2, 1.0) if noise > 0 else (1.0, 0.0)
    shared = np.concatenate([prior.means, prior.sample(PRIOR_STARTS, rng)[0]])  # (S0, m)
    images = mixing(shared)  # (S0, n_obs)
    # Objective of every (row, start) pair at once: squared distances through one matmul.
    sq_dist = (x**2).sum(1)[:, None] - 2.0 * x @ images.T + (images**2).sum(1)[None]
    values = 0.5 * data_weight * sq_dist - prior_weight * prior.log_prob(shared)[None]  # (n, S0)
    inverse = mixing.invert(x)
    values = np.concatenate([_objective(prior, mixing, x, inverse, data_weight, prior_weight)[:, None], values], 1)
    candidates = np.concatenate([inverse[:, None], np.broadcast_to(shared[None], (len(x),) + shared.shape)], 1)
    rows = np.arange(len(x))
    best = np.argsort(values, axis=1)[:, :N_REFINED].T  # (N_REFINED, n)
    z, hess, _ = _best_of_starts(prior, mixing, x, candidates[rows, best], data_weight, prior_weight)
    if noise > 0:
        z, hess = _rescue_missed_modes(prior, mixing, noise, x, z, hess)
    return z, hess


def _best_of_starts(prior, mixing, x, starts, data_weight, prior_weight):
    """Refine every start of every row in one batch and keep each row's best end.

    x (n, n_obs), starts (S, n, m). Returns z (n, m), its Hessian (n, m, m) and objective (n,).
    """
    n_starts, n, m = starts.shape
    tiled = np.broadcast_to(x, (n_starts, *x.shape)).reshape(-1, x.shape[1])
    z, hess = _gauss_newton(prior, mixing, tiled, starts.reshape(-1, m), data_weight, prior_weight)
    value = _objective(prior, mixing, tiled, z, data_weight, prior_weight).reshape(n_starts, n)
    pick, rows = np.argmin(value, axis=0), np.arange(n)
    return z.reshape(n_starts, n, m)[pick, rows], hess.reshape(n_starts, n, m, m)[pick, rows], value[pick, rows]


def _rescue_missed_modes(prior, mixing, noise, x, z, hess):
    """Rows whose MAP leaves a residual above what the noise leaves on average (its squared norm / sigma^2
    above the chi-square's mean n_obs) may have stopped in a wrong basin: at small noise the basins are narrow,
    and none of the first search's starts may lie in the right one. Refine them again from the RESCUE_REFINED
    nearest images of x among RESCUE_STARTS prior draws; keep whichever end is best.
    z (n, m), hess (n, m, m). Returns (z, hess)."""
    n_obs = x.shape[1]
    misfit = np.sum((x - mixing(z)) ** 2, axis=1) / noise**2
    suspect = np.flatnonzero(misfit > n_obs + RESCUE_SDS * np.sqrt(2.0 * n_obs))
    if suspect.size == 0:
        return z, hess
    xs = x[suspect]
    # More candidates than the first search had, from a fixed larger prior sample: the nearest images of x.
    draws = prior.sample(RESCUE_STARTS, np.random.default_rng(START_SEED + 1))[0]
    images = mixing(draws)
    image_norms = (images**2).sum(1)[None]
    block = max(1, int(MEMORY_BUDGET // RESCUE_STARTS))  # rows whose distances to every image are held at once
    nearest = np.concatenate(  # |x|^2 is left out of the distances: the same for every image of a row
        [_nearest(image_norms - 2.0 * xs[i : i + block] @ images.T) for i in range(0, len(xs), block)]
    ).T  # (RESCUE_REFINED, n_suspect)
    new_z, new_h, new_value = _best_of_starts(prior, mixing, xs, draws[nearest], 1.0 / noise**2, 1.0)
    better = new_value < _objective(prior, mixing, xs, z[suspect], 1.0 / noise**2, 1.0)
    z, hess = z.copy(), hess.copy()
    z[suspect[better]], hess[suspect[better]] = new_z[better], new_h[better]
    return z, hess


def _nearest(sq_dist: np.ndarray) -> np.ndarray:
    """Columns of the RESCUE_REFINED smallest entries of each row, in no order; (b, S) -> (b, RESCUE_REFINED)."""
    return np.argpartition(sq_dist, RESCUE_REFINED, axis=1)[:, :RESCUE_REFINED]


def _student_t_log_density(delta: np.ndarray, hess: np.ndarray, chol_h: np.ndarray) -> np.ndarray:
    """log t_df(delta; 0, H^-1) of offsets delta (n, S, m) from proposals with precision H (n, m, m)."""
    m = delta.shape[-1]
    maha = np.sum(np.matmul(delta, hess) * delta, axis=-1)
    half_log_det_h = np.log(np.diagonal(chol_h, axis1=1, axis2=2)).sum(-1)  # 1/2 log|H| = -1/2 log|Sigma|
    const = gammaln(0.5 * (STUDENT_DF + m)) - gammaln(0.5 * STUDENT_DF) - 0.5 * m * np.log(STUDENT_DF * np.pi)
    return const + half_log_det_h[:, None] - 0.5 * (STUDENT_DF + m) * np.log1p(maha / STUDENT_DF)


_ILL_CONDITIONED = (
    "the generator is too ill-conditioned for the oracle: the posterior p(z | x) at some row is not finite or "
    "not positive definite in float64 (a very deep or saturating mixing); no oracle posterior here."
)


def _row_draws(x: np.ndarray, base_seed: int, n_samples: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's own standard normals (n, S, m) and chi-square(STUDENT_DF) / STUDENT_DF draws (n, S, 1), from a
    generator seeded by ``base_seed`` and the row's bytes: a row's estimate is the same alone, in any batch and
    in any order, while different rows still get independent draws."""
    eps, scale = np.empty((len(x), n_samples, m)), np.empty((len(x), n_samples, 1))
    for i, row in enumerate(np.ascontiguousarray(x)):
        digest = np.frombuffer(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), dtype=np.uint64)
        rng = np.random.default_rng([base_seed, *digest.tolist()])
        eps[i] = rng.standard_normal((n_samples, m))
        scale[i] = rng.chisquare(STUDENT_DF, size=(n_samples, 1)) / STUDENT_DF
    return eps, scale


def _importance_chunk(prior, mixing, noise, x, z_map, hess, n_samples, base_seed):
    """Posterior means (n, m), ESS (n,), log p(x) (n,), its standard error (n,) and p(c | x) (n, K) from each
    row's own draws (``_row_draws``)."""
    n, m = z_map.shape
    n_obs = x.shape[1]
    # Proposal scale C with C C^T = H^{-1}: C = L^{-T} where H = L L^T.
    # A jitter relative to the precision's size as well: a deep generator can make it singular to float64
    # (eigenvalues 0 and 1e21 in one row), where an absolute 1e-9 is lost.
    jitter = 1e-9 + 1e-12 * np.abs(np.trace(hess, axis1=1, axis2=2)) / m
    hess = hess + jitter[:, None, None] * np.eye(m)
    try:
        chol_h = np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        chol_h = None
    if chol_h is None or not np.isfinite(chol_h).all():
        raise InvalidDataError(_ILL_CONDITIONED)
    eps, u = _row_draws(x, base_seed, n_samples, m)
    offsets = np.linalg.solve(np.swapaxes(chol_h, 1, 2)[:, None], eps[..., None])[..., 0]  # (n, S, m)
    delta = offsets / np.sqrt(u)
    z = z_map[:, None, :] + delta
    log_q = _student_t_log_density(delta, hess, chol_h)  # (n, S), normalised
    flat = z.reshape(-1, m)
    resid = np.repeat(x, n_samples, axis=0) - mixing(flat)
    log_lik = -0.5 * np.sum(resid**2, axis=1) / noise**2 - n_obs * (np.log(noise) + 0.5 * np.log(2 * np.pi))
    log_components = prior.component_log_prob(flat)  # (n S, K): log p(z, c)
    log_prior = logsumexp(log_components, axis=1)
    log_joint = (log_lik + log_prior).reshape(n, n_samples)  # log p(x, z), normalised
    log_w = log_joint - log_q
    log_evidence = logsumexp(log_w, axis=1) - np.log(n_samples)  # log of the mean weight
    w = np.exp(log_w - log_evidence[:, None])  # weights relative to their mean, (n, S)
    # Delta method: sd(log p_hat) ~ sd(w / mean w) / sqrt(S).
    se = np.sqrt(np.var(w, axis=1) / n_samples)
    w_norm = w / n_samples  # self-normalised: rows sum to 1
    responsibilities = np.exp(log_components - log_prior[:, None]).reshape(n, n_samples, -1)  # p(c | z_s)
    component_probs = np.einsum("ns,nsk->nk", w_norm, responsibilities)
    return np.einsum("ns,nsm->nm", w_norm, z), 1.0 / np.sum(w_norm**2, axis=1), log_evidence, se, component_probs


def oracle_posterior(
    prior: GaussianMixture,
    mixing: MixingMLP,
    noise: float,
    x: np.ndarray,
    *,
    n_samples: int = 512,
    random_state: SeedLike = 0,
) -> OracleResult:
    """E[z | x] under the true model for x of shape (n, n_obs); see the module docstring."""
    x = validate_matrix(x, "x", min_samples=1, dtype=np.float64)  # numeric, 2-D, finite: NaN in, NaN out otherwise
    if x.shape[1] != mixing.widths[-1]:
        raise InvalidDataError(f"x must have shape (n, {mixing.widths[-1]}) to match the generator; got {x.shape}.")
    if n_samples < 1:
        raise InvalidParameterError(f"n_samples must be >= 1. Got {n_samples} instead.")
    base_seed = int(numpy_rng(random_state).integers(2**63))  # with each row's bytes, seeds the row's draws
    max_width = max(mixing.widths)
    # A row's result hardly depends on its chunk (shared starts, draws seeded by its bytes; only the chunk's shared
    # stopping rule and rounding: means moved by up to 8e-5 when the cap came): the cap is for the progress bar,
    # which moves once a chunk.
    chunk = max(1, min(MAX_CHUNK_ROWS, int(MEMORY_BUDGET // (n_samples * max_width))))
    means, maps, esses, lls, ses, probs = [], [], [], [], [], []
    for start in range(0, len(x), chunk):
        xc = x[start : start + chunk]
        # A deep generator overflows float64 far from the data (its inverse at a start, a trial step): those
        # points score inf and are passed over, so the overflow is no news; a result that is not finite is.
        with np.errstate(over="ignore"):
            z_map, hess = map_estimate(prior, mixing, noise, xc, np.random.default_rng(START_SEED))
        if not (np.isfinite(z_map).all() and np.isfinite(hess).all()):
            raise InvalidDataError(_ILL_CONDITIONED)
        if noise == 0:
            means.append(z_map)
            esses.append(np.full(len(xc), float(n_samples)))
            lls.append(np.full(len(xc), np.nan))
            ses.append(np.full(len(xc), np.nan))
            probs.append(prior.responsibilities(z_map))
        else:
            mean, ess, ll, se, prob = _importance_chunk(prior, mixing, noise, xc, z_map, hess, n_samples, base_seed)
            means.append(mean)
            esses.append(ess)
            lls.append(ll)
            ses.append(se)
            probs.append(prob)
        maps.append(z_map)
        logger.debug("oracle: %d / %d rows", min(start + chunk, len(x)), len(x))
        report = _ROW_PROGRESS.get()
        if report is not None:
            report(min(start + chunk, len(x)), len(x))
    return OracleResult(
        mean=np.concatenate(means).astype(np.float32),
        map=np.concatenate(maps).astype(np.float32),
        ess=np.concatenate(esses),
        log_likelihood=np.concatenate(lls),
        log_likelihood_se=np.concatenate(ses),
        component_probs=np.concatenate(probs),
    )


@dataclass(frozen=True)
class TrueLogLikelihood:
    """log p(x) under the true model. per_sample, per_sample_se : (n,); mean and its Monte Carlo se."""

    per_sample: np.ndarray
    per_sample_se: np.ndarray

    @property
    def mean(self) -> float:
        """Mean log p(x) per sample (nats, the data's units)."""
        return float(np.mean(self.per_sample))

    @property
    def se(self) -> float:
        """Monte Carlo standard error of ``mean`` (draws are independent across rows)."""
        return float(np.sqrt(np.sum(self.per_sample_se**2)) / len(self.per_sample_se))


def true_log_likelihood(
    prior: GaussianMixture,
    mixing: MixingMLP,
    noise: float,
    x: np.ndarray,
    *,
    n_samples: int = 512,
    random_state: SeedLike = 0,
) -> TrueLogLikelihood:
    """log p(x) of x (n, n_obs) under the true prior, f and Gaussian noise, by importance sampling.

    The proposal is the oracle's (a Student-t around the MAP), so the estimate is consistent and,
    for a finite ``n_samples``, biased low by about se^2 / 2 (Jensen): a slight underestimate.
    """
    if not noise > 0:
        raise InvalidParameterError(
            "the true log-likelihood needs noise > 0: with noise 0, x lies on the m-dimensional image of f "
            "and has no density in R^n. Simulate with --noise > 0."
        )
    result = oracle_posterior(prior, mixing, noise, x, n_samples=n_samples, random_state=random_state)
    return TrueLogLikelihood(per_sample=result.log_likelihood, per_sample_se=result.log_likelihood_se)
