"""Bad input at the command line: one line that names the flag (never a Python parameter or numpy's
internals) and says what to do, exit code 2."""

import json
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentid.cli import app, main
from latentid.cli._common import flag_names
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
TINY = ["--epochs", "1", "--pretrain-epochs", "1", "--restarts", "1", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, obs_dim=4, seed=1).build()
    save_simulation(path, gen, gen.sample(200))
    return path


@pytest.fixture(scope="module")
def pca_run(tmp_path_factory, data_file):
    out = tmp_path_factory.mktemp("runs") / "pca"
    result = runner.invoke(app, ["fit", "--data", str(data_file), "--out", str(out), "--model", "pca"])
    assert result.exit_code == 0, result.output
    return out


def one_line_error(result, *wanted: str, unwanted: tuple[str, ...] = ()) -> str:
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in wanted:
        assert text in err, err
    for text in unwanted:
        assert text not in err, err
    return err


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------ estimator messages -> flags


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "VaDE needs at least 5000 training samples (n_components=5000); X has 1000 samples, 900 after holding "
            "out validation_fraction=0.1. Pass more samples or lower n_components / validation_fraction.",
            "VaDE needs at least 5000 training samples (--components 5000); X has 1000 samples, 900 after holding "
            "out the validation share 0.1. Pass more samples or lower --components.",
        ),
        (  # a decimal point in the rule stopped the match: "or None" was left after "> 0.0"
            "The 'noise_scale' parameter of VaDE must be a float > 0.0 or None. Got inf instead.",
            "--noise-scale must be a float > 0.0. Got inf instead.",
        ),
        (  # a model without components: the only fix offered was the flag-less parameter
            "VAE needs at least 4 training samples; X has 2 samples, 1 after holding out validation_fraction=0.1. "
            "Pass more samples or lower validation_fraction.",
            "VAE needs at least 4 training samples; X has 2 samples, 1 after holding out the validation share 0.1. "
            "Pass more samples.",
        ),
        (
            "likelihood='bernoulli' needs X in [0, 1]; got values in [-9.7, 3.6]. "
            "Rescale X (e.g. x / 255) or use likelihood='gaussian'.",
            "--likelihood bernoulli needs X in [0, 1]; got values in [-9.7, 3.6]. "
            "Rescale X (e.g. x / 255) or use --likelihood gaussian.",
        ),
        (
            "--device is 'cuda', but torch sees no CUDA device. Use device='auto' or 'cpu'.",
            "--device is 'cuda', but torch sees no CUDA device. Use --device auto or cpu.",
        ),
        (
            "The 'threads' parameter of VaDE must be an int >= 1 or None. Got 0 instead.",
            "--threads must be an int >= 1. Got 0 instead.",
        ),
        # a path or an unknown name=value is left alone
        ("/runs/lr=0.1/x.npz: bad; x=4", "/runs/lr=0.1/x.npz: bad; x=4"),
    ],
)
def test_flag_names_rules(message, expected):
    assert flag_names(message) == expected


@pytest.mark.parametrize(
    ("args", "wanted", "unwanted"),
    [
        (["--components", "5000"], ["--components 5000", "lower --components."], ["validation_fraction"]),
        (["--likelihood", "bernoulli"], ["--likelihood bernoulli", "--likelihood gaussian"], ["likelihood="]),
        (["--threads", "0"], ["--threads must be"], ["None"]),
    ],
)
def test_fit_errors_name_flags_not_parameters(tmp_path, data_file, args, wanted, unwanted):
    result = run("fit", "--data", data_file, "--out", tmp_path / "r", *TINY, *args)
    one_line_error(result, *wanted, unwanted=tuple(unwanted))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_fit_device_cuda_without_gpu_names_the_flag(tmp_path, data_file):
    result = run("fit", "--data", data_file, "--out", tmp_path / "r", *TINY, "--device", "cuda")
    one_line_error(result, "--device auto or cpu", unwanted=("device=",))


def test_a_text_file_named_npz_is_not_a_valid_npz(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_text("hello\n")
    result = run("fit", "--data", path, "--out", tmp_path / "r", "--model", "pca")
    one_line_error(result, "is not a valid .npz file", unwanted=("pickle", "allow_pickle"))


def test_a_text_file_named_npy_given_to_latents_is_not_a_valid_npy(tmp_path, data_file):
    path = tmp_path / "garbage.npy"
    path.write_text("hello\n")
    result = run("evaluate", "--data", data_file, "--latents", path)
    one_line_error(result, "is not a valid .npy file given to --latents", unwanted=("pickle", "allow_pickle"))


# ------------------------------------------------------------------ simulate


def test_simulate_whole_setting_rule_has_no_spec_prefix(tmp_path):
    result = run("simulate", "--out", tmp_path / "d.npz", "--obs-dim", "1")
    one_line_error(result, "--obs-dim (1) must be >= --latent-dim (2)", unwanted=("spec:",))


def test_simulate_bound_names_the_flag_and_the_value(tmp_path):
    result = run("simulate", "--out", tmp_path / "d.npz", "--noise", "-1")
    one_line_error(result, "--noise: must be >= 0", "(got -1.0)", unwanted=("Input should",))


# ------------------------------------------------------------------ evaluate


def test_evaluate_one_dimensional_latents_names_the_file_and_flag(tmp_path, data_file):
    labels = tmp_path / "labels.npy"
    np.save(labels, np.arange(200) % 3)
    result = run("evaluate", "--data", data_file, "--latents", labels)
    one_line_error(result, "labels.npy: --latents needs a 2-D array", "--labels", unwanted=("z_hat", "reshape"))


@pytest.mark.parametrize(
    ("split", "wanted"),
    [
        ("1.5", ["--split must be strictly between 0 and 1", "Try 0.5"]),
        ("0.001", ["--split 0.001 leaves 0 of 200 samples", "between 0.02 and 0.98"]),
    ],
)
def test_evaluate_split_names_the_flag_and_what_works(tmp_path, data_file, split, wanted):
    latents = tmp_path / "z.npy"
    np.save(latents, np.zeros((200, 2)))
    result = run("evaluate", "--data", data_file, "--latents", latents, "--split", split)
    one_line_error(result, *wanted, unwanted=("z_true", "error: split must"))


def test_evaluate_data_split_with_a_file_names_data_split(tmp_path, data_file):
    latents = tmp_path / "z.npy"
    np.save(latents, np.zeros((200, 2)))
    result = run("evaluate", "--data", data_file, "--latents", latents, "--data-split", "test")
    one_line_error(result, "--data-split does not apply to the file", "Drop it.", unwanted=("--split ", "only apply"))


def main_error(monkeypatch, capsys, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["latentid", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1, err
    return err


def test_evaluate_split_word_points_to_data_split(monkeypatch, capsys, data_file):
    err = main_error(monkeypatch, capsys, "evaluate", "--data", "mnist", "--latents", "z.npy", "--split", "test")
    assert "--data-split" in err and "'test' is not a number" in err, err
    assert "Value error" not in err and "Input should" not in err, err


def test_usage_errors_point_to_the_subcommands_help(monkeypatch, capsys):
    assert "(see 'latentid fit --help')" in main_error(monkeypatch, capsys, "fit", "--bogus")
    assert "(see 'latentid experiment run --help')" in main_error(monkeypatch, capsys, "experiment", "run", "--zz")
    assert "(see 'latentid --help')" in main_error(monkeypatch, capsys, "bogus")


# ------------------------------------------------------------------ explain


@pytest.mark.parametrize("source", ["--data", "--run"])
def test_explain_refuses_setting_flags_with_data_or_run(data_file, pca_run, source):
    path = data_file if source == "--data" else pca_run
    result = run("explain", source, path, "--covariance", "diag", "--components", "7", "--activation", "tanh")
    one_line_error(result, "--components, --covariance, --activation do not apply to " + source, "Drop them.")
    # typed with its default value it is refused all the same
    one_line_error(run("explain", source, path, "--seed", "0"), f"--seed does not apply to {source}")


def test_explain_refuses_mixture_options_with_standard_normal_like_simulate(tmp_path):
    explained = one_line_error(run("explain", "--prior", "standard-normal", "--components", "4"))
    simulated = one_line_error(
        run("simulate", "--out", tmp_path / "d.npz", "--prior", "standard-normal", "--components", "4")
    )
    assert explained == simulated and "--components does not apply to --prior standard-normal" in explained


def test_explain_defaults_are_simulates():
    plain = run("explain", "--json")
    typed = run(
        "explain", "--json", "--latent-dim", "2", "--obs-dim", "10", "--prior", "gmm", "--components", "4",
        "--covariance", "full", "--weights", "uniform", "--mean-scale", "2.0", "--activation", "leaky-relu",
        "--output-activation", "linear", "--slope", "0.2", "--depth", "6", "--seed", "0",
    )  # fmt: skip
    assert plain.exit_code == typed.exit_code == 0, plain.output + typed.output
    assert json.loads(plain.stdout) == json.loads(typed.stdout)


def test_suggested_commands_quote_a_path_with_spaces(tmp_path):
    """Pasted into a shell, 'latentid fit --out my runs/vae 1 --resume' named three paths."""
    from latentid.runs import interrupted_message, study_seed_message

    folder = tmp_path / "my runs" / "vae 1"
    assert f'latentid fit --out "{folder}" --resume' in interrupted_message(folder)
    seed = tmp_path / "my study" / "vae" / "seed-0"
    assert f'--out "{tmp_path / "my study"}"' in study_seed_message(seed)


def test_a_mixture_of_one_component_short_of_samples_is_not_told_to_lower_its_components():
    """'Pass more samples or lower --components' with --components 1 already: no way out by it."""
    import numpy as np

    from latentid.errors import InvalidDataError
    from latentid.models import VaDE

    with pytest.raises(InvalidDataError) as info:
        VaDE(n_components=1).fit(np.random.default_rng(0).normal(size=(2, 3)))
    assert str(info.value).endswith("Pass more samples or lower validation_fraction."), str(info.value)


def test_command_line_refusals_a_mutation_study_found_unguarded(tmp_path, monkeypatch):
    import errno

    import latentid.cli.simulate as simulate_cli

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args])

    data = tmp_path / "d.npz"
    assert invoke("simulate", "--samples", "100", "--out", data).exit_code == 0
    z = tmp_path / "z.npy"
    np.save(z, np.zeros((100, 2)))
    # two sources of latents: one was scored and the run ignored, reported as "run: null"
    both = invoke("evaluate", "--latents", z, "--run", tmp_path / "r", "--data", data)
    assert both.exit_code == 2 and "give exactly one source" in both.stderr, both.output
    # --out an existing folder, even with --force: named as a folder, the folder kept
    folder = tmp_path / "f.npz"
    folder.mkdir()
    (folder / "mine.txt").write_text("mine")
    taken = invoke("simulate", "--samples", "100", "--out", folder, "--force")
    assert taken.exit_code == 2 and "is a folder; name a file" in taken.stderr
    assert (folder / "mine.txt").read_text() == "mine"

    # a full disk: the advice is to free space, not to check the path
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(simulate_cli, "save_simulation", full)
    result = invoke("simulate", "--samples", "100", "--out", tmp_path / "e.npz")
    assert result.exit_code == 2 and "no space left on the device. Free some space" in result.stderr, result.output
