"""Which learned latent dimensions carry information: the posterior means' spread against the posterior's own sd.

A dimension whose encoder means vary across the data less than the encoder's posterior sd (signal-to-noise
below ``INACTIVE_SNR``) says almost nothing about x: the fit has collapsed it, and uses fewer dimensions
than it has (a mixture prior can lock this in, by giving that dimension components of tiny variance). The
ratio is free of the latent's scale, which a learned prior sets, unlike Burda et al.'s absolute
Cov_x(E_q[z]) > 0.01 for an N(0, I) prior.
"""

from __future__ import annotations

import numpy as np

INACTIVE_SNR = 1.0  # below: the means' spread over the data is smaller than the posterior's own sd


FEW_ROWS_TAIL = 0.005  # rows beyond these quantiles (each side) are the few rows a spread may not rest on
FEW_ROWS_SHARE = 0.5  # a spread this much larger than the central rows' rests on the few rows beyond them


def _spread(means: np.ndarray) -> np.ndarray:
    """The sd over rows of ``means`` (n, m) per column, or, from 200 rows on, where that sd rests on a few rows
    (the central 99% of the rows spread less than FEW_ROWS_SHARE of it), the central rows' sd: one outlier row
    encoded far away made a fit whose other rows all sat on one point read as active."""
    spread = np.std(means, axis=0)
    if means.shape[0] * FEW_ROWS_TAIL < 1:  # under 200 rows the quantiles would cut whole rows: the min and max
        return spread
    low, high = np.quantile(means, [FEW_ROWS_TAIL, 1 - FEW_ROWS_TAIL], axis=0)
    # each column keeps at least its rows between the two quantiles, so none is all NaN
    inner = np.nanstd(np.where((means >= low) & (means <= high), means, np.nan), axis=0)
    return np.where(inner < FEW_ROWS_SHARE * spread, inner, spread)


def latent_signal_to_noise(means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """sd over rows of E_q[z_j|x] / sqrt(mean over rows of Var_q[z_j|x]), per dimension j; means and sds
    (n_samples, m) -> (m,). A dimension with zero posterior sd (a deterministic encoder) is infinitely active.
    An sd that rests on a few rows (under 1% of them, far from the rest) is the sd of the other rows instead."""
    means, sds = np.asarray(means, dtype=np.float64), np.asarray(sds, dtype=np.float64)
    noise = np.sqrt(np.mean(np.square(sds), axis=0))
    spread = _spread(means)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(noise > 0, spread / noise, np.inf)


def inactive_dimensions(snr: np.ndarray) -> list[int]:
    """The dimensions (0-based) whose signal-to-noise is below ``INACTIVE_SNR``."""
    return [int(j) for j in np.flatnonzero(np.asarray(snr) < INACTIVE_SNR)]
