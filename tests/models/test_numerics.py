"""Numerics: short VaDE fits on random small settings never produce a non-finite loss, and awkward data (points
far away, near-duplicate points, constant columns) gives a finite fit or one clear latentid error."""

import math

import numpy as np
import pytest

from latentid.errors import LatentIDError
from latentid.models import VaDE

N_SETTINGS = 50


def random_setting(seed: int) -> tuple[np.ndarray, dict]:
    """Small data of a random shape, scale and offset, and random small VaDE settings."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 120))
    n_features = int(rng.integers(2, 7))
    latent_dim = int(rng.integers(1, min(3, n_features) + 1))
    scale = 10.0 ** rng.uniform(-3, 3)
    x = rng.standard_normal((n, n_features)) * scale + rng.uniform(-1e3, 1e3, size=n_features)
    params = {
        "latent_dim": latent_dim,
        "n_components": int(rng.integers(1, 5)),
        "covariance": str(rng.choice(["diag", "full"])),
        "elbo": str(rng.choice(["mean_field", "vade", "marginal"])),
        "hidden_dims": [int(rng.integers(max(latent_dim, 2), 9))],
        "epochs": int(rng.integers(1, 3)),
        "pretrain_epochs": int(rng.integers(0, 2)),
        "pretrain_objective": str(rng.choice(["vae", "autoencoder"])),
        "batch_size": int(rng.choice([8, 32, 256])),
        "lr": float(10.0 ** rng.uniform(-4, -1.5)),
        "iw_samples": int(rng.choice([1, 1, 3])),
        "standardize": bool(rng.random() < 0.8),
        "n_restarts": 1,
        "n_init": 1,
        "random_state": seed,
        "device": "cpu",
    }
    return x.astype(np.float32), params


def assert_finite_fit(model: VaDE, x: np.ndarray) -> None:
    losses = [*model.elbo_history_, *(r["train_loss"] for r in model.pretrain_history_)]
    assert losses and all(math.isfinite(v) for v in losses), losses
    assert np.isfinite(model.transform(x)).all()
    assert np.isfinite(model.weights_).all() and np.isfinite(model.covariances_).all()


@pytest.mark.parametrize("seed", range(N_SETTINGS))
def test_short_fits_on_random_settings_have_finite_losses(seed):
    x, params = random_setting(seed)
    model = VaDE(**params).fit(x)  # every setting is valid: a refusal (a diverged loss included) fails the test
    assert_finite_fit(model, x)


def test_the_finiteness_check_catches_a_non_finite_loss():
    x, params = random_setting(0)
    model = VaDE(**params).fit(x)
    model.elbo_history_ = [*model.elbo_history_[:-1], float("nan")]
    with pytest.raises(AssertionError):
        assert_finite_fit(model, x)


def _awkward(kind: str) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((80, 4))
    if kind == "far-away":
        x[:3] *= 1e6  # three points a million standard deviations out
    elif kind == "near-duplicates":
        x = np.repeat(x[:1], 80, axis=0) + 1e-7 * rng.standard_normal((80, 4))
    elif kind == "constant-column":
        x[:, 2] = 3.0
    elif kind == "all-constant":
        x[:] = 1.5
    elif kind == "huge-offset":
        x += 1e7
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", ["far-away", "near-duplicates", "constant-column", "all-constant", "huge-offset"])
@pytest.mark.parametrize("standardize", [True, False])
def test_awkward_data_gives_a_finite_fit_or_a_clear_error(kind, standardize):
    x = _awkward(kind)
    model = VaDE(
        latent_dim=2,
        n_components=2,
        hidden_dims=[6],
        epochs=2,
        pretrain_epochs=1,
        batch_size=32,
        n_restarts=1,
        n_init=1,
        standardize=standardize,
        random_state=0,
        device="cpu",
    )
    try:
        model.fit(x)
    except LatentIDError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 400, message
        return
    assert_finite_fit(model, x)


def test_a_fitted_model_takes_float64_rows_close_together_and_judges_rounding_by_its_own_scale():
    """A batch of near-identical float64 rows (finite differences) was refused as 'finer than float32 keeps', and
    told to subtract the batch's means: advice that gives a fitted model wrong latents."""
    from latentid.errors import InvalidDataError

    x = np.random.default_rng(0).normal(size=(300, 4))
    model = VaDE(latent_dim=2, n_components=2, epochs=1, pretrain_epochs=1, n_restarts=1, random_state=0).fit(x)
    near = np.vstack([x[:1], x[:1] + 1e-7])  # float64
    np.testing.assert_array_equal(model.transform(near), model.transform(near.astype(np.float32)))
    with pytest.raises(InvalidDataError, match="finer than float32 keeps.*the scale it was fitted on"):
        model.transform(x + 1e8)  # rounding of whole units, where the model was fitted on a spread of 1


def test_latentid_warns_in_its_own_category_and_never_through_the_log(tmp_path, caplog):
    """Overwritten checkpoints were a log record (red text in a notebook that no warning filter silences); every
    warning is a LatentIDWarning, a UserWarning that ``filterwarnings(category=LatentIDWarning)`` silences alone."""
    import warnings

    from latentid import LatentIDWarning

    x = np.random.default_rng(0).normal(size=(200, 4))
    settings = dict(latent_dim=2, n_components=2, epochs=1, pretrain_epochs=1, n_restarts=1, random_state=0)
    VaDE(**settings, checkpoint_dir=str(tmp_path)).fit(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        VaDE(**settings, checkpoint_dir=str(tmp_path)).fit(x)
    overwritten = [w for w in caught if "holds checkpoints of an earlier run" in str(w.message)]
    assert len(overwritten) == 1 and overwritten[0].category is LatentIDWarning
    assert overwritten[0].filename == __file__
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert issubclass(LatentIDWarning, UserWarning) and all(
        w.category is LatentIDWarning for w in caught if issubclass(w.category, UserWarning)
    )


def test_the_prior_init_is_a_stage_of_the_callback_between_pretraining_and_training():
    """A mixture of many full components on wide latents takes minutes to hours to fit, and nothing showed it."""
    x = np.random.default_rng(0).normal(size=(200, 4))
    events = []
    VaDE(latent_dim=2, n_components=2, epochs=1, pretrain_epochs=1, n_restarts=1, random_state=0,
         callback=events.append).fit(x)  # fmt: skip
    stages = [(e["stage"], e["epoch"]) for e in events]
    at = stages.index(("prior init", 0))
    assert stages[at + 1] == ("prior init", 1) and stages[at - 1][0] == "pretrain" and stages[at + 2][0] == "train"
    assert events[at + 1]["seconds"] >= 0 and events[at]["loss"] is None
    from latentid.models import VAE

    plain = []  # a VAE's N(0, I) has nothing to initialise: no such stage
    VAE(latent_dim=2, epochs=1, random_state=0, callback=plain.append).fit(x)
    assert plain and not [e for e in plain if e["stage"] == "prior init"]


def test_a_model_fitted_without_standardising_transforms_its_own_data():
    """Its scale is 1 whatever the data's spread: 1e5 + N(0, 1e3) was refused as rounded away on transform."""
    from latentid.models import VAE

    x = 1e5 + 1e3 * np.random.default_rng(0).standard_normal((300, 4))
    model = VAE(latent_dim=2, epochs=1, standardize=False, random_state=0).fit(x)
    assert model.transform(x).shape == (300, 2)
