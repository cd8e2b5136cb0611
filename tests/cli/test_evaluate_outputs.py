"""Trustworthy outputs of ``latentid evaluate`` and ``latentid explain``: what was scored and against what,
the oracle and PCA baselines, no clustering scores for models without clusters, and JSON made for scripts."""

import hashlib
import json
import numbers
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.io import read_dataset
from latentid.data.synthetic import SyntheticGenerator
from latentid.metrics import evaluate_latents
from latentid.models import PCA

runner = CliRunner()
IDENTIFIABILITY = ("affine_r2", "mcc_weak", "mcc_strong", "mcc_spearman", "permutation_r2", "orthogonal_r2", "mcc_cca")
GAP_KEYS = ("true_log_likelihood", "true_log_likelihood_se", "elbo", "iw_bound", "likelihood_gap", "amortisation_gap")
EVALUATE_KEYS = ["scored", "data", "split", "settings", "metrics", "scored_on", "baselines", "latent_activity", "notes"]
EXPLAIN_KEYS = ["source", "level", "level_name", "in_theory", "equivalence", "checks", "notes"]
FAST = ("--epochs", 2, "--batch-size", 64, "--quiet", "--device", "cpu")


def _invoke(*args):
    return runner.invoke(app, [*map(str, args)])


def _ok(*args):
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def _json(*args) -> dict:
    return json.loads(_ok(*args, "--json").stdout)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A low-noise simulated file, a small VaDE run and a small vanilla-VAE run on it."""
    root = tmp_path_factory.mktemp("outputs")
    data = root / "sim.npz"
    _ok("simulate", "--samples", 300, "--depth", 3, "--noise", 0.01, "--seed", 2, "--out", data)
    _ok(
        "fit", "--model", "vade", "--data", data, "--pretrain-epochs", 1, "--restarts", 1, "--out", root / "vade", *FAST
    )
    _ok("fit", "--model", "vae", "--data", data, "--out", root / "vae", *FAST)
    np.save(root / "labels.npy", read_dataset(data).c)
    return root


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def test_evaluate_says_what_was_scored_and_against_what(folder, monkeypatch):
    monkeypatch.chdir(folder)  # relative paths on the command line, absolute ones in the record
    out = _json("evaluate", "--run", "vade", "--data", "sim.npz", "--no-baselines")
    assert list(out) == EVALUATE_KEYS
    assert out["scored"] == {
        "run": str(folder.resolve() / "vade"),
        "latents": None,
        "labels": None,
        "model": "vade",
        "refine": False,
    }
    digest = hashlib.sha256((folder / "sim.npz").read_bytes()).hexdigest()
    assert out["data"] == {
        "source": str(folder.resolve() / "sim.npz"),
        "data_split": None,
        "sha256": digest,
        "sha256_of": "file",
        "n_samples": 300,
        "n_features": 10,
    }
    assert not any("fitted on other data" in note for note in out["notes"])
    dataset = read_dataset(folder / "sim.npz")
    np.savez(folder / "plain.npz", x=dataset.x, z=dataset.z, c=dataset.c)
    other = _json("evaluate", "--run", "vade", "--data", "plain.npz")
    assert any(f"fitted on other data: {folder.resolve() / 'sim.npz'}" in note for note in other["notes"])
    out = _json("evaluate", "--latents", "vade/latents.npy", "--labels", "labels.npy", "--data", "sim.npz")
    scored = out["scored"]
    assert (scored["run"], scored["model"], scored["refine"]) == (None, None, False)
    assert scored["latents"] == str(folder.resolve() / "vade" / "latents.npy")
    assert scored["labels"] == str(folder.resolve() / "labels.npy")
    assert all(Path(scored[key]).is_absolute() for key in ("latents", "labels"))
    assert _json("evaluate", "--run", "vade", "--data", "sim.npz", "--refine", "--no-baselines")["scored"]["refine"]


def test_refine_with_latents_is_refused_in_one_line(folder):
    result = _invoke("evaluate", "--latents", folder / "vade" / "latents.npy", "--data", folder / "sim.npz", "--refine")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --refine") and "--run" in lines[0]
    assert "Traceback" not in result.output


def test_baselines_are_the_oracle_and_pca_on_the_same_rows_split_and_seed(folder):
    data = folder / "sim.npz"
    out = _json("evaluate", "--run", folder / "vae", "--data", data, "--seed", 1, "--split", 0.6)
    assert set(out["baselines"]) == {"oracle", "pca"}
    # PCA has no clusters; the oracle's are the Bayes classifier's (the file has true classes c).
    assert set(out["baselines"]["pca"]) == set(IDENTIFIABILITY)
    assert set(out["baselines"]["oracle"]) == set(IDENTIFIABILITY) | {"cluster_acc", "nmi", "ari"}
    for name in ("oracle", "pca"):
        assert all(_is_number(value) for value in out["baselines"][name].values())
    assert out["baselines"]["oracle"]["affine_r2"] > 0.98  # the true model on low-noise data
    assert out["baselines"]["pca"]["affine_r2"] < out["baselines"]["oracle"]["affine_r2"]
    # Recomputed in-process with the same rows, split and seed: the same numbers.
    dataset = read_dataset(data)
    generator = SyntheticGenerator.from_arrays(dataset.extras)
    oracle = generator.posterior_mean(dataset.x, n_samples=128, random_state=1)
    pca = PCA(2, random_state=1).fit(dataset.x).transform(dataset.x)
    for name, z in (("oracle", oracle), ("pca", pca)):
        expected = evaluate_latents(z, dataset, split=0.6, seed=1)
        for key in IDENTIFIABILITY:
            assert out["baselines"][name][key] == pytest.approx(expected[key], abs=1e-9), (name, key)
    posterior = generator.posterior(dataset.x, n_samples=128, random_state=1)
    bayes_labels = generator.bayes_labels(posterior.component_probs)
    bayes = evaluate_latents(oracle, dataset, labels=bayes_labels, split=0.6, seed=1)
    for key in ("cluster_acc", "nmi", "ari"):
        assert out["baselines"]["oracle"][key] == pytest.approx(bayes[key], abs=1e-9), key
    assert any("oracle" in note for note in out["notes"]) and any("pca" in note for note in out["notes"])


def test_the_table_shows_the_baselines_beside_the_value_and_no_baselines_skips_them(folder):
    args = ("evaluate", "--run", folder / "vae", "--data", folder / "sim.npz")

    def header(result) -> str:
        return next(line for line in result.stdout.splitlines() if "metric" in line)

    columns = header(_ok(*args))
    assert columns.index("value") < columns.index("oracle") < columns.index("pca")
    assert "oracle" not in header(_ok(*args, "--no-baselines"))
    out = _json(*args, "--no-baselines")
    assert out["baselines"] == {} and "baselines skipped (--no-baselines)" in out["notes"]


def test_a_model_without_clusters_reports_no_clustering_scores(folder):
    data = folder / "sim.npz"
    vae = _json("evaluate", "--run", folder / "vae", "--data", data, "--no-baselines")["metrics"]
    assert not {"cluster_acc", "nmi", "ari", "n_clusters"} & set(vae)
    vade = _json("evaluate", "--run", folder / "vade", "--data", data, "--no-baselines")["metrics"]
    assert "cluster_acc" in vade and vade["n_clusters"] > 1
    given = _json("evaluate", "--run", folder / "vae", "--data", data, "--labels", folder / "labels.npy")
    assert given["metrics"]["cluster_acc"] == pytest.approx(1.0)  # labels given by the user are still scored
    assert any("not of the run" in note for note in given["notes"])
    assert any("are the data's true classes 'c' (up to renaming)" in note for note in given["notes"])
    renamed = folder / "renamed.npy"  # the true classes relabelled: noted too (only equal labels were)
    np.save(renamed, 7 * np.load(folder / "labels.npy") - 10)
    given = _json("evaluate", "--run", folder / "vae", "--data", data, "--labels", renamed)
    assert any("are the data's true classes 'c' (up to renaming)" in note for note in given["notes"])


def test_labels_cannot_stand_in_for_a_clustering_runs_own(folder):
    # Before, the file's true classes given as --labels scored a VaDE run 1.0, credited to the run in "scored".
    result = _invoke(
        "evaluate", "--run", folder / "vade", "--data", folder / "sim.npz", "--labels", folder / "labels.npy"
    )
    assert result.exit_code == 2 and "would replace the clusters of the run's own model (vade)" in result.output
    assert "Traceback" not in result.output


def test_evaluate_json_keeps_notes_apart_from_numbers(folder):
    out = _json("evaluate", "--run", folder / "vade", "--data", folder / "sim.npz", "--no-baselines")
    metrics, scored_on = out["metrics"], out["scored_on"]
    assert all(_is_number(value) for value in metrics.values()), metrics
    assert all(_is_number(value) for value in out["settings"].values())
    assert list(scored_on) == list(metrics)
    assert out["split"] == {"share": 0.5, "seed": 0, "n_fit": 150, "n_eval": 150}
    assert not {"source", "split_note", "scored_on", "cluster_scored_on", "n_fit", "seed"} & set(metrics)
    assert isinstance(out["notes"], list) and out["notes"] and all(isinstance(note, str) for note in out["notes"])
    # Where each score comes from, per score.
    for key in IDENTIFIABILITY + ("cluster_acc", "nmi", "ari"):
        assert scored_on[key].startswith("held-out"), key
    for key in GAP_KEYS + ("n_clusters", "n_classes"):
        assert scored_on[key] == "all samples", key
    assert {"latent_dim_true", "latent_dim_learned", "cca_components", "iw_samples"} <= set(out["settings"])


def test_explain_json_level_is_a_number_with_its_name_beside_it(folder):
    out = _json("explain", "--data", folder / "sim.npz")
    assert list(out) == EXPLAIN_KEYS
    assert (out["level"], out["level_name"], out["in_theory"]) == (2, "2", True)
    outside = _json("explain", "--activation", "tanh")
    assert (outside["level"], outside["level_name"], outside["in_theory"]) == (None, "none", False)
    vanilla = _json("explain", "--prior", "standard-normal")
    assert (vanilla["level"], vanilla["level_name"], vanilla["in_theory"]) == (None, "vanilla", True)
    assert _json("explain", "--covariance", "diag", "--components", 5, "--depth", 3)["level"] == 3
    assert _json("explain", "--activation", "relu", "--depth", 3)["level"] == 1


def test_explain_json_gives_each_checks_figures_as_numbers(folder):
    out = _json("explain", "--data", folder / "sim.npz")
    for check in out["checks"]:
        assert list(check) == ["name", "passed", "detail", "figures", "warning"]
        figures = check["figures"]
        assert isinstance(figures, dict)
        for value in figures.values():
            assert _is_number(value) or (isinstance(value, list) and all(_is_number(v) for v in value)), check
        if any(ch.isdigit() for ch in check["detail"]):  # a sentence that quotes numbers has them as fields
            assert figures, check
    checks = {check["name"]: check["figures"] for check in out["checks"]}
    generator = SyntheticGenerator.from_arrays(read_dataset(folder / "sim.npz").extras)
    covariances = generator.prior.covariances
    assert checks["components non-degenerate"]["min_covariance_eigenvalue"] == pytest.approx(
        np.linalg.eigvalsh(covariances).min(), rel=1e-9
    )
    assert checks["widths never shrink"]["widths"] == list(generator.mixing.widths)
    assert checks["noise leaves every direction recoverable"]["noise"] == pytest.approx(0.01)
    assert checks["data dimension >= latent dimension"] == {"obs_dim": 10, "latent_dim": 2}


def test_latent_activity_is_each_dimensions_signal_to_noise_and_names_the_collapsed_ones(folder):
    from latentid.cli.evaluate import _activity_note
    from latentid.metrics.activity import latent_signal_to_noise
    from latentid.models import load_model

    data = folder / "sim.npz"
    out = _json("evaluate", "--run", folder / "vae", "--data", data, "--no-baselines")
    model, x = load_model(folder / "vae" / "model"), read_dataset(data).x
    expected = latent_signal_to_noise(model.transform(x), model.posterior_sd(x))
    np.testing.assert_allclose(out["latent_activity"]["signal_to_noise"], expected, rtol=1e-6)
    assert out["latent_activity"]["inactive"] == [j for j, v in enumerate(expected) if v < 1]
    assert (model.posterior_sd(x) > 0).all() and model.posterior_sd(x).shape == (300, 2)
    pca = _json("evaluate", "--latents", folder / "vae" / "latents.npy", "--data", data, "--no-baselines")
    assert pca["latent_activity"] is None  # no encoder to ask
    note = _activity_note({"signal_to_noise": [12.7, 0.12, 40.1, 0.09], "inactive": [1, 3]})
    assert note == [
        "inactive latent dimension(s) 1 (0.12), 3 (0.09): their posterior means vary over the data less than the "
        "encoder's own posterior sd (signal-to-noise in brackets, below 1), so they carry almost no information "
        "about x and the fit uses 2 of its 4 dimensions"
    ]
    assert _activity_note({"signal_to_noise": [3.0, 2.0], "inactive": []}) == []


def test_the_table_reads_plainly_title_and_notes_whole_counts_grouped_no_negative_zero(tmp_path):
    """A long path was cut mid-name by the title wrapped at the table's width, notes were padded to it with
    spaces, n_fit read 1000 under a title of 2,000 samples, and a collapsed latent's R^2 read -0.0000."""
    deep = tmp_path / ("x" * 70) / ("y" * 70)
    deep.mkdir(parents=True)
    _ok("simulate", "--samples", 2000, "--depth", 2, "--seed", 1, "--out", deep / "d.npz")
    np.save(tmp_path / "zeros.npy", np.zeros((2000, 2), np.float32))
    zeros = ("--latents", tmp_path / "zeros.npy")
    lines = _ok("evaluate", *zeros, "--data", deep / "d.npz", "--no-baselines", "--seed", 20261125).stdout.splitlines()
    assert any(line.split()[:4] == ["│", "seed", "│", "20261125"] for line in lines)  # typed back as it reads
    assert lines[0].startswith("latentid evaluate: latents ") and f"{deep / 'd.npz'}, 2,000 samples" in lines[0]
    assert any(line.split()[:3] == ["│", "n_fit", "│"] and "1,000" in line for line in lines)
    assert "-0.0000" not in "\n".join(lines)
    notes = lines[next(i for i, line in enumerate(lines) if line.startswith("└")) + 1 :]
    assert notes and all(line == line.rstrip() for line in notes)


def test_transform_seed_of_a_deep_run_asks_for_refine(folder, tmp_path):
    """The encoder's means draw nothing: --seed without --refine was accepted and unused."""
    result = _invoke(
        "transform", "--run", folder / "vae", "--data", folder / "sim.npz", "--out", tmp_path / "z.npy", "--seed", 3
    )
    assert result.exit_code == 2 and "add --refine or drop --seed" in result.stderr
    refined = ("--refine", "--seed", 3)
    assert (
        _invoke(
            "transform", "--run", folder / "vae", "--data", folder / "sim.npz", "--out", tmp_path / "z.npy", *refined
        ).exit_code
        == 0
    )
