"""``latentid fit --decoder-width/--decoder-depth/--encoder-width/--encoder-depth``, on tiny data."""

import json

import pytest
from torch import nn
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.models.networks import DEFAULT_DEPTH, default_decoder_widths
from latentid.runs import load_run

runner = CliRunner()
FAST = ["--epochs", "1", "--pretrain-epochs", "1", "--batch-size", "128", "--quiet", "--device", "cpu"]
M, N = 2, 10  # latent and data dimension of the test data
DEFAULT = list(default_decoder_widths(M, N))  # the model's own hidden widths: DEFAULT_DEPTH layers of width N


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(latent_dim=M, obs_dim=N, depth=3, seed=1).build()
    save_simulation(path, gen, gen.sample(300))
    return path


@pytest.fixture(scope="module")
def fit(tmp_path_factory, data_file):
    """Fit once per set of flags (cached across tests); return the run folder."""
    root, done = tmp_path_factory.mktemp("runs"), {}

    def fit_with(*flags):
        if flags not in done:
            out = root / f"run{len(done)}"
            result = run("fit", "--data", data_file, "--out", out, *flags, *FAST)
            assert result.exit_code == 0, result.output
            done[flags] = out
        return done[flags]

    return fit_with


def linear_widths(part: nn.Module) -> list[int]:
    return [layer.out_features for layer in part.modules() if isinstance(layer, nn.Linear)]


@pytest.mark.parametrize(
    ("flags", "decoder", "encoder"),
    [
        ((), DEFAULT, DEFAULT),
        (("--decoder-width", 6), [6] * DEFAULT_DEPTH, [6] * DEFAULT_DEPTH),  # width only: default depth
        (("--decoder-depth", 2), [N, N], [N, N]),  # depth only: default width; the encoder mirrors
        (("--decoder-width", 6, "--decoder-depth", 2, "--encoder-width", 12), [6, 6], [12, 12]),
        (("--decoder-width", 6, "--encoder-depth", 3), [6] * DEFAULT_DEPTH, [6, 6, 6]),  # width of the decoder
        (("--encoder-depth", 0), DEFAULT, []),  # a linear encoder: the two heads only
    ],
)
def test_widths_reach_the_fitted_networks_and_run_json(fit, flags, decoder, encoder):
    out = fit(*flags)
    module = load_run(out).model.module_
    assert linear_widths(module.decoder) == [*decoder, N]  # hidden layers, then the linear output layer
    assert linear_widths(module.encoder.trunk) == encoder
    info = json.loads((out / "run.json").read_text())
    assert info["decoder_hidden_widths"] == decoder and info["encoder_hidden_widths"] == encoder


def checks_of(out) -> dict[str, bool]:
    result = run("explain", "--run", out, "--json")
    assert result.exit_code == 0, result.output
    return {c["name"]: c["passed"] for c in json.loads(result.stdout)["checks"]}


def test_explain_says_the_default_decoder_meets_the_injectivity_condition(fit):
    checks = checks_of(fit())
    assert checks["widths never shrink"] is True


@pytest.mark.parametrize("width", [M - 1, N + 6], ids=["narrower-than-latent", "wider-than-data"])
def test_explain_says_a_shrinking_decoder_does_not(fit, width):
    # m -> width ... -> n shrinks somewhere unless m <= width <= n: a 16-wide decoder on 10-D data
    # (wide then narrow) is not shown injective, and explain must say so.
    checks = checks_of(fit("--decoder-width", width, "--decoder-depth", 2))
    assert checks["widths never shrink"] is False and checks["f injective"] is False


def test_a_decoder_narrower_than_the_data_but_not_the_latents_still_meets_it(fit):
    checks = checks_of(fit("--decoder-width", 6))  # 2 -> 6 x 5 -> 10 never shrinks
    assert checks["widths never shrink"] is True


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        (("--decoder-width", 0), "--decoder-width"),
        (("--decoder-depth", 0), "--decoder-depth"),
        (("--encoder-width", 0), "--encoder-width"),
        (("--encoder-depth", -1), "--encoder-depth"),
        (("--encoder-depth", 0, "--encoder-width", 5), "--encoder-width"),
        (("--decoder-depth", 100_000), "--decoder-depth must be at most 1,000."),
        (("--encoder-depth", 1001), "--encoder-depth must be at most 1,000."),
    ],
)
def test_bad_sizes_are_refused_in_one_line_naming_the_flag(data_file, tmp_path, flags, flag):
    out = tmp_path / "run"
    result = run("fit", "--data", data_file, "--out", out, *flags, *FAST)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {flag} ") and result.stderr.count("\n") == 1, result.stderr
    assert not out.exists()


def test_inference_flags_reach_the_model(fit):
    model = load_run(fit("--inference", "refined", "--refine-steps", 1, "--iw-samples", 2, "--lr", 0.002)).model
    assert (model.inference, model.refine_steps, model.iw_samples, model.lr) == ("refined", 1, 2, 0.002)
    default = load_run(fit()).model
    from latentid.models import VaDE

    expected = VaDE().get_params()
    assert (default.inference, default.iw_samples, default.lr) == (
        expected["inference"],
        expected["iw_samples"],
        expected["lr"],
    )


def test_refine_steps_without_refined_inference_is_refused(data_file, tmp_path):
    result = run("fit", "--data", data_file, "--out", tmp_path / "r", "--refine-steps", 2, *FAST)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --refine-steps") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_explain_levels_follow_the_decoders_shape(fit):
    def verdict(*flags):
        payload = json.loads(run("explain", "--run", fit(*flags), "--json").stdout)
        level = payload["level_name"] if payload["level"] is None else payload["level"]
        return level, {c["name"]: c["passed"] for c in payload["checks"]}

    level, _ = verdict()
    assert level == 2  # widths never shrink, full-rank layers: injective
    level, checks = verdict("--decoder-width", N + 6, "--decoder-depth", 2)
    assert level == 1  # wide then narrow: weakly injective by its Jacobian only
    assert checks["Jacobian of f full column rank (needed for weak injectivity)"] is True
    level, checks = verdict("--decoder-width", M - 1, "--decoder-depth", 2)
    assert level == "none"  # a 1-unit layer: the Jacobian has rank 1 < m everywhere
    assert checks["Jacobian of f full column rank (needed for weak injectivity)"] is False


def test_restarts_default_to_the_models_own(fit, data_file, tmp_path):
    from latentid.models import VaDE

    assert load_run(fit()).model.n_restarts == VaDE().n_restarts == 3
    assert load_run(fit("--restarts", 2)).model.n_restarts == 2
    out = tmp_path / "vae"
    assert run("fit", "--model", "vae", "--data", data_file, "--out", out, *FAST[:2], *FAST[4:]).exit_code == 0
    assert load_run(out).model.n_restarts == 1


def test_alternate_warm_start_reaches_the_model_and_each_restarts_log(fit):
    out = fit("--pretrain-objective", "alternate", "--restarts", 2)
    assert load_run(out).model.pretrain_objective == "alternate"
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    objectives = {r["restart"]: r["objective"] for r in records if r["stage"] == "pretrain"}
    assert "KL term weighted" not in objectives[1] and "KL term weighted" in objectives[2]


def test_more_threads_than_cores_is_noted_and_fits(data_file, tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    result = run("fit", "--data", data_file, "--out", tmp_path / "r", "--threads", 2, "--restarts", 1, *FAST)
    assert result.exit_code == 0, result.output
    assert "note: --threads 2 is more than the 1 CPU core(s) this process may use" in result.output
    quiet = run("fit", "--data", data_file, "--out", tmp_path / "r1", "--threads", 1, "--restarts", 1, *FAST)
    assert quiet.exit_code == 0 and "--threads" not in quiet.output


@pytest.mark.parametrize("typed", ["auto", "AUTO"])
def test_batch_size_auto_is_taken_as_the_default_it_names(data_file, tmp_path, typed):
    flags = [f for f in FAST if f not in ("--batch-size", "128")]
    out = tmp_path / "run"
    result = run("fit", "--data", data_file, "--out", out, "--batch-size", typed, *flags)
    assert result.exit_code == 0, result.output
    run_info = load_run(out)
    assert run_info.model.batch_size == "auto" and run_info.info["options"]["batch_size"] == "auto"
    assert run_info.model.batch_size_ == 32  # 240 training rows: 20 steps an epoch would be 12 rows, floored at 32


@pytest.mark.parametrize(
    ("value", "says"), [("abc", "neither a whole number nor auto"), ("0", "an int >= 1 or 'auto'")]
)
def test_a_batch_size_neither_a_count_nor_auto_is_refused_in_one_line(data_file, tmp_path, value, says):
    flags = [f for f in FAST if f not in ("--batch-size", "128")]
    result = run("fit", "--data", data_file, "--out", tmp_path / "run", "--batch-size", value, *flags)
    assert result.exit_code == 2 and says in result.stderr, result.stderr  # (one line through main(): test_messages)
