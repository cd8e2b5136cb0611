"""The seed-consistency study as a library: splits, what each fit sees, scores, resume, settings, figures."""

import json
from pathlib import Path

import numpy as np
import pytest

from latentid.data.io import Dataset
from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError
from latentid.experiments.consistency import cross_seed, holdout_split, open_study_data, run_study, subsample
from latentid.metrics import cluster_report, consistency
from latentid.models import load_model

FAST = {"epochs": 2, "batch_size": 64, "n_restarts": 1, "device": "cpu"}
VADE = {"latent_dim": 2, "n_components": 4, "pretrain_epochs": 1, **FAST}
VAE = {"latent_dim": 2, **FAST}
DATA = {"data": "test"}


@pytest.fixture(scope="module")
def splits(gmm_data):
    x, z, c = gmm_data
    return holdout_split(Dataset(x=x, z=z, c=c, source="sim"), 0.25)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, splits):
    """One study of vade and vae with 2 seeds, shared by the read-only checks below."""
    out = tmp_path_factory.mktemp("study")
    train, test = splits
    results = run_study(train, test, {"vade": VADE, "vae": VAE}, 2, out, data_settings=DATA)
    return out, results


def test_holdout_split_is_seeded_disjoint_and_complete(gmm_data):
    x, z, c = gmm_data
    data = Dataset(x=x, z=z, c=c, source="sim")
    train, test = holdout_split(data, 0.2)
    again_train, again_test = holdout_split(data, 0.2)
    np.testing.assert_array_equal(test.x, again_test.x)
    assert len(test.x) == 60 and len(train.x) == 240
    rows = {row.tobytes() for row in train.x}
    assert not any(row.tobytes() in rows for row in test.x)
    assert sorted(np.concatenate([train.c, test.c]).tolist()) == sorted(c.tolist())
    with pytest.raises(InvalidDataError, match="at least 20"):
        holdout_split(Dataset(x=x[:50], source="small"), 0.2)
    with pytest.raises(InvalidParameterError, match="--test-fraction"):
        holdout_split(data, 1.0)


def test_subsample_is_seeded_and_checked(gmm_data):
    data = Dataset(x=gmm_data[0], c=gmm_data[2], source="sim")
    first, second = subsample(data, 50), subsample(data, 50)
    np.testing.assert_array_equal(first.x, second.x)
    assert len(first.c) == 50 and subsample(data, None) is data
    with pytest.raises(InvalidParameterError, match="--n-test"):
        subsample(data, 301, "--n-test")


def test_each_fit_sees_the_train_split_only_and_is_scored_on_the_test_split(tmp_path, splits, fits):
    train, test = splits
    results = run_study(train, test, {"vade": VADE}, 2, tmp_path, data_settings=DATA)
    assert [(c["model"], c["seed"]) for c in fits] == [("vade", 0), ("vade", 1)]
    test_rows = {row.tobytes() for row in test.x}
    for call in fits:
        np.testing.assert_array_equal(call["x"], train.x)  # the train split, all of it, nothing else
        assert not any(row.tobytes() in test_rows for row in call["x"])
    for record in results["models"]["vade"]["seeds"]:
        folder = tmp_path / "vade" / f"seed-{record['seed']}"
        model = load_model(folder / "model", device="cpu")
        assert model.random_state == record["seed"]
        np.testing.assert_allclose(np.load(folder / "test_latents.npy"), model.transform(test.x), atol=1e-5)
        labels = model.predict(test.x)
        np.testing.assert_array_equal(np.load(folder / "test_labels.npy"), labels)
        scores = cluster_report(test.c, labels)
        assert record["test_cluster_acc"] == pytest.approx(scores["cluster_acc"])
        assert record["test_nmi"] == pytest.approx(scores["nmi"])
        assert record["test_ari"] == pytest.approx(scores["ari"])
        train_acc = cluster_report(train.c, model.predict(train.x))["cluster_acc"]
        assert record["train_cluster_acc"] == pytest.approx(train_acc)
    z0, z1 = (np.load(tmp_path / "vade" / f"seed-{s}" / "test_latents.npy") for s in (0, 1))
    cross = results["models"]["vade"]["cross_seed"]
    assert cross["mcc_strong"]["matrix"][0][1] == pytest.approx(consistency(z0, z1)["mcc_strong"])
    assert cross["mcc_weak"]["mean"] == pytest.approx(consistency(z0, z1)["mcc_weak"])
    assert cross["mcc_cca"]["mean"] == pytest.approx(consistency(z0, z1)["mcc_cca"])  # ICE-BeeM's weak MCC


def test_results_and_folder_layout(finished):
    out, results = finished
    assert json.loads((out / "results.json").read_text()) == results
    assert results["settings"]["seeds"] == [0, 1] and results["n_test"] == 75 and results["n_train"] == 225
    for name, clusters in (("vade", True), ("vae", False)):
        entry = results["models"][name]
        assert entry["clusters"] is clusters
        keys = ["seed", "test_cluster_acc", "test_nmi", "test_ari", "train_cluster_acc", "seconds"]
        expected = keys if clusters else ["seed", "seconds"]
        assert [list(record) for record in entry["seeds"]] == [expected, expected]
        assert set(entry["cross_seed"]) == (
            {"mcc_strong", "mcc_weak", "mcc_cca", "cluster_ari"} if clusters else {"mcc_strong", "mcc_weak", "mcc_cca"}
        )
        for figure in entry["cross_seed"].values():
            matrix = np.array(figure["matrix"])
            assert matrix.shape == (2, 2) and np.allclose(np.diag(matrix), 1) and np.allclose(matrix, matrix.T)
            assert figure["mean"] == pytest.approx(matrix[0, 1])
        assert "label" not in results["model_selection"][name].replace("no labels", "")
        for figure in entry["figures"].values():
            assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        for seed in (0, 1):
            folder = out / name / f"seed-{seed}"
            assert {"model", "test_latents.npy", "metrics.json", "train_log.jsonl"} <= {
                p.name for p in folder.iterdir()
            }
            assert not list(folder.glob("*.pt"))  # the per-epoch checkpoints are gone once the seed is finished
            assert (folder / "test_labels.npy").exists() is clusters
    assert (
        "GaussianMixture" in results["model_selection"]["vade"] and "held-out ELBO" in results["model_selection"]["vae"]
    )
    assert not list(out.rglob(".latentid-*"))  # no temporary file left behind


def test_rerun_skips_finished_seeds_and_more_seeds_extend(tmp_path, splits, fits):
    train, test = splits
    events = []
    run_study(train, test, {"vae": VAE}, 2, tmp_path, data_settings=DATA)
    stamp = (tmp_path / "vae" / "seed-0" / "metrics.json").stat().st_mtime_ns
    assert len(fits) == 2
    again = run_study(train, test, {"vae": VAE}, 2, tmp_path, data_settings=DATA, progress=events.append)
    assert len(fits) == 2  # nothing fitted again
    assert [e["status"] for e in events if e["event"] == "seed"] == ["skipped", "skipped"]
    assert (tmp_path / "vae" / "seed-0" / "metrics.json").stat().st_mtime_ns == stamp
    assert [r["seed"] for r in again["models"]["vae"]["seeds"]] == [0, 1]
    (tmp_path / "vae" / "seed-1" / "metrics.json").unlink()  # an interrupted seed: fitted again
    more = run_study(train, test, {"vae": VAE}, 3, tmp_path, data_settings=DATA, progress=events.append)
    assert [c["seed"] for c in fits[2:]] == [1, 2]
    assert np.array(more["models"]["vae"]["cross_seed"]["mcc_strong"]["matrix"]).shape == (3, 3)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs and all(e["model"] == "vae" and e["seed"] in (1, 2) for e in epochs)


def test_results_keep_the_models_an_extending_command_does_not_name(tmp_path, splits, fits):
    """`--models vade` after a vade + vae study wrote a results.json without vae (study.json still listed it). The
    kept model's cross-seed scores are computed anew from its latents, not copied from a possibly older file."""
    train, test = splits
    first = run_study(train, test, {"vade": VADE, "vae": VAE}, 2, tmp_path, data_settings=DATA)
    saved = json.loads((tmp_path / "results.json").read_text())
    saved["models"]["vae"]["cross_seed"]["mcc_strong"] = 9.0  # as scored under an earlier definition
    (tmp_path / "results.json").write_text(json.dumps(saved))
    figure = (tmp_path / "consistency_vae.png").stat().st_mtime_ns
    again = run_study(train, test, {"vade": VADE}, 2, tmp_path, data_settings=DATA)
    assert (tmp_path / "consistency_vae.png").stat().st_mtime_ns != figure  # drawn anew from the new scores
    assert set(again["models"]) == {"vade", "vae"} and again["models"]["vae"] == first["models"]["vae"]
    assert set(again["settings"]["models"]) == {"vade", "vae"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["models"]) == {"vade", "vae"}


def test_a_damaged_seed_file_is_named_with_how_to_fit_the_seed_again(tmp_path, splits, fits):
    """A truncated test_latents.npy gave numpy's traceback; one of other rows was left out of the cross-seed
    means without a word; a missing test_labels.npy said only 'no such file', and rerunning never fixed it."""
    train, test = splits
    run_study(train, test, {"vade": VADE}, 2, tmp_path, data_settings=DATA)
    seed = tmp_path / "vade" / "seed-1"
    latents = (seed / "test_latents.npy").read_bytes()
    damages = [
        (lambda: (seed / "test_latents.npy").write_bytes(latents[:100]), "test_latents.npy: unreadable"),
        (
            lambda: np.save(seed / "test_latents.npy", np.load(tmp_path / "vade" / "seed-0" / "test_latents.npy")[:5]),
            r"test_latents.npy: holds an array of shape \(5, 2\), not \d+ finite rows",
        ),
        (lambda: (seed / "test_labels.npy").unlink(), "test_labels.npy: missing"),
    ]
    for damage, message in damages:
        damage()
        with pytest.raises(DataFileError, match=message) as info:
            run_study(train, test, {"vade": VADE}, 2, tmp_path, data_settings=DATA)
        assert f"Delete {seed} and run the same command again" in str(info.value)
        (seed / "test_latents.npy").write_bytes(latents)
    # a seed whose latents are gone (its metrics.json still there) is not finished: it is fitted again
    (seed / "test_latents.npy").unlink()
    before = len(fits)
    run_study(train, test, {"vade": VADE}, 2, tmp_path, data_settings=DATA)
    assert len(fits) == before + 1 and (seed / "test_latents.npy").is_file()


def test_other_settings_are_refused_and_force_replaces(tmp_path, splits, fits):
    train, test = splits
    run_study(train, test, {"vae": VAE}, 2, tmp_path, data_settings=DATA)
    with pytest.raises(InvalidParameterError, match=r"models\.vae\.epochs: 2 in the folder, 3 now"):
        run_study(train, test, {"vae": {**VAE, "epochs": 3}}, 2, tmp_path, data_settings=DATA)
    with pytest.raises(InvalidParameterError, match="data.data"):
        run_study(train, test, {"vae": VAE}, 2, tmp_path, data_settings={"data": "other"})
    assert len(fits) == 2
    # threads and device steer a fit without changing the study: accepted, nothing refitted
    run_study(train, test, {"vae": {**VAE, "threads": 1}}, 2, tmp_path, data_settings=DATA)
    assert len(fits) == 2
    (tmp_path / "vae" / "seed-0" / "stale.txt").write_text("from the old study")
    results = run_study(train, test, {"vae": {**VAE, "epochs": 3}}, 2, tmp_path, data_settings=DATA, force=True)
    assert len(fits) == 4 and not (tmp_path / "vae" / "seed-0" / "stale.txt").exists()
    assert results["settings"]["models"]["vae"]["epochs"] == 3
    assert json.loads((tmp_path / "study.json").read_text())["models"]["vae"]["epochs"] == 3


def test_a_folder_without_a_study_is_refused(tmp_path, splits):
    train, test = splits
    (tmp_path / "notes.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(DataFileError, match="no study"):
            run_study(train, test, {"vae": VAE}, 2, tmp_path, data_settings=DATA, force=force)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("models", "seeds", "match"),
    [
        ({"vae": VAE}, 1, "at least 2 seeds"),
        ({"ivae": VAE}, 2, "unknown model 'ivae'"),
        ({"vae": {**VAE, "random_state": 3}}, 2, "set by the study"),
        ({"vae": {**VAE, "latent_dim": 11}}, 2, "latent_dim"),
        ({"vae": {**VAE, "likelihood": "bernoulli"}}, 2, "bernoulli"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_written(tmp_path, splits, models, seeds, match):
    train, test = splits
    with pytest.raises((InvalidParameterError, InvalidDataError), match=match):
        run_study(train, test, models, seeds, tmp_path / "out", data_settings=DATA)
    assert not (tmp_path / "out").exists()


def test_cross_seed_is_invariant_to_relabelling_and_scaling():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 3))
    labels = rng.integers(0, 4, size=200)
    found = cross_seed([z, 3.0 * z[:, [2, 0, 1]] + 1.0], [labels, (labels + 1) % 4])
    assert found["mcc_strong"]["mean"] == pytest.approx(1.0)
    assert found["mcc_weak"]["mean"] == pytest.approx(1.0)
    assert found["cluster_ari"]["mean"] == pytest.approx(1.0)
    noise = cross_seed([z, rng.normal(size=(200, 3))], None)
    assert noise["mcc_strong"]["mean"] < 0.3 and "cluster_ari" not in noise


def test_mfcvae_clusters_are_scored_on_joint_labels(tmp_path, gmm_data):
    x, z, c = gmm_data
    facets = np.stack([c % 2, c // 2], axis=1)  # two binary facets whose joint label is c
    train, test = holdout_split(Dataset(x=x, c=facets, source="sim"), 0.25)
    params = {"facets": [[1, 2], [1, 2]], "pretrain_epochs": 1, **FAST}
    results = run_study(train, test, {"mfcvae": params}, 2, tmp_path, data_settings=DATA)
    record = results["models"]["mfcvae"]["seeds"][0]
    model = load_model(tmp_path / "mfcvae" / "seed-0" / "model", device="cpu")
    joint = np.unique(model.predict(test.x), axis=0, return_inverse=True)[1].reshape(-1)
    assert record["test_ari"] == pytest.approx(cluster_report(test.c[:, 0] * 2 + test.c[:, 1], joint)["ari"])
    assert "cluster_ari" in results["models"]["mfcvae"]["cross_seed"]


def test_an_interrupted_fit_continues_from_its_checkpoint(tmp_path, splits):
    train, test = splits
    params = {"vae": {**VAE, "epochs": 4}}

    def stop_in_seed_1(event):
        if event["event"] == "epoch" and event["seed"] == 1 and event["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(train, test, params, 2, tmp_path, data_settings=DATA, progress=stop_in_seed_1)
    assert (tmp_path / "vae" / "seed-1" / "restart-1.pt").exists()
    assert not (tmp_path / "vae" / "seed-1" / "metrics.json").exists()
    (first,) = json.loads((tmp_path / "vae" / "seed-1" / "sessions.json").read_text())
    events = []
    run_study(train, test, params, 2, tmp_path, data_settings=DATA, progress=events.append)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [3, 4]  # seed 0 skipped, seed 1 continued
    record = json.loads((tmp_path / "vae" / "seed-1" / "metrics.json").read_text())
    assert record["fit"]["resumed"] is True and record["fit"]["epochs_run"] == 4
    # the interrupted session's time counts (the seconds were the last session's alone)
    sessions = record["fit"]["session_seconds"]
    assert sessions[0] == first and record["metrics"]["seconds"] == pytest.approx(sum(sessions), abs=1e-3)
    assert (
        not list((tmp_path / "vae" / "seed-1").glob("*.pt"))
        and not (tmp_path / "vae" / "seed-1" / "sessions.json").exists()
    )


def test_unlabelled_data_give_no_cluster_scores_but_cross_seed_agreement(tmp_path, splits):
    train, test = (Dataset(x=part.x, source=part.source) for part in splits)
    results = run_study(train, test, {"vade": VADE}, 2, tmp_path, data_settings=DATA)
    entry = results["models"]["vade"]
    assert [list(r) for r in entry["seeds"]] == [["seed", "seconds"], ["seed", "seconds"]]
    assert "cluster_ari" in entry["cross_seed"] and (tmp_path / "latents_vade.png").exists()


def test_published_data_train_on_train_and_score_on_test(monkeypatch):
    shared = Path(__file__).resolve().parents[2] / "../shared/data"
    if not (shared / "mnist").is_dir():
        pytest.skip(f"no MNIST files in {shared}")
    monkeypatch.setenv("LATENTID_DATA", str(shared.resolve()))
    train, test, settings = open_study_data("mnist")
    assert train.x.shape == (60_000, 784) and test.x.shape == (10_000, 784)
    assert settings["data"] == "mnist" and "test split" in settings["test"]
    with pytest.raises(InvalidParameterError, match="--test-fraction"):
        open_study_data("mnist", test_fraction=0.2)


def test_a_seed_that_leaves_latents_inactive_is_recorded_and_named(tmp_path, splits):
    # Noise 10,000 times the data's scale: every seed's posterior stays at the prior.
    from latentid.experiments.consistency import fit_seed

    train, test = splits
    params = {**VADE, "noise_scale": 1e4, "epochs": 5}
    with pytest.warns(UserWarning, match=r"^vade, seed 3: VaDE left latent dimension\(s\) 0 \("):
        record = fit_seed("vade", params, 3, train, test, tmp_path / "seed-3")
    (warning,) = record["fit"]["warnings"]
    assert json.loads((tmp_path / "seed-3" / "run.json").read_text())["warnings"] == [warning]


def test_model_selection_names_the_model_it_describes():
    from latentid.experiments.consistency import model_selection

    settings = {"pretrain_epochs": 5, "pretrain_objective": "vae", "n_init": 3, "n_restarts": 2}
    assert model_selection("vade", settings).startswith("VaDE's own criteria")
    assert model_selection("vade", {**settings, "init_selection": "consensus"}).endswith(
        "n_init=3 by consensus (the one the others agree with most, mean ARI)."
    )  # the MNIST study's default: it said "by likelihood" whatever the setting
    mfcvae = model_selection("mfcvae", settings)  # said "VaDE's own criteria" and one GaussianMixture
    assert mfcvae.startswith("MFC-VAE's own criteria") and "one GaussianMixture per facet" in mfcvae


def test_a_file_whose_labels_changed_is_another_study(tmp_path, gmm_data, fits):
    """Seeds are scored against the file's labels: the same x with other labels must not extend the study."""
    x, z, c = gmm_data
    path, out = tmp_path / "data.npz", tmp_path / "study"
    np.savez(path, x=x, c=c)
    train, test, settings = open_study_data(path)
    run_study(train, test, {"vae": VAE}, 2, out, data_settings=settings)
    np.savez(path, x=x, c=(c + 1) % 4)
    train, test, relabelled = open_study_data(path)
    assert relabelled["fingerprint"] == settings["fingerprint"]
    with pytest.raises(InvalidParameterError, match=r"labels c differ .*\(every model in it: vae\)"):
        run_study(train, test, {"vae": VAE}, 2, out, data_settings=relabelled)
    # a study written before the labels were fingerprinted is taken as the same study, and gains the key
    study = json.loads((out / "study.json").read_text())
    del study["data"]["labels_fingerprint"]
    (out / "study.json").write_text(json.dumps(study))
    run_study(train, test, {"vae": VAE}, 2, out, data_settings=relabelled)
    stored = json.loads((out / "study.json").read_text())["data"]
    assert stored["labels_fingerprint"] == relabelled["labels_fingerprint"]
    assert len(fits) == 2
