"""Signal-to-noise of learned latent dimensions: the means' spread over rows against the posterior sd."""

import numpy as np
import pytest

from latentid.metrics.activity import inactive_dimensions, latent_signal_to_noise


def test_signal_to_noise_is_the_means_spread_over_the_rms_posterior_sd():
    rng = np.random.default_rng(0)
    means = np.column_stack([rng.normal(0, 2.0, 5000), rng.normal(0, 0.01, 5000), np.full(5000, 3.0)])
    sds = np.column_stack([np.full(5000, 0.5), rng.uniform(0.05, 0.15, 5000), np.zeros(5000)])
    snr = latent_signal_to_noise(means, sds)
    assert snr[0] == pytest.approx(4.0, rel=0.03)
    assert snr[1] == pytest.approx(means[:, 1].std() / np.sqrt(np.mean(sds[:, 1] ** 2)), rel=1e-9)  # rms of the sds
    assert snr[2] == np.inf  # a deterministic encoder: no posterior noise at all
    assert inactive_dimensions(snr) == [1]
    # Free of the latent's scale, which a learned prior sets.
    np.testing.assert_allclose(latent_signal_to_noise(means * 1e3, sds * 1e3)[:2], snr[:2])


def test_a_spread_resting_on_one_outlier_row_is_not_activity():
    """One row encoded far away (an outlier in x) made a fit whose other 599 rows sat on one point read active."""
    rng = np.random.default_rng(3)
    means = rng.normal(size=(600, 2)) * 1e-3
    means[0] = [1e3, -1e3]
    assert inactive_dimensions(latent_signal_to_noise(means, np.full((600, 2), 0.07))) == [0, 1]


def test_a_small_cluster_and_gaussian_means_keep_their_plain_spread():
    rng = np.random.default_rng(4)
    gaussian = rng.normal(size=(2000, 1))
    cluster = np.where(rng.random((2000, 1)) < 0.1, 5.0, 0.0) + 0.01 * rng.normal(size=(2000, 1))  # 10% far off
    for means in (gaussian, cluster):
        snr = latent_signal_to_noise(means, np.full((2000, 1), 0.5))
        assert snr[0] == pytest.approx(means.std() / 0.5)


def test_few_rows_keep_their_plain_spread():
    """Under 200 rows the 0.5% quantiles cut the minimum and maximum themselves: at 3 rows every dimension read 0."""
    rng = np.random.default_rng(8)
    for n in (3, 5, 10, 50):
        means = rng.normal(size=(n, 4))
        np.testing.assert_allclose(latent_signal_to_noise(means, np.ones((n, 4))), means.std(axis=0))
