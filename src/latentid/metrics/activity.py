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


def latent_signal_to_noise(means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """sd over rows of E_q[z_j|x] / sqrt(mean over rows of Var_q[z_j|x]), per dimension j; means and sds
    (n_samples, m) -> (m,). A dimension with zero posterior sd (a deterministic encoder) is infinitely active."""
    means, sds = np.asarray(means, dtype=np.float64), np.asarray(sds, dtype=np.float64)
    noise = np.sqrt(np.mean(np.square(sds), axis=0))
    spread = np.std(means, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(noise > 0, spread / noise, np.inf)


def inactive_dimensions(snr: np.ndarray) -> list[int]:
    """The dimensions (0-based) whose signal-to-noise is below ``INACTIVE_SNR``."""
    return [int(j) for j in np.flatnonzero(np.asarray(snr) < INACTIVE_SNR)]
