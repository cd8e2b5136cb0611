import numpy as np

from latentid.data.synthetic import SyntheticSpec
from latentid.oracle import oracle_posterior


def test_oracle_recovers_z_almost_exactly_at_tiny_noise():
    gen = SyntheticSpec.create(noise=1e-4, depth=4).build()
    data = gen.sample(300)
    z_hat = gen.posterior_mean(data.x, n_samples=64)
    assert np.median(np.abs(z_hat - data.z)) < 1e-3
    assert np.quantile(np.abs(z_hat - data.z), 0.99) < 0.05


def test_oracle_is_exact_inverse_without_noise():
    gen = SyntheticSpec.create(noise=0.0, depth=4).build()
    data = gen.sample(200)
    np.testing.assert_allclose(gen.posterior_mean(data.x), data.z, atol=1e-4)


def test_oracle_is_stable_across_importance_sampling_seeds():
    gen = SyntheticSpec.create(noise=0.05, depth=4).build()
    data = gen.sample(200)
    a = gen.posterior_mean(data.x, random_state=0)
    b = gen.posterior_mean(data.x, random_state=1)
    err = np.abs(a - data.z).mean()
    # Monte-Carlo differences are small against the posterior's own spread.
    assert np.abs(a - b).mean() < 0.25 * err
    assert np.array_equal(a, gen.posterior_mean(data.x, random_state=0))


def test_oracle_beats_the_map_and_the_naive_inverse_in_mean_squared_error():
    gen = SyntheticSpec.create(noise=0.1, depth=3).build()
    data = gen.sample(1000)
    result = oracle_posterior(gen.prior, gen.mixing, gen.noise, data.x, n_samples=256)
    mse = lambda est: np.mean((est - data.z) ** 2)  # noqa: E731
    assert mse(result.mean) <= mse(result.map) * 1.02
    assert mse(result.mean) < mse(gen.mixing.invert(data.x))
    assert np.all(result.ess >= 1.0)
