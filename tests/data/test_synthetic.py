import numpy as np
import pytest

from latentid.data.io import read_dataset
from latentid.data.synthetic import SyntheticGenerator, SyntheticSpec, save_simulation
from latentid.errors import InvalidParameterError


def test_shapes_and_dtypes():
    data = SyntheticSpec.create(latent_dim=3, obs_dim=7, components=5).build().sample(200)
    assert data.x.shape == (200, 7) and data.x.dtype == np.float32
    assert data.z.shape == (200, 3) and data.z.dtype == np.float32
    assert data.c.shape == (200,) and data.c.dtype == np.int64 and set(np.unique(data.c)) <= set(range(5))


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path):
    files = []
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        gen = SyntheticSpec.create(seed=seed).build()
        save_simulation(tmp_path / f"{name}.npz", gen, gen.sample(100))
        files.append((tmp_path / f"{name}.npz").read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


@pytest.mark.parametrize("covariance", ["full", "diag", "isotropic"])
def test_sample_moments_match_prior(covariance):
    gen = SyntheticSpec.create(latent_dim=2, components=3, covariance=covariance, weights="dirichlet").build()
    z, c = gen.prior.sample(200_000, np.random.default_rng(1))
    np.testing.assert_allclose(z.mean(0), gen.prior.mean(), atol=0.02)
    np.testing.assert_allclose(np.cov(z.T), gen.prior.covariance(), atol=0.05)
    np.testing.assert_allclose(np.bincount(c, minlength=3) / len(c), gen.prior.weights, atol=0.005)
    for k in range(3):
        np.testing.assert_allclose(np.cov(z[c == k].T), gen.prior.covariances[k], atol=0.03)
    if covariance != "full":
        assert gen.prior.is_diagonal


def test_prior_log_prob_matches_scipy():
    from scipy.stats import multivariate_normal

    prior = SyntheticSpec.create(components=3).build().prior
    z = np.random.default_rng(0).normal(size=(10, 2))
    expected = np.log(
        sum(
            w * multivariate_normal(m, c).pdf(z)
            for w, m, c in zip(prior.weights, prior.means, prior.covariances, strict=True)
        )
    )
    np.testing.assert_allclose(prior.log_prob(z), expected, rtol=1e-10)
    np.testing.assert_allclose(prior.responsibilities(z).sum(1), 1.0)


def test_standard_normal_prior_is_one_isotropic_component():
    gen = SyntheticSpec.create(prior="standard-normal", components=4).build()
    assert gen.prior.n_components == 1
    np.testing.assert_array_equal(gen.prior.covariances[0], np.eye(2))


def test_mixing_is_injective_and_invertible():
    gen = SyntheticSpec.create(latent_dim=3, obs_dim=8, depth=5, noise=0.0).build()
    z = gen.prior.sample(2000, np.random.default_rng(0))[0]
    x = gen.mixing(z)
    np.testing.assert_allclose(gen.mixing.invert(x), z, atol=1e-8)
    # distinct z -> distinct x: the closest pair of images is not closer than the Lipschitz bound allows
    i, j = np.triu_indices(300, 1)
    dz = np.linalg.norm(z[i] - z[j], axis=1)
    dx = np.linalg.norm(x[i] - x[j], axis=1)
    assert np.all(dx > 0) and np.min(dx / dz) > 1e-3


def test_layers_full_rank_with_bounded_condition():
    gen = SyntheticSpec.create(latent_dim=4, obs_dim=20, depth=4).build()
    assert gen.mixing.widths == [4, 20, 20, 20, 20]
    for w in gen.mixing.weights:
        s = np.linalg.svd(w, compute_uv=False)
        assert s[-1] > 0 and s[0] / s[-1] <= 10.0 + 1e-9


def test_jacobian_matches_finite_differences():
    gen = SyntheticSpec.create(latent_dim=2, obs_dim=5, depth=3).build()
    z = np.random.default_rng(2).normal(size=(4, 2))
    eps = 1e-6
    numeric = np.stack([(gen.mixing(z + eps * e) - gen.mixing(z - eps * e)) / (2 * eps) for e in np.eye(2)], -1)
    np.testing.assert_allclose(gen.mixing.jacobian(z), numeric, atol=1e-5)


def test_generator_round_trips_through_npz(tmp_path):
    gen = SyntheticSpec.create(seed=5, depth=3).build()
    save_simulation(tmp_path / "d.npz", gen, gen.sample(50))
    data = read_dataset(tmp_path / "d.npz")
    rebuilt = SyntheticGenerator.from_arrays(data.extras)
    assert rebuilt.spec == gen.spec
    np.testing.assert_allclose(rebuilt.mixing(data.z), gen.mixing(data.z))


def test_noise_level_is_respected():
    gen = SyntheticSpec.create(noise=0.1).build()
    data = gen.sample(5000)
    resid = data.x - gen.mixing(data.z)
    assert abs(resid.std() - 0.1) < 0.005


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obs_dim": 1, "latent_dim": 2}, "obs_dim"),
        ({"components": 0}, "components"),
        ({"noise": -0.1}, "noise"),
        ({"slope": 0.0}, "slope"),
        ({"slope": -1.0}, "slope"),
        ({"hidden_width": 50}, "hidden_width"),
        ({"activation": "swish"}, "activation"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        SyntheticSpec.create(**kwargs)


def test_written_file_has_ordinary_permissions(tmp_path):
    import os

    gen = SyntheticSpec.create(depth=2).build()
    save_simulation(tmp_path / "d.npz", gen, gen.sample(10))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "d.npz").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def test_a_simulation_that_overflows_float32_is_refused_in_one_line():
    gen = SyntheticSpec.create(noise=1e300, seed=0).build()
    with pytest.raises(InvalidParameterError, match=r"^The simulated x does not fit in float32.*Lower the noise"):
        gen.sample(10)


def test_components_so_far_out_that_float32_rounds_z_are_refused():
    """At mean scale 1e30, z stored as float32 kept 4 distinct values of 300 while x came from the exact z;
    at 1e5 the rounding is still over 1% of a component's sd; 1e4 is kept."""
    with pytest.raises(InvalidParameterError, match=r"mean_scale \(1e\+30\) is more than 1e\+06"):
        SyntheticSpec.create(mean_scale=1e30)
    with pytest.raises(InvalidParameterError, match=r"^float32, which z is stored in, rounds it by up to .*mean scale"):
        SyntheticSpec(mean_scale=1e5, seed=0).build().sample(300, random_state=0)
    data = SyntheticSpec(mean_scale=1e4, seed=0).build().sample(300, random_state=0)
    assert data.z.shape == (300, 2)  # kept: rounded by under 1% of a component sd


def test_noise_below_float32_rounding_of_x_is_warned_about():
    # x is stored as float32: at noise 1e-9 the rounding (~1e-7 here) is the larger error, and the true
    # model's likelihood would score it; at the default 0.01 (and at 1e-4) nothing is said.
    with pytest.warns(UserWarning, match=r"noise scale 1e-09 is below the float32 rounding of x .* unreliable"):
        SyntheticSpec(noise=1e-9).build().sample(200, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SyntheticSpec(noise=1e-4).build().sample(200, random_state=0)
        SyntheticSpec().build().sample(200, random_state=0)


def test_sample_takes_a_whole_number_of_samples_only():
    gen = SyntheticSpec.create(seed=0).build()
    assert len(gen.sample(np.int64(5)).x) == 5
    for bad in (3.0, True, "5", 0):
        with pytest.raises(InvalidParameterError, match="must be an int >= 1"):
            gen.sample(bad)


@pytest.mark.parametrize("noise", [0.01, 0.1])
def test_misfit_of_data_the_generator_drew_is_about_one(noise):
    """The misfit is the squared residual over noise^2 (not noise): about 1 for the generator's own rows, and far
    above 1 once x is changed (here its columns put in reverse order)."""
    gen = SyntheticSpec.create(latent_dim=2, obs_dim=6, depth=2, noise=noise, seed=4).build()
    x = gen.sample(400).x
    assert 0.3 < gen.misfit(x) < 3.0
    assert gen.misfit(x[:, ::-1].copy()) > 30


def test_the_true_f_names_points_of_the_wrong_shape():
    """gen.mixing(z), .jacobian and .invert (README's Python API) read a 1-D point through numpy's matmul errors,
    and invert(np.float64(1.0)) broadcast the scalar as a row and returned a point."""
    import torch

    from latentid.errors import InvalidDataError

    gen = SyntheticSpec.create(depth=2, obs_dim=4, seed=1).build()
    for call, value, match in (
        (gen.mixing, np.zeros(2), r"z must have shape \(n, 2\); got \(2,\)"),
        (gen.mixing.jacobian, np.zeros((5, 3)), r"z must have shape \(n, 2\)"),
        (gen.mixing.invert, np.float64(1.0), r"x must have shape \(n, 4\); got \(\)"),
    ):
        with pytest.raises(InvalidDataError, match=match):
            call(value)
    z = np.random.default_rng(0).normal(size=(3, 2))
    np.testing.assert_array_equal(gen.mixing(torch.tensor(z, requires_grad=True)), gen.mixing(z))
