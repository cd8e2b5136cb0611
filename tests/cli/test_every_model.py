"""Every model through the command line: fit -> transform / predict / evaluate / explain, and its bad input."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data.synthetic import SyntheticSpec, save_simulation

runner = CliRunner()
DEEP_FAST = ["--epochs", "2", "--batch-size", "64", "--quiet", "--device", "cpu"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    line = result.stderr
    assert line.startswith("error: ") and line.count("\n") == 1 and "Traceback" not in result.output, line
    assert all(fragment in line for fragment in fragments), line


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.npz"
    gen = SyntheticSpec.create(depth=2, components=5, covariance="diag", seed=4).build()
    save_simulation(path, gen, gen.sample(400))
    return path


@pytest.fixture(scope="module")
def facet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "f.npz"
    gen = SyntheticSpec.create(facets=((2, 3), (1, 2)), obs_dim=8, depth=2, seed=1).build()
    save_simulation(path, gen, gen.sample(400))
    return path


@pytest.fixture(scope="module")
def plain_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((100, 6)).astype(np.float32))
    return path


def _fit_and_use(data, out, tmp_path, *fit_args):
    result = run("fit", "--data", data, "--out", out, *fit_args)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "run.json").read_text())
    z = np.load(out / "latents.npy")
    assert run("transform", "--run", out, "--data", data, "--out", tmp_path / "z.npy").exit_code == 0
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), z, rtol=1e-5, atol=1e-6)
    predicted = run("predict", "--run", out, "--data", data, "--out", tmp_path / "c.npy")
    if info["model"] in ("vade", "mfcvae", "gmm"):
        assert predicted.exit_code == 0, predicted.output
    else:  # nothing to predict: refused, nothing written
        assert_one_line_error(predicted, "has no clusters to predict", "latentid transform")
        assert not (tmp_path / "c.npy").exists()
    evaluated = run("evaluate", "--run", out, "--data", data, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    explained = run("explain", "--run", out, "--json")
    assert explained.exit_code == 0, explained.output
    scores = json.loads(evaluated.stdout)["metrics"]
    labels = np.load(tmp_path / "c.npy") if (tmp_path / "c.npy").exists() else None
    return info, z, labels, scores, json.loads(explained.stdout)


@pytest.mark.parametrize("model", ["pca", "fastica", "gmm"])
def test_linear_floor_runs_end_to_end(data_file, tmp_path, model):
    info, z, labels, scores, verdict = _fit_and_use(data_file, tmp_path / model, tmp_path, "--model", model)
    assert info["model"] == model and z.shape == (400, 2)
    assert scores["affine_r2"] > 0.3  # a linear map of a depth-2 f keeps much of z
    assert ("cluster_acc" in scores) == (model == "gmm")  # only the GMM clusters
    assert verdict["level_name"] == "none" and "linear floor" in verdict["notes"][0]
    assert "likelihood_gap" not in scores
    assert (labels is None) == (model != "gmm")


def test_ivae_uses_the_labels_as_u_everywhere(data_file, tmp_path):
    out = tmp_path / "ivae"
    info, z, _, scores, verdict = _fit_and_use(data_file, out, tmp_path, "--model", "ivae", "--aux", "c", *DEEP_FAST)
    assert info["aux"] == "c" and z.shape == (400, 2)
    assert "cluster_acc" not in scores and "likelihood_gap" not in scores
    notes = json.loads(run("evaluate", "--run", out, "--data", data_file, "--json").stdout)["notes"]
    assert any(note.startswith("no likelihood gap: the model's bound is of p(x | u)") for note in notes)
    assert verdict["level"] == 3 and any("iVAE" in note for note in verdict["notes"])
    # transform really reads u: other labels give other posterior means
    from latentid.data.io import read_dataset
    from latentid.runs import load_run

    model, data = load_run(out).model, read_dataset(data_file)
    shifted = model.transform(data.x, u=np.roll(data.c, 1))
    assert np.abs(shifted - z).max() > 1e-3


def test_ivae_notes_labels_given_as_a_continuous_u(data_file, tmp_path):
    # Python's fit(u=labels) one-hot encodes 1-D labels; an .npz 'u' of labels is read as one continuous column.
    from latentid.data.io import read_dataset

    data = read_dataset(data_file)
    labelled = tmp_path / "u.npz"
    np.savez(labelled, x=data.x, u=data.c)
    out = tmp_path / "ivae"
    result = run("fit", "--data", labelled, "--out", out, "--model", "ivae", "--aux", "u", *DEEP_FAST)
    assert result.exit_code == 0, result.output
    warned = json.loads((out / "run.json").read_text())["warnings"]
    assert any("5 whole-number values, fitted as a continuous u" in w and "--aux c" in w for w in warned), warned
    np.savez(labelled, x=data.x, u=data.z[:, :1])  # a continuous u: no note
    result = run("fit", "--data", labelled, "--out", tmp_path / "ivae2", "--model", "ivae", "--aux", "u", *DEEP_FAST)
    assert result.exit_code == 0 and "whole-number" not in result.output


def test_ivae_takes_the_length_of_its_warm_start_and_refuses_the_mixture_flags(data_file, tmp_path):
    base = ("fit", "--data", data_file, "--model", "ivae", "--aux", "c", *DEEP_FAST)
    defaulted, warm = tmp_path / "defaulted", tmp_path / "warm"
    assert run(*base, "--out", defaulted).exit_code == 0
    assert run(*base, "--out", warm, "--pretrain-epochs", 5).exit_code == 0
    from latentid.runs import load_run

    params = [load_run(out).model.get_params() for out in (defaulted, warm)]
    assert [(p["pretrain_epochs"], p["pretrain_objective"]) for p in params] == [(0, "pca"), (5, "pca")]
    for out, epochs in ((defaulted, 0), (warm, 5)):
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        pretraining = [record for record in log if record.get("stage") == "pretrain"]
        assert len(pretraining) == epochs and all("PCA" in record["objective"] for record in pretraining)
    for flags in (("--pretrain-objective", "vae"), ("--covariance", "diag"), ("--components", 3)):
        result = run(*base, "--out", tmp_path / "refused", *flags)
        assert_one_line_error(result, flags[0], "--model ivae", "PCA start")
        assert not (tmp_path / "refused").exists()


def test_mfcvae_reports_each_facet(facet_file, tmp_path):
    out = tmp_path / "mfc"
    args = ("--model", "mfcvae", "--facets", "2:3,1:2", "--pretrain-epochs", "1", "--restarts", "1", *DEEP_FAST)
    info, z, labels, scores, verdict = _fit_and_use(facet_file, out, tmp_path, *args)
    assert z.shape == (400, 3) and labels.shape == (400, 2)
    assert labels[:, 0].max() < 3 and labels[:, 1].max() < 2
    for key in ("facet0_affine_r2", "facet1_affine_r2", "facet0_cluster_acc", "facet1_cluster_acc"):
        assert key in scores, key
    # The oracle's column holds the facet clustering ceiling: the Bayes classifier, per facet.
    oracle = json.loads(run("evaluate", "--run", out, "--data", facet_file, "--json").stdout)["baselines"]["oracle"]
    assert {"facet0_cluster_acc", "facet1_cluster_acc", "facet_cluster_acc_mean"} <= set(oracle)
    assert oracle["facet_cluster_acc_mean"] > 0.7
    assert verdict["level"] in (1, 2) and any("Facets" in note for note in verdict["notes"])


def test_bad_inputs_of_the_new_models_exit_2(data_file, plain_file, tmp_path):
    out = tmp_path / "x"
    assert_one_line_error(run("fit", "--data", plain_file, "--out", out, "--model", "ivae", "--aux", "c"), "no labels")
    no_u = run("fit", "--data", data_file, "--out", out, "--model", "ivae", "--aux", "u")
    assert_one_line_error(no_u, "'u'")
    assert "latentid simulate" not in no_u.stderr  # it writes c, never u: no use advising it
    assert "latentid simulate" in run("fit", "--data", plain_file, "--out", out, "--model", "ivae", "--aux", "c").stderr
    assert_one_line_error(run("fit", "--data", data_file, "--out", out, "--model", "ivae"), "--aux")
    assert_one_line_error(run("fit", "--data", data_file, "--out", out, "--model", "vade", "--aux", "c"), "--aux")
    assert_one_line_error(run("fit", "--data", data_file, "--out", out, "--model", "mfcvae"), "--facets")
    assert_one_line_error(
        run("fit", "--data", data_file, "--out", out, "--model", "mfcvae", "--facets", "1:2,1:2", "--latent-dim", "3"),
        "--latent-dim (3)",
        "(2)",
    )
    assert_one_line_error(
        run("fit", "--data", data_file, "--out", out, "--model", "mfcvae", "--facets", "2:x"), "--facets"
    )
    assert_one_line_error(
        run("fit", "--data", data_file, "--out", out, "--model", "mfcvae", "--facets", "1:2", "--components", "3"),
        "--components",
    )
    assert_one_line_error(run("fit", "--data", data_file, "--out", out, "--model", "pca", "--epochs", "3"), "--epochs")
    assert_one_line_error(
        run("fit", "--data", data_file, "--out", out, "--model", "fastica", "--components", "3"), "--components"
    )
    assert not out.exists()  # nothing refused leaves a folder behind


def test_ivae_run_refuses_data_without_its_u(data_file, plain_file, tmp_path):
    out = tmp_path / "ivae"
    assert run("fit", "--data", data_file, "--out", out, "--model", "ivae", "--aux", "c", *DEEP_FAST).exit_code == 0
    no_labels = tmp_path / "nolabels.npz"
    np.savez(no_labels, x=np.load(out / "latents.npy").repeat(5, axis=1))  # 10 features, no 'c'
    assert_one_line_error(run("transform", "--run", out, "--data", no_labels, "--out", tmp_path / "z.npy"), "no labels")
    assert_one_line_error(run("evaluate", "--run", out, "--data", no_labels), "labels")
    # Refinement needs an unconditional mixture prior: refused by flag, nothing written (it crashed before).
    refined = tmp_path / "refined.npy"
    assert_one_line_error(run("transform", "--run", out, "--data", data_file, "--out", refined, "--refine"), "--refine")
    assert not refined.exists()
    assert_one_line_error(run("evaluate", "--run", out, "--data", data_file, "--refine", "--no-baselines"), "iVAE")


def test_ivae_on_several_label_columns_numbers_the_joint_labels_alike_in_every_file(facet_file, tmp_path):
    out = tmp_path / "ivae"
    assert run("fit", "--data", facet_file, "--out", out, "--model", "ivae", "--aux", "c", *DEEP_FAST).exit_code == 0
    assert json.loads((out / "run.json").read_text())["aux_label_columns"] == 2
    with np.load(facet_file) as arrays:
        x, c = arrays["x"], arrays["c"]
    keep = ~np.all(c == c[0], axis=1)  # a file without one of the label pairs: a subset, a test split
    subset = tmp_path / "subset.npz"
    np.savez(subset, x=x[keep], c=c[keep])
    for data, name in ((facet_file, "full.npy"), (subset, "subset.npy")):
        assert run("transform", "--run", out, "--data", data, "--out", tmp_path / name).exit_code == 0
    np.testing.assert_allclose(np.load(tmp_path / "subset.npy"), np.load(tmp_path / "full.npy")[keep], atol=1e-6)
    one_column = tmp_path / "one.npz"
    np.savez(one_column, x=x, c=c[:, 0])
    result = run("transform", "--run", out, "--data", one_column, "--out", tmp_path / "z.npy")
    assert_one_line_error(result, "1 label column", "2 label column")
    unseen = tmp_path / "unseen.npz"
    np.savez(unseen, x=x, c=np.column_stack([c[:, 0], c[:, 1] + 5]))
    assert_one_line_error(run("transform", "--run", out, "--data", unseen, "--out", tmp_path / "z.npy"), "not seen")


def test_joint_labels_refuse_what_they_cannot_number(tmp_path):
    from latentid.errors import InvalidDataError
    from latentid.runs import joint_labels

    np.testing.assert_array_equal(joint_labels(np.array([[2, 3], [0, 999]]), "f"), [2003, 999])
    for bad in ([[1, 1000]], [[-1, 0]], [[0.5, 1]], [[0] * 7], [["a", "b"]]):
        with pytest.raises(InvalidDataError, match="cannot be joined"):
            joint_labels(np.array(bad), "f")


def test_mfcvae_facets_other_than_the_simulated_ones_are_noted(facet_file, data_file, tmp_path):
    base = ("--model", "mfcvae", "--pretrain-epochs", "0", "--restarts", "1", *DEEP_FAST)
    same = run("fit", "--data", facet_file, "--out", tmp_path / "same", "--facets", " 2:3 , 1:2", *base)
    assert same.exit_code == 0 and "note: --facets" not in same.stderr, same.output
    other = run("fit", "--data", facet_file, "--out", tmp_path / "other", "--facets", "1:2,2:3", *base)
    assert other.exit_code == 0, other.output
    assert "note: --facets 1:2,2:3 are not the facets the data were simulated with (--facets 2:3,1:2)" in " ".join(
        other.stderr.split()
    )
    mixture = run("fit", "--data", data_file, "--out", tmp_path / "mixture", "--facets", "1:2,1:2", *base)
    assert mixture.exit_code == 0, mixture.output
    assert "(one mixture of 5 components in 2 latent dimensions)" in " ".join(mixture.stderr.split())


def test_threads_limit_a_linear_floor_s_blas(data_file, tmp_path, monkeypatch):
    """A script passing --threads 1 to every model failed on pca, fastica and gmm ('Drop it')."""
    from threadpoolctl import threadpool_info

    import latentid.models.linear as linear

    seen = []
    real = linear.PCA.fit

    def spy(self, *args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return real(self, *args, **kwargs)

    monkeypatch.setattr(linear.PCA, "fit", spy)
    result = run("fit", "--data", data_file, "--out", tmp_path / "pca", "--model", "pca", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert seen and seen[0] <= {1}, seen
    assert_one_line_error(run("fit", "--data", data_file, "--out", tmp_path / "x", "--model", "pca", "--threads", "0"))


def test_a_damaged_recorded_generator_is_one_line_where_it_is_needed(facet_file, tmp_path):
    """fit's facets note parsed spec_json unguarded (a pydantic traceback); evaluate did the same."""
    arrays = dict(np.load(facet_file))
    arrays["spec_json"] = np.array("not json")
    damaged = tmp_path / "damaged.npz"
    np.savez(damaged, **arrays)
    out = tmp_path / "run"
    args = ("--model", "mfcvae", "--facets", "1:2,2:3", "--pretrain-epochs", "0", "--restarts", "1", *DEEP_FAST)
    fitted = run("fit", "--data", damaged, "--out", out, *args)
    assert fitted.exit_code == 0, fitted.output  # fit needs no generator: only the note is left out
    assert_one_line_error(run("evaluate", "--run", out, "--data", damaged), "spec_json", "does not parse")
