import numpy as np

from latentid.explaining import explain_spec
from latentid.theory import DecoderDescription, PriorDescription, assess, recoverability

BASE = dict(latent_dim=2, obs_dim=10, prior="gmm", components=4, covariance="full", slope=0.2, depth=3, seed=0)


def verdict(**changes):
    options = {**BASE, **changes}
    activation = options.pop("activation", "leaky-relu")
    return explain_spec(options, activation=activation, output_activation=options.pop("output_activation", "linear"))


def test_gmm_leaky_relu_injective_is_level_2():
    assert verdict().level == "2"


def test_diagonal_varied_components_is_level_3():
    v = verdict(covariance="diag", components=5)
    assert v.level == "3"
    assert any(c.name.startswith("components vary") and c.passed for c in v.checks)


def test_diagonal_with_too_few_components_stays_level_2():
    assert verdict(covariance="diag", components=4).level == "2"


def test_standard_normal_is_vanilla_orthogonal():
    v = verdict(prior="standard-normal")
    assert v.level == "vanilla" and "orthogonal" in v.equivalence


def test_relu_is_only_weakly_injective_level_1():
    assert verdict(activation="relu").level == "1"


def test_one_gaussian_with_an_only_weakly_injective_f_gets_no_level():
    """It was level 1 ('p(z) identified up to an affine map'), which any single Gaussian meets, while the same
    prior with an injective f got the weaker-sounding but meaningful 'vanilla'."""
    v = verdict(prior="standard-normal", activation="relu")
    assert v.level == "none" and "says nothing of z" in " ".join(v.notes)


def test_smooth_or_squashing_or_narrow_decoders_leave_the_theory():
    assert verdict(activation="tanh").level == "none"
    assert verdict(activation="sigmoid").level == "none"
    assert verdict(output_activation="sigmoid").level == "none"
    narrow = verdict(obs_dim=1)
    assert narrow.level == "none" and "data dimension" in narrow.notes[0]


def test_degenerate_or_duplicate_components_leave_the_theory():
    decoder = DecoderDescription([2, 3], "leaky-relu", weights=[np.eye(3, 2)])
    flat = PriorDescription(np.array([0.5, 0.5]), np.array([[0, 0], [1, 1.0]]), np.array([np.eye(2), np.diag([1, 0])]))
    assert assess(flat, decoder).level == "none"
    twins = PriorDescription(np.array([0.5, 0.5]), np.zeros((2, 2)), np.array([np.eye(2), np.eye(2)]))
    assert assess(twins, decoder).level == "none"


def test_near_duplicate_components_pass_with_a_warning_whatever_the_latent_scale():
    """Components 1e-3 sd apart were passed with 'distance 0.00123' and no word: the distance was absolute.
    The Bhattacharyya distance does not change with the scale of z, so the same shapes warn at any scale."""
    decoder = DecoderDescription([2, 3], "leaky-relu", weights=[np.eye(3, 2)])
    for scale in (1e-3, 1.0, 1e3):
        means = scale * np.array([[0.0, 0.0], [0.05, 0.0], [4.0, 4.0]])
        cov = scale**2 * np.array([np.eye(2), np.eye(2) * 1.02, np.eye(2)])
        check = next(
            c for c in assess(PriorDescription(np.ones(3) / 3, means, cov), decoder).checks if "distinct" in c.name
        )
        assert check.passed and check.figures["most_alike_pair"] == [0, 1]
        assert "components 0 and 1 are near duplicates" in check.warning
        apart = next(
            c for c in assess(PriorDescription(np.ones(3) / 3, 10 * means, cov), decoder).checks if "distinct" in c.name
        )
        assert apart.passed and apart.warning is None


def test_rank_deficient_layer_leaves_the_theory():
    prior = PriorDescription(np.array([0.5, 0.5]), np.array([[0, 0], [3, 3.0]]), np.array([np.eye(2)] * 2))
    weights = [np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])]
    v = assess(prior, DecoderDescription([2, 3], "leaky-relu", weights=weights))
    assert v.level == "none"
    assert next(c for c in v.checks if c.name == "every layer full rank").passed is False


def test_recoverability_flags_noise_that_drowns_a_direction():
    jac = np.tile(np.array([[1.0, 0.0], [0.0, 0.01]]), (50, 1, 1))
    drowned, clear = recoverability(jac, noise=0.01, prior_std=1.0), recoverability(jac, noise=1e-5, prior_std=1.0)
    # a warning, not a failed assumption: a cross beside a level 3 read as a broken condition of it
    assert drowned.passed is True and "blurs z by" in drowned.warning
    assert clear.passed is True and clear.warning is None


def test_a_narrowing_decoder_is_judged_by_its_jacobian():
    from latentid.theory import DecoderDescription, PriorDescription, assess

    rng = np.random.default_rng(0)
    prior = PriorDescription(np.full(3, 1 / 3), rng.normal(size=(3, 2)) * 3, np.tile(np.eye(2) * 0.3, (3, 1, 1)))
    weights = [rng.normal(size=(16, 2)), rng.normal(size=(16, 16)), rng.normal(size=(10, 16))]
    widths = [2, 16, 16, 10]
    full = DecoderDescription(widths, "leaky-relu", weights=weights, jacobian_rank=(0.2, 2000))
    collapsed = DecoderDescription(widths, "leaky-relu", weights=weights, jacobian_rank=(1e-12, 2000))
    unknown = DecoderDescription(widths, "leaky-relu", weights=weights)
    assert assess(prior, full).level == "1"
    assert assess(prior, collapsed).level == "none"
    assert assess(prior, unknown).level == "1"  # no Jacobian given: the layers alone (all full rank) decide


def test_a_layer_narrower_than_m_leaves_the_theory_whatever_the_weights():
    """m = 2 -> 10 -> 1 -> 10: the Jacobian has rank <= 1 < m on every piece, though each layer is full rank."""
    rng = np.random.default_rng(0)
    prior = PriorDescription(np.full(3, 1 / 3), rng.normal(size=(3, 2)) * 3, np.tile(np.eye(2) * 0.3, (3, 1, 1)))
    weights = [rng.normal(size=(10, 2)), rng.normal(size=(1, 10)), rng.normal(size=(10, 1))]
    for given in (weights, None):
        v = assess(prior, DecoderDescription([2, 10, 1, 10], "leaky-relu", weights=given))
        assert v.level == "none", v.checks
        assert next(c for c in v.checks if c.name == "no layer narrower than m").passed is False


def test_to_dict_gives_the_level_as_a_number_and_its_name_beside_it():
    cases = {
        "3": verdict(covariance="diag", components=5),
        "2": verdict(),
        "1": verdict(activation="relu"),
        "vanilla": verdict(prior="standard-normal"),
        "none": verdict(activation="tanh"),
    }
    expected = {"3": 3, "2": 2, "1": 1, "vanilla": None, "none": None}
    for name, v in cases.items():
        out = v.to_dict()
        assert list(out) == ["level", "level_name", "in_theory", "equivalence", "checks", "notes"]
        assert (out["level"], out["level_name"], out["in_theory"]) == (expected[name], name, name != "none")
        assert v.level == name  # the attribute keeps the hierarchy's name


def test_checks_carry_the_figures_their_detail_quotes():
    v = verdict(covariance="diag", components=5)
    figures = {c.name: c.figures for c in v.checks}
    assert (
        figures["components vary enough (level 3)"]["rank"]
        == figures["components vary enough (level 3)"]["rank_needed"]
        == 4
    )
    assert figures["diagonal covariances (level 3)"] == {"max_abs_off_diagonal": 0.0}
    few = {c.name: c.figures for c in verdict(covariance="diag", components=4).checks}
    assert few["components vary enough (level 3)"] == {"components_needed": 5, "components": 4}
    layers = figures["every layer full rank"]
    assert layers["max_condition_number"] == 1 / layers["min_relative_singular_value"]
    jac = np.tile(np.array([[1.0, 0.0], [0.0, 0.01]]), (50, 1, 1))
    check = recoverability(jac, noise=0.01, prior_std=1.0)
    assert check.figures["p10_min_singular_value"] == 0.01 and check.figures["blur"] == 1.0
    assert check.to_dict() == {
        "name": check.name,
        "passed": True,
        "detail": check.detail,
        "figures": check.figures,
        "warning": check.warning,
    }
    assert check.warning.startswith("noise blurs z by 1 along f's weakest direction")


def test_a_prior_the_checks_cannot_read_is_refused_in_one_line():
    import pytest

    from latentid.errors import InvalidParameterError

    decoder = DecoderDescription([2, 3], "leaky-relu", weights=[np.eye(3, 2)])
    means, cov = np.array([[0.0, 0.0], [3.0, 3.0]]), np.array([np.eye(2)] * 2)
    for weights, match in (([0.7, 0.7], "sum to 1"), ([1.5, -0.5], ">= 0")):
        with pytest.raises(InvalidParameterError, match=match):
            assess(PriorDescription(np.array(weights), means, cov), decoder)
    with pytest.raises(InvalidParameterError, match="finite"):
        assess(PriorDescription(np.array([0.5, 0.5]), np.array([[0.0, np.nan], [3.0, 3.0]]), cov), decoder)
    with pytest.raises(InvalidParameterError, match=r"shapes \(K,\), \(K, m\) and \(K, m, m\)"):
        assess(PriorDescription(np.array([0.5, 0.5]), means, cov[:1]), decoder)


def test_one_layer_is_affine_whatever_activation_is_named():
    """depth 1: x = W z + b, the activation never applied; tanh read as 'outside', relu as 'level 1 at most'."""
    leaky = verdict(depth=1)
    for activation in ("tanh", "relu"):
        one_layer = verdict(depth=1, activation=activation)
        assert one_layer.level == leaky.level == "2", [c.detail for c in one_layer.checks]
        assert any("never applied" in c.detail for c in one_layer.checks)
        injective = next(c for c in one_layer.checks if c.name == "f injective")
        assert injective.detail.startswith("affine,"), injective.detail
    assert verdict(depth=2, activation="tanh").level == "none"  # with a hidden layer it is applied


def test_the_blur_warning_quotes_what_it_measures(tmp_path):
    """Components far apart (mean scale 20): the blur passes a tenth of a component's sd while the oracle
    recovers z almost exactly; the note said the noise 'drowns' a direction."""
    from latentid.data.synthetic import SyntheticSpec, save_simulation
    from latentid.explaining import explain_dataset

    gen = SyntheticSpec.create(mean_scale=20.0, seed=0).build()
    save_simulation(tmp_path / "d.npz", gen, gen.sample(600))
    verdict = explain_dataset(tmp_path / "d.npz")
    check = next(c for c in verdict.checks if c.name == "noise leaves every direction recoverable")
    assert check.passed is True and check.warning  # shown as "!", not as a cross beside the level
    (note,) = [n for n in verdict.notes if n.startswith("Warning: for part of the data")]
    assert f"about {check.figures['blur']:.3g}" in note and "drowns" not in note


def _diag_prior(m: int = 2, k: int = 5, scale: float = 1.0, seed: int = 0) -> PriorDescription:
    rng = np.random.default_rng(seed)
    variances = rng.uniform(0.2, 2.0, size=(k, m))
    cov = np.stack([np.diag(v) for v in variances])
    return PriorDescription(np.full(k, 1 / k), rng.normal(size=(k, m)) * 3 * scale, cov * scale**2)


def _increasing(m: int = 2, n: int = 6, seed: int = 0) -> DecoderDescription:
    rng = np.random.default_rng(seed)
    return DecoderDescription([m, 4, n], "leaky-relu", weights=[rng.normal(size=(4, m)), rng.normal(size=(n, 4))])


def test_rescaling_z_never_changes_the_level():
    """'Diagonal' was an absolute 1e-8 on the off-diagonal terms: correlation 0.9 read as diagonal (level 3)
    once z was scaled by 1e-5, and as level 2 at 1e-3; two components 3e-7 apart at 1e-7 read as one."""
    base = _diag_prior()
    sd = np.sqrt(np.einsum("kii->ki", base.covariances))
    correlated = base.covariances + 0.9 * np.einsum("ki,kj->kij", sd, sd) * (1 - np.eye(2))
    for scale in (1.0, 1e-3, 1e-5, 1e-7, 1e4):
        diag = PriorDescription(base.weights, base.means * scale, base.covariances * scale**2)
        full = PriorDescription(base.weights, base.means * scale, correlated * scale**2)
        assert assess(diag, _increasing()).level == "3", scale
        assert assess(full, _increasing()).level == "2", scale


def test_a_component_of_no_weight_is_no_part_of_the_prior():
    """Five diagonal components with one at weight 0 have four in p(z): fewer than the 2m + 1 level 3 needs."""
    prior = _diag_prior(k=5)
    weights = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
    verdict = assess(PriorDescription(weights, prior.means, prior.covariances), _increasing())
    assert verdict.level == "2" and any("Component(s) 4 have weight below" in n for n in verdict.notes)
    assert assess(prior, _increasing()).level == "3"


def test_a_relu_decoder_whose_jacobian_collapses_is_outside_the_theory():
    """A plain-ReLU decoder was never checked: one with every unit dead (f constant) was level 1."""
    prior = _diag_prior()
    relu = _increasing()
    dead = DecoderDescription(relu.widths, "relu", weights=relu.weights, jacobian_rank=(0.0, 2000))
    alive = DecoderDescription(relu.widths, "relu", weights=relu.weights, jacobian_rank=(0.3, 2000))
    assert assess(prior, dead).level == "none" and assess(prior, alive).level == "1"
    note = " ".join(assess(prior, alive).notes)
    assert "assumes f weakly injective" in note and "not shown" in note


def test_a_fitted_leaky_relu_of_slope_0_is_read_as_a_plain_relu():
    """slope 0 is a ReLU: it was called injective, level 3, where the theory allows level 1 at most."""
    from latentid.explaining import explain_model
    from latentid.models import VaDE

    x = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    settings = dict(latent_dim=2, n_components=5, covariance="diag", hidden_dims=[6, 6], epochs=1, pretrain_epochs=1)
    model = VaDE(**settings, n_restarts=1, slope=0.0, random_state=0).fit(x)
    verdict = explain_model(model)
    assert verdict.level in ("1", "none") and "plain ReLU" in " ".join(c.detail for c in verdict.checks)


def test_a_bernoulli_models_verdict_names_its_reason_among_the_checks():
    """Every check was ticked beside 'none': the reason sat in a note alone, and the JSON had no failed check."""
    from latentid.explaining import explain_model
    from latentid.models import VAE

    x = np.random.default_rng(0).uniform(size=(200, 6)).astype(np.float32)
    model = VAE(latent_dim=2, likelihood="bernoulli", hidden_dims=[6, 6], epochs=1, random_state=0).fit(x)
    verdict = explain_model(model)
    failed = [c.name for c in verdict.checks if c.passed is False and "level 3" not in c.name]
    assert verdict.level == "none" and failed == ["Gaussian noise on f(z)"]


def test_a_piecewise_affine_output_stays_in_the_theory():
    """A leaky-ReLU output was 'a squashing output' outside the theory, though injective and piecewise affine."""
    assert verdict(output_activation="leaky-relu").level == "2"
    assert verdict(output_activation="relu").level == "1"  # not injective: weakly at best
    assert verdict(output_activation="sigmoid").level == "none"


def test_a_setting_refused_for_its_activation_ends_its_sentence_once():
    """'... elu, gelu..': the problem's own full stop, then the message's."""
    import pytest

    from latentid.data.synthetic import SyntheticSpec
    from latentid.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"Use one of: .*, gelu\.$"):
        SyntheticSpec.create(activation="foo")


def test_a_zero_variance_or_a_tiny_scale_gives_no_nan_in_the_diagonal_check():
    """sqrt(v_i * v_j) underflowed for sds below 1e-154: diagonal components read as full (level 2)."""
    import warnings

    base = _diag_prior()
    for scale in (1e-90, 1e-150):
        tiny = PriorDescription(base.weights, base.means * scale, base.covariances * scale**2)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            check = next(c for c in assess(tiny, _increasing()).checks if c.name == "diagonal covariances (level 3)")
        assert check.passed is True, scale
