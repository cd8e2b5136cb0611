"""Multi-facet simulation (MFC-VAE): the prior is the product of one Gaussian mixture per facet."""

import hashlib

import numpy as np
import pytest
from scipy.linalg import block_diag

from latentid.data.io import read_dataset
from latentid.data.synthetic import (
    SyntheticGenerator,
    SyntheticSpec,
    _draw_mixture,
    facet_blocks,
    save_simulation,
)
from latentid.errors import InvalidDataError, InvalidParameterError
from latentid.explaining import describe_generator
from latentid.theory import FACET_CHECK, PriorDescription, assess

FACETS = ((2, 3), (1, 2))


def _spec(**kwargs):
    return SyntheticSpec.create(facets=FACETS, weights="dirichlet", depth=2, **kwargs)


def _facet_mixtures(spec):
    """The per-facet mixtures drawn exactly as build() draws them: facet by facet from the build stream."""
    build_seed, _ = np.random.SeedSequence(spec.seed).spawn(2)
    rng = np.random.default_rng(build_seed)
    return [_draw_mixture(spec, m, k, rng) for m, k in spec.facets]


# sha256 of x for seed 0, 50 samples, computed with the code before facets existed: specs without
# facets must keep giving the same bytes.
BEFORE_FACETS = {
    "default": ({}, "a8c086afd755dad68f8272eb123595c644c2b573750101280d7fe13c0d359eb5"),
    "diag": (
        {"covariance": "diag", "weights": "dirichlet", "components": 3, "latent_dim": 3, "obs_dim": 6, "depth": 3},
        "d542fc719fbde2ccd5e8e58023930acc92eb01d23350f32080b655dda63fb6a6",
    ),
    "standard-normal": (
        {"prior": "standard-normal"},
        "cc94e1b43749981a6799d24859be70a1ea531f73a3683af51d91ca3bcaf0f29d",
    ),
}


@pytest.mark.parametrize("name", list(BEFORE_FACETS))
def test_specs_without_facets_give_the_same_bytes_as_before(name):
    kwargs, digest = BEFORE_FACETS[name]
    data = SyntheticSpec.create(seed=0, **kwargs).build().sample(50)
    assert hashlib.sha256(data.x.tobytes()).hexdigest() == digest
    assert data.c.shape == (50,)


def test_spec_takes_latent_dim_and_components_from_the_facets():
    spec = SyntheticSpec.create(facets=((2, 3), (2, 4)))
    assert (spec.latent_dim, spec.components) == (4, 12)
    assert SyntheticSpec.create(facets=((2, 3), (2, 4)), latent_dim=4, components=12) == spec
    assert SyntheticSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"facets": ((2, 3), (2, 4)), "latent_dim": 3}, r"latent_dim \(3\) must equal .*facets.* \(4\)"),
        ({"facets": ((2, 3),), "components": 4}, r"components \(4\) must equal .*\(3\)"),
        ({"facets": ((2, 3),), "prior": "standard-normal"}, "facets need prior 'gmm'"),
        ({"facets": ()}, "at least one"),
        ({"facets": ((0, 3),)}, "latent_dim >= 1"),
        ({"facets": ((2, 0),)}, "components >= 1"),
        ({"facets": ((1, 100), (1, 100), (1, 100)), "obs_dim": 10}, "joint components"),
    ],
)
def test_bad_facet_settings(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        SyntheticSpec.create(**kwargs)


def test_prior_is_the_product_of_the_facet_mixtures():
    spec = _spec()
    prior = spec.build().prior
    first, second = _facet_mixtures(spec)
    assert prior.n_components == 6 and prior.dim == 3
    np.testing.assert_allclose(prior.weights, np.outer(first.weights, second.weights).ravel(), rtol=1e-12)
    for i in range(3):
        for j in range(2):
            k = np.ravel_multi_index((i, j), (3, 2))  # C order over (c_1, c_2)
            np.testing.assert_array_equal(prior.means[k], np.concatenate([first.means[i], second.means[j]]))
            np.testing.assert_array_equal(prior.covariances[k], block_diag(first.covariances[i], second.covariances[j]))
    assert not np.allclose(first.weights, first.weights[0])  # dirichlet weights: the test sees the order


def test_facet_blocks():
    assert facet_blocks(SyntheticSpec.create(facets=((2, 3), (1, 2), (3, 2)), obs_dim=10)) == [
        slice(0, 2),
        slice(2, 3),
        slice(3, 6),
    ]
    assert facet_blocks(SyntheticSpec.create(latent_dim=3)) == [slice(0, 3)]


def test_labels_follow_the_facet_marginals_and_blocks_are_independent():
    spec = _spec()
    n = 40_000
    data = spec.build().sample(n)
    facet_mixtures = _facet_mixtures(spec)
    assert data.c.shape == (n, 2) and data.c.dtype == np.int64
    joint = np.zeros((3, 2))
    np.add.at(joint, (data.c[:, 0], data.c[:, 1]), 1.0 / n)
    np.testing.assert_allclose(joint, np.outer(facet_mixtures[0].weights, facet_mixtures[1].weights), atol=0.01)
    z = data.z.astype(np.float64)
    for j, (block, mixture) in enumerate(zip(facet_blocks(spec), facet_mixtures, strict=True)):
        np.testing.assert_allclose(np.bincount(data.c[:, j]) / n, mixture.weights, atol=0.01)
        for k in range(mixture.n_components):  # each column labels its own facet's block of z
            np.testing.assert_allclose(z[data.c[:, j] == k, block].mean(0), mixture.means[k], atol=0.03)
    corr = np.corrcoef(z.T)[:2, 2:]  # facet 1's coordinates against facet 2's
    np.testing.assert_allclose(corr, 0.0, atol=0.03)


def test_bayes_labels_take_each_facets_marginal_not_the_joint_argmax():
    gen = _spec(seed=0).build()  # facets (2, 3) and (1, 2): joint component 2 c_1 + c_2 (C order)
    probs = np.zeros((2, 6))
    # Row 0: the joint argmax is (0, 0), but facet 0's marginal favours c_1 = 2 (0.42 against 0.30 and 0.28).
    probs[0, [0, 1, 2, 3, 4, 5]] = [0.30, 0.0, 0.14, 0.14, 0.21, 0.21]
    probs[1, 3] = 1.0  # a sure row: (1, 1)
    np.testing.assert_array_equal(gen.bayes_labels(probs), [[2, 0], [1, 1]])
    plain = SyntheticSpec.create(components=4, depth=2, seed=0).build()
    np.testing.assert_array_equal(plain.bayes_labels(np.eye(4)[[2, 0, 3]]), [2, 0, 3])
    with pytest.raises(InvalidParameterError, match=r"shape \(n, 6\)"):
        gen.bayes_labels(np.ones((3, 4)))


def test_bayes_labels_of_low_noise_data_follow_the_true_components_where_they_are_separated():
    gen = SyntheticSpec.create(facets=FACETS, depth=2, noise=0.01, mean_scale=4.0, seed=3).build()
    data = gen.sample(300, random_state=1)
    labels = gen.bayes_labels(gen.posterior(data.x, n_samples=64).component_probs)
    assert labels.shape == (300, 2)
    # The same classifier from the true z (no inference needed): the two agree almost everywhere.
    from_z = gen.bayes_labels(gen.prior.responsibilities(data.z))
    assert (labels == from_z).mean() > 0.97
    # In this draw facet 0's three components lie far apart; facet 1's two overlap (means 3.59 and 3.44).
    assert (labels[:, 0] == data.c[:, 0]).mean() > 0.95


def test_round_trip_through_npz(tmp_path):
    generator = _spec().build()
    data = generator.sample(300)
    save_simulation(tmp_path / "f.npz", generator, data)
    back = read_dataset(tmp_path / "f.npz")
    assert back.c.shape == (300, 2) and back.c.dtype == np.int64
    np.testing.assert_array_equal(back.c, data.c)
    rebuilt = SyntheticGenerator.from_arrays(back.extras)
    assert rebuilt.spec.facets == FACETS
    np.testing.assert_array_equal(rebuilt.prior.covariances, generator.prior.covariances)


@pytest.mark.parametrize(
    ("c", "message"),
    [(np.zeros((5, 0)), r"must have shape \(5,\) or \(5, n_facets\)"), (np.zeros((4, 2)), r"must have shape \(5,\)")],
)
def test_reader_label_shapes(tmp_path, c, message):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((5, 3)), c=np.arange(10.0).reshape(5, 2))
    assert read_dataset(path).c.dtype == np.int64 and read_dataset(path).c.shape == (5, 2)
    np.savez(path, x=np.ones((5, 3)), c=c)
    with pytest.raises(InvalidDataError, match=message):
        read_dataset(path)


def test_theory_checks_the_product_form():
    prior, decoder = describe_generator(_spec().build())
    verdict = assess(prior, decoder)
    check = next(c for c in verdict.checks if c.name == FACET_CHECK)
    assert check.passed and verdict.level == "2"
    assert any("Facets (MFC-VAE)" in note for note in verdict.notes)
    means = prior.means.copy()
    means[0, 2] += 1.0  # facet 2's mean now depends on c_1 too: no longer a product
    broken = assess(PriorDescription(prior.weights, means, prior.covariances, prior.facets), decoder)
    assert next(c for c in broken.checks if c.name == FACET_CHECK).passed is False
    assert broken.level == "2"  # still one Gaussian mixture: levels 1-2 unaffected
