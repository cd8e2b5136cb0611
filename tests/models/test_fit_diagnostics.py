"""What fit decides or reports beyond the weights: the 'auto' minibatch size and inactive latent dimensions; and
what transform reports of data far from the fit's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from latentid.errors import InvalidParameterError, LatentIDWarning
from latentid.models import VAE, VaDE, load_model
from latentid.models.fitting import resolve_batch_size


@pytest.mark.parametrize(
    ("batch_size", "n_train", "expected"),
    [
        ("auto", 100_000, 256),
        ("auto", 5120, 256),
        ("auto", 2700, 135),
        ("auto", 270, 32),
        ("auto", 10, 32),
        (64, 270, 64),
    ],
)
def test_auto_batch_size_keeps_twenty_steps_an_epoch_between_32_and_256(batch_size, n_train, expected):
    assert resolve_batch_size(batch_size, n_train) == expected


def test_the_batch_size_used_is_kept_and_saved(gmm_data, tmp_path):
    model = VaDE(epochs=1, pretrain_epochs=1, n_init=1, n_restarts=1, random_state=0, threads=1).fit(gmm_data[0])
    assert model.batch_size == "auto" and model.batch_size_ == 32  # 270 training rows of 300
    assert load_model(model.save(tmp_path / "m")).batch_size_ == 32
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter of VaDE"):
        VaDE(batch_size="big").fit(gmm_data[0])


def _inactive_warnings(noise_scale, epochs, x):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        VaDE(
            noise_scale=noise_scale, epochs=epochs, pretrain_epochs=5, n_init=1, n_restarts=1, random_state=0, threads=1
        ).fit(x)
    return [str(w.message) for w in caught if "inactive" in str(w.message)]


def test_a_fit_that_leaves_its_latents_unused_says_so(gmm_data):
    # Noise 10,000 times the data's scale: x tells the posterior nothing, so it stays at the prior.
    found = _inactive_warnings(1e4, 10, gmm_data[0])
    assert len(found) == 1 and "dimension(s) 0 (" in found[0] and "uses 0 of its 2 dimensions" in found[0]


def test_a_fit_that_uses_its_latents_does_not_warn(gmm_data):
    assert _inactive_warnings(0.01, 30, gmm_data[0]) == []


def test_a_fit_that_ran_away_with_a_finite_loss_warns():
    """lr 10 on the default setting ended with posterior means of 2e9 and a finite loss, saved without a word."""
    import numpy as np

    from latentid.data.synthetic import SyntheticSpec
    from latentid.models import VAE

    x = SyntheticSpec.create(seed=0).build().sample(600, random_state=0).x
    with pytest.warns(UserWarning, match=r"posterior means reach .* training ran away.*lr=10 now"):
        runaway = VAE(lr=10.0, epochs=5, random_state=0).fit(x)
    assert np.abs(runaway.transform(x)).max() > 1e4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        VAE(epochs=5, random_state=0).fit(x)
    assert not [w for w in caught if "ran away" in str(w.message)]


def test_data_in_other_units_than_the_fit_are_noted_at_transform(gmm_data):
    """x1000 gave latents 1000 times outside the training range, and predict one cluster, without a word."""
    x = gmm_data[0]
    model = VAE(epochs=1, random_state=0, threads=1).fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LatentIDWarning)
        model.transform(x)  # the training data themselves: nothing to say
        outliers = x.copy()
        outliers[:5] *= 30
        model.transform(outliers)  # a few unusual rows: outliers, not other units
    for scale in (10, 1000):  # other units
        with pytest.warns(LatentIDWarning, match="X lies far from the data VAE was fitted on"):
            model.transform(x * scale)
    unstandardised = VAE(epochs=1, random_state=0, threads=1, standardize=False).fit(x)
    with pytest.warns(LatentIDWarning, match="X lies far from the data"):
        unstandardised.transform(x * 1000)


def test_a_rare_far_cluster_of_training_rows_is_not_called_off_scale():
    """Predicting a rare cluster's own training rows (0.4% of them, 40 sds out: root-mean-square about 15) warned
    that they lay far from the data the model was fitted on."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 6))
    rare = np.arange(8)
    x[rare] += 40.0
    model = VAE(epochs=1, random_state=0, threads=1).fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LatentIDWarning)
        model.transform(x[rare])
