"""``latentid experiment mnist`` and ``experiment consistency`` end to end through the command line, on tiny data."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation
from latentid.experiments.consistency import subsample
from latentid.experiments.mnist import MNIST_VADE, MNIST_VAE
from latentid.metrics import cluster_report
from latentid.models import load_model

runner = CliRunner()
SHARED_DATA = Path(__file__).resolve().parents[2] / "../shared/data"
MNIST_FAST = ["--n-train", 1000, "--n-test", 500, "--epochs", 1, "--pretrain-epochs", 1, "--seeds", 2]
FAST = ["--epochs", 2, "--pretrain-epochs", 1, "--restarts", 1, "--batch-size", 64, "--device", "cpu", "--seeds", 2]
SEED_KEYS = ["seed", "test_cluster_acc", "test_nmi", "test_ari", "train_cluster_acc", "seconds"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture
def mnist_env(monkeypatch):
    """LATENTID_DATA at the published files kept beside the repository; nothing is ever downloaded."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"no MNIST files in {SHARED_DATA}")
    monkeypatch.setenv("LATENTID_DATA", str(SHARED_DATA.resolve()))
    return SHARED_DATA


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=3, seed=2).build()
    save_simulation(path, gen, gen.sample(400))
    return path


def test_mnist_study_end_to_end(tmp_path, mnist_env, fits):
    from latentid.data.sources import open_data

    out = tmp_path / "study"
    result = run("experiment", "mnist", *MNIST_FAST, "--threads", 1, "--out", out)
    assert result.exit_code == 0, result.output
    for text in ("test acc", "MCC strong", "vade", "vae", "results.json"):
        assert text in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"vade", "vae"}
    train = subsample(open_data("mnist", "train"), 1000)
    test = subsample(open_data("mnist", "test"), 500, "--n-test")
    # each fit saw the 1,000 train images and nothing else
    assert sorted((c["model"], c["seed"]) for c in fits) == [("vade", 0), ("vade", 1), ("vae", 0), ("vae", 1)]
    for call in fits:
        np.testing.assert_array_equal(call["x"], train.x)
    vade, vae = results["models"]["vade"], results["models"]["vae"]
    assert [list(r) for r in vade["seeds"]] == [SEED_KEYS, SEED_KEYS]
    assert [list(r) for r in vae["seeds"]] == [["seed", "seconds"], ["seed", "seconds"]]
    assert set(vade["cross_seed"]) == {"mcc_strong", "mcc_weak", "mcc_cca", "cluster_ari"}
    assert set(vae["cross_seed"]) == {"mcc_strong", "mcc_weak", "mcc_cca"}
    for entry in (vade, vae):
        for figure in entry["cross_seed"].values():
            assert np.array(figure["matrix"]).shape == (2, 2) and -1 <= figure["mean"] <= 1
    settings = results["settings"]
    assert settings["study"] == "mnist" and settings["seeds"] == [0, 1]
    assert settings["data"]["data"] == "mnist" and results["n_train"] == 1000 and results["n_test"] == 500
    expected_vade = {**MNIST_VADE, "epochs": 1, "pretrain_epochs": 1}
    assert {k: settings["models"]["vade"][k] for k in expected_vade} == expected_vade
    assert {k: settings["models"]["vae"][k] for k in MNIST_VAE} == {**MNIST_VAE, "epochs": 1}
    assert "GaussianMixture" in results["model_selection"]["vade"] and "no labels" in results["model_selection"]["vae"]
    for name in ("vade", "vae"):
        assert (out / f"latents_{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"consistency_{name}.png").read_bytes()[:4] == b"\x89PNG"
        for seed in (0, 1):
            folder = out / name / f"seed-{seed}"
            saved = json.loads((folder / "metrics.json").read_text())
            assert saved["metrics"] == results["models"][name]["seeds"][seed]
            assert np.load(folder / "test_latents.npy").shape == (500, 10)
    # the scores are those of the saved model on the test images (and on the train images for train acc)
    model = load_model(out / "vade" / "seed-1" / "model", device="cpu")
    labels = model.predict(test.x)
    np.testing.assert_array_equal(np.load(out / "vade" / "seed-1" / "test_labels.npy"), labels)
    assert vade["seeds"][1]["test_cluster_acc"] == pytest.approx(cluster_report(test.c, labels)["cluster_acc"])
    assert vade["seeds"][1]["train_cluster_acc"] == pytest.approx(
        cluster_report(train.c, model.predict(train.x))["cluster_acc"]
    )
    # each seed folder is a run folder: explain --run says why the paper's network reaches no level
    explained = run("explain", "--run", out / "vade" / "seed-1", "--json")
    assert explained.exit_code == 0, explained.output
    checks = {c["name"]: c for c in json.loads(explained.stdout)["checks"]}
    assert checks["widths never shrink"]["passed"] is False and "2000 -> 500" in checks["widths never shrink"]["detail"]
    study = run("explain", "--run", out)  # the study's own folder: pointed at its fits, not at 'latentid fit'
    assert (
        study.exit_code == 2
        and f"Give one of its fits, the <model>/seed-<n> folders, e.g. {out / 'vade' / 'seed-0'}"
        in " ".join(study.stderr.split())
    ), study.output
    evaluated = run("evaluate", "--run", out / "vade" / "seed-1", "--data", "mnist", "--data-split", "test", "--json")
    assert json.loads(evaluated.stdout)["metrics"]["n_classes"] == 10
    # the same command again: every seed is finished, nothing is refitted
    assert run("experiment", "mnist", *MNIST_FAST, "--quiet", "--out", out).exit_code == 0
    assert len(fits) == 4


def test_mnist_bad_inputs(tmp_path, mnist_env):
    out = tmp_path / "s"
    one_line_error(run("experiment", "mnist", "--seeds", 1, "--out", out), "at least 2 seeds")
    one_line_error(run("experiment", "mnist", "--models", "vade,gmm", "--out", out), "--models", "gmm")
    one_line_error(run("experiment", "mnist", "--models", "vae", "--components", 5, "--out", out), "--components")
    one_line_error(run("experiment", "mnist", "--models", "vae", "--covariance", "diag", "--out", out), "--covariance")
    one_line_error(run("experiment", "mnist", "--dataset", "cifar", "--out", out), "--dataset")
    one_line_error(run("experiment", "mnist", "--n-test", 5, "--out", out), "--n-test")
    assert not out.exists()


def test_consistency_on_a_file_resumes_refuses_and_replaces(tmp_path, data_file, fits):
    out = tmp_path / "vade"
    result = run("experiment", "consistency", "--data", data_file, "--model", "vade", "--latent-dim", 2,
                 "--components", 4, *FAST, "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert [list(r) for r in results["models"]["vade"]["seeds"]] == [SEED_KEYS, SEED_KEYS]
    assert results["n_train"] == 320 and results["n_test"] == 80 and results["settings"]["data"]["test_fraction"] == 0.2
    assert len(fits) == 2 and all(len(c["x"]) == 320 for c in fits)
    stamp = (out / "vade" / "seed-0" / "metrics.json").stat().st_mtime_ns
    again = run("experiment", "consistency", "--data", data_file, "--model", "vade", "--latent-dim", 2,
                "--components", 4, *FAST, "--quiet", "--out", out)  # fmt: skip
    assert again.exit_code == 0 and len(fits) == 2
    assert (out / "vade" / "seed-0" / "metrics.json").stat().st_mtime_ns == stamp
    changed = ["--data", data_file, "--model", "vade", "--latent-dim", 2, "--components", 3, *FAST, "--quiet"]
    one_line_error(run("experiment", "consistency", *changed, "--out", out), "n_components", "--force")
    assert len(fits) == 2
    assert run("experiment", "consistency", *changed, "--force", "--out", out).exit_code == 0
    assert len(fits) == 4 and (out / "vade" / "seed-0" / "metrics.json").stat().st_mtime_ns != stamp
    assert json.loads((out / "results.json").read_text())["settings"]["models"]["vade"]["n_components"] == 3


def test_consistency_of_a_vae(tmp_path, data_file):
    out = tmp_path / "vae"
    result = run("experiment", "consistency", "--data", data_file, "--model", "vae", "--epochs", 2, "--seeds", 2,
                 "--test-fraction", 0.25, "--device", "cpu", "--quiet", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    entry = results["models"]["vae"]
    assert [list(r) for r in entry["seeds"]] == [["seed", "seconds"], ["seed", "seconds"]]
    assert set(entry["cross_seed"]) == {"mcc_strong", "mcc_weak", "mcc_cca"} and results["n_test"] == 100
    mean_cca = f"{entry['cross_seed']['mcc_cca']['mean']:.3f}"
    assert any("MCC CCA (mean over seed pairs)" in line and mean_cca in line for line in result.stdout.splitlines())
    assert {p.name for p in out.iterdir()} == {
        "study.json", "results.json", "latents_vae.png", "consistency_vae.png", "vae"
    }  # fmt: skip


def test_consistency_bad_inputs(tmp_path, data_file, mnist_env):
    out = tmp_path / "s"
    base = ["experiment", "consistency", "--data", data_file, "--out", out]
    one_line_error(run(*base, "--seeds", 1), "at least 2 seeds")
    one_line_error(run(*base, "--model", "gmm"), "unknown --model 'gmm'")
    one_line_error(run(*base, "--model", "mfcvae"), "--facets")
    one_line_error(run(*base, "--model", "vae", "--components", 4), "--components", "--model vae")
    one_line_error(run(*base, "--model", "vade", "--facets", "1:2,1:2"), "--facets")
    one_line_error(run(*base, "--latent-dim", 40), "--latent-dim")
    one_line_error(run(*base, "--test-fraction", 1.5), "--test-fraction")
    one_line_error(run(*base, "--batch-size", 0), "--batch-size must be an int >= 1 or auto")
    one_line_error(run(*base, "--likelihood", "bernoulli"), "bernoulli")
    small = tmp_path / "small.npy"
    np.save(small, np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32))
    one_line_error(run("experiment", "consistency", "--data", small, "--out", out), "at least 20")
    one_line_error(run("experiment", "consistency", "--data", tmp_path / "nope.npz", "--out", out))
    one_line_error(run("experiment", "consistency", "--data", "mnist", "--test-fraction", 0.3, "--out", out), "mnist")
    assert not out.exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    one_line_error(run(*base[:-1], tmp_path / "taken", *FAST), "no study")
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


def test_mnist_warm_start_is_chosen_at_the_command_line(tmp_path, mnist_env):
    out = tmp_path / "vae-warm"
    args = ["--n-train", 300, "--n-test", 100, "--epochs", 1, "--pretrain-epochs", 1, "--seeds", 2]
    result = run("experiment", "mnist", *args, "--models", "vade", "--pretrain-objective", "vae", "--out", out)
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "results.json").read_text())["settings"]["models"]["vade"]
    assert settings["pretrain_objective"] == "vae"
    result = run("experiment", "mnist", *args, "--models", "vae", "--pretrain-objective", "vae", "--out", out)
    assert result.exit_code == 2  # the control has no warm start


def test_consistency_on_a_csv_leaves_its_truth_and_index_out_of_x(tmp_path, fits):
    import pandas as pd

    gen = SyntheticSpec.create(obs_dim=5, depth=2, seed=3).build()
    data = gen.sample(200)
    frame = pd.DataFrame(data.x, columns=[f"x{i}" for i in range(5)])
    frame[["z0", "z1"]] = data.z
    frame["c"] = data.c
    csv = tmp_path / "d.csv"
    frame.to_csv(csv)  # with pandas' unnamed index column
    args = ["--data", csv, "--model", "vae", "--epochs", 1, "--seeds", 2, "--device", "cpu", "--quiet"]
    result = run("experiment", "consistency", *args, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert all(c["x"].shape[1] == 5 for c in fits) and "note:" in result.stderr and "z0, z1" in result.stderr
    chosen = run("experiment", "consistency", *args, "--x-columns", "x0,x1,x2", "--out", tmp_path / "b")
    assert chosen.exit_code == 0, chosen.output
    assert fits[-1]["x"].shape[1] == 3


def test_more_threads_than_cores_is_noted_by_the_studies_too(tmp_path, data_file, monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    base = ["experiment", "consistency", "--data", data_file, "--model", "vae", "--epochs", 1, "--seeds", 2, "--quiet"]
    result = run(*base, "--threads", 2, "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "note: --threads 2 is more than the 1 CPU core(s) this process may use" in result.stderr
    assert "note: --threads" not in run(*base, "--threads", 1, "--out", tmp_path / "s1").stderr


def test_consistency_reads_a_csv_header_as_told(tmp_path):
    # Whole numbers above decimals: auto takes them for names (120 rows); --header no reads them as a row (121).
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(120, 4)), columns=[400, 450, 500, 550])
    frame.to_csv(tmp_path / "spectra.csv", index=False)
    rows = {}
    for header in ("auto", "no"):
        out = tmp_path / header
        result = run(
            "experiment",
            "consistency",
            "--data",
            tmp_path / "spectra.csv",
            "--model",
            "vae",
            "--epochs",
            1,
            "--latent-dim",
            2,
            "--seeds",
            2,
            "--header",
            header,
            "--out",
            out,
        )
        assert result.exit_code == 0, result.output
        rows[header] = json.loads((out / "study.json").read_text())["data"]["n_rows"]
    assert rows == {"auto": 120, "no": 121}


def test_the_mnist_study_takes_the_vade_papers_diagonal_covariances_when_asked():
    from latentid.experiments.mnist import mnist_params

    assert mnist_params(["vade", "vae"], covariance="diag")["vade"]["covariance"] == "diag"
    assert mnist_params(["vade"])["vade"]["covariance"] == MNIST_VADE["covariance"] == "full"
    assert "covariance" not in mnist_params(["vade", "vae"], covariance="diag")["vae"]


def test_a_seeds_warning_is_a_note_even_where_warnings_are_errors(tmp_path, data_file, monkeypatch):
    """PYTHONWARNINGS=error turned a seed's note (an inactive latent dimension) into a traceback mid-study."""
    import warnings

    from latentid.errors import LatentIDWarning
    from latentid.models import VAE

    fit = VAE.fit

    def warning_fit(self, *args, **kwargs):
        warnings.warn("latent dimension(s) 0 inactive", LatentIDWarning, stacklevel=2)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(VAE, "fit", warning_fit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run("experiment", "consistency", "--data", data_file, "--model", "vae", "--epochs", 1, "--seeds", 2,
                     "--quiet", "--out", tmp_path / "s")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "results.json").is_file()
