"""--data mnist / fashion-mnist at the command line: fit, transform, predict, evaluate, and the data command."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from latentid.cli import app
from latentid.data import real

runner = CliRunner()

TINY_FIT = (
    "--latent-dim", "2", "--components", "10", "--decoder-width", "16", "--decoder-depth", "1",
    "--epochs", "1", "--pretrain-epochs", "1", "--restarts", "1", "--likelihood", "bernoulli", "--quiet",
)  # fmt: skip


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture()
def data_env(shared_data, monkeypatch):
    monkeypatch.setenv("LATENTID_DATA", str(shared_data))


def test_fit_transform_predict_evaluate_on_the_mnist_test_split(data_env, tmp_path):
    out = tmp_path / "run"
    result = run("fit", "--data", "mnist", "--split", "test", "--out", out, *TINY_FIT)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "run.json").read_text())
    assert info["n_samples"] == 10_000 and info["n_features"] == 784 and info["data"]["source"].startswith("mnist:test")
    assert (
        run("transform", "--run", out, "--data", "mnist", "--split", "test", "--out", tmp_path / "z.npy").exit_code == 0
    )
    assert np.load(tmp_path / "z.npy").shape == (10_000, 2)
    assert (
        run("predict", "--run", out, "--data", "mnist", "--split", "test", "--out", tmp_path / "c.npy").exit_code == 0
    )
    result = run("evaluate", "--run", out, "--data", "mnist", "--data-split", "test", "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)["metrics"]
    assert 0.1 < scores["cluster_acc"] <= 1.0 and scores["n_classes"] == 10
    # The same run scored on the train split: 60,000 rows, the run's features checked.
    result = run("evaluate", "--run", out, "--data", "mnist", "--json")
    assert json.loads(result.output)["split"]["n_eval"] > 10_000


def test_fashion_mnist_is_read_by_name_and_features_are_checked(data_env, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 5)).astype(np.float32))
    out = tmp_path / "small"
    assert run("fit", "--data", tmp_path / "x.npy", "--out", out, "--model", "pca").exit_code == 0
    result = run("transform", "--run", out, "--data", "fashion-mnist", "--out", tmp_path / "z.npy")
    assert result.exit_code == 2 and "has 784 features but the run" in result.output


def test_mnist_is_read_by_name_beside_a_folder_named_mnist(data_env, tmp_path, monkeypatch):
    # After `latentid data download mnist --dir .` the name was taken as that folder: "is a folder, not a data file".
    (tmp_path / "mnist").mkdir()
    monkeypatch.chdir(tmp_path)
    result = run("fit", "--data", "mnist", "--split", "test", "--out", tmp_path / "run", "--model", "pca")
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["options"]["data"] == "mnist" and info["data"]["source"].startswith("mnist:test")


def test_missing_data_is_one_line_with_the_way_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTID_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr(real, "user_cache_folder", lambda: tmp_path / "cache")
    result = run("fit", "--data", "mnist", "--out", tmp_path / "run", "--model", "pca")
    assert result.exit_code == 2
    assert "MNIST not found" in result.output and "latentid data download mnist" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_split_and_data_dir_are_refused_with_a_file(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 3), dtype=np.float32))
    for flags in (("--split", "test"), ("--data-dir", tmp_path)):
        result = run("fit", "--data", tmp_path / "x.npy", "--out", tmp_path / "r", "--model", "pca", *flags)
        assert result.exit_code == 2 and "only to --data mnist or --data fashion-mnist" in result.output
    result = run("fit", "--data", "mnist", "--split", "validation", "--out", tmp_path / "r", "--model", "pca")
    assert result.exit_code == 2


def test_explain_refuses_published_data(tmp_path):
    result = run("explain", "--data", "mnist")
    assert result.exit_code == 2 and "generator of mnist is unknown" in result.output


def test_data_list_and_download(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(real, "user_cache_folder", lambda: tmp_path / "cache")
    monkeypatch.delenv("LATENTID_DATA", raising=False)
    result = run("data", "list")
    assert result.exit_code == 0 and "not found" in result.output and "data download mnist" in result.output
    # each command whole on its own line below the table (in a cell it was cut across two lines)
    assert "  mnist: latentid data download mnist\n" in result.output
    assert str(tmp_path / "cache" / "fashion-mnist") in result.output  # whole: piped at 80 columns it was cut with "…"
    local = {"mnist": dataclasses.replace(real.REAL_DATASETS["mnist"], mirrors=((shared_data / "mnist").as_uri(),))}
    monkeypatch.setattr(real, "REAL_DATASETS", {**real.REAL_DATASETS, **local})
    result = run("data", "download", "mnist", "--dir", tmp_path / "dl")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "dl" / "mnist").iterdir()) == sorted(
        p.name for p in (shared_data / "mnist").iterdir()
    )
    result = run("data", "list", "--data-dir", tmp_path / "dl")
    assert result.exit_code == 0 and result.output.count("not found") == 1  # mnist found there, fashion-mnist not


def _mnist_copy(shared_data, root):
    (root / "mnist").mkdir(parents=True)
    for source in (shared_data / "mnist").iterdir():
        (root / "mnist" / source.name).write_bytes(source.read_bytes())
    return root / "mnist"


def test_data_download_repairs_a_corrupt_file_without_force(shared_data, tmp_path, monkeypatch, spoil_gz):
    """A truncated or damaged .gz is fetched again like a mismatching one; commands that read it refuse it."""
    monkeypatch.setenv("LATENTID_DATA", str(shared_data))
    folder = _mnist_copy(shared_data, tmp_path / "dd")
    spoiled = folder / "train-images-idx3-ubyte.gz"
    spoil_gz(spoiled)
    result = run("fit", "--data", "mnist", "--data-dir", tmp_path / "dd", "--out", tmp_path / "run", "--model", "pca")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith(f"error: {spoiled}: could not be read (")
    assert "the file is corrupt, replace it" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()

    asked = []

    def fetch(url):  # the network, replaced: serves the shared file, recording what was asked for
        asked.append(url)
        return (shared_data / "mnist" / url.rsplit("/", 1)[-1]).read_bytes()

    monkeypatch.setattr(real, "_fetch", fetch)
    result = run("data", "download", "mnist", "--dir", tmp_path / "dd")
    assert result.exit_code == 0, result.output
    assert "fetching train-images-idx3-ubyte.gz" in result.output
    assert len(asked) == 1 and asked[0].endswith("/train-images-idx3-ubyte.gz")  # the three good files kept
    assert spoiled.read_bytes() == (shared_data / "mnist" / spoiled.name).read_bytes()
    assert not list(folder.glob(".latentid-*"))  # written atomically: no temporary file left
    assert real.load_real("mnist", "test", tmp_path / "dd").x.shape == (10_000, 784)


@pytest.fixture(scope="module")
def mnist_shaped_run(tmp_path_factory):
    """A 2-component GMM run fitted on 784 random features, for transform / predict / evaluate with --data mnist."""
    folder = tmp_path_factory.mktemp("mnist-shaped")
    np.save(folder / "x.npy", np.random.default_rng(0).random((40, 784)).astype(np.float32))
    result = run("fit", "--data", folder / "x.npy", "--out", folder / "run", "--model", "gmm", "--components", "2")
    assert result.exit_code == 0, result.output
    return folder / "run"


DATA_DIR_COMMANDS = {
    "fit": ("fit", "--data", "mnist", "--model", "pca", "--out", "{out}"),
    "transform": ("transform", "--run", "{run}", "--data", "mnist", "--out", "{out}"),
    "predict": ("predict", "--run", "{run}", "--data", "mnist", "--out", "{out}"),
    "evaluate": ("evaluate", "--run", "{run}", "--data", "mnist", "--json"),
    "experiment consistency": (
        "experiment", "consistency", "--data", "mnist", "--model", "vae", "--epochs", "1", "--decoder-width", "8",
        "--decoder-depth", "1", "--encoder-depth", "0", "--threads", "1", "--seeds", "2", "--quiet", "--out", "{out}",
    ),
    "experiment mnist": (
        "experiment", "mnist", "--n-train", "500", "--n-test", "200", "--epochs", "2", "--pretrain-epochs", "1",
        "--threads", "1", "--seeds", "2", "--quiet", "--out", "{out}",
    ),
}  # fmt: skip


@pytest.mark.parametrize("held", [None, 0, 3], ids=["no-such-folder", "empty", "3-of-4-files"])
@pytest.mark.parametrize("command", list(DATA_DIR_COMMANDS))
def test_an_explicit_data_dir_without_the_files_is_refused(
    shared_data, tmp_path, monkeypatch, mnist_shaped_run, command, held
):
    """Every command taking --data-dir looks only there: never in $LATENTID_DATA, which holds the files."""
    monkeypatch.setenv("LATENTID_DATA", str(shared_data))
    monkeypatch.setattr(real, "user_cache_folder", lambda: tmp_path / "cache")
    given = tmp_path / "given"
    if held is not None:
        (given / "mnist").mkdir(parents=True)
        for name in sorted(p.name for p in (shared_data / "mnist").iterdir())[:held]:
            (given / "mnist" / name).write_bytes((shared_data / "mnist" / name).read_bytes())
    out = tmp_path / ("out.npy" if command in ("transform", "predict") else "out")
    args = [a.format(out=out, run=mnist_shaped_run) for a in DATA_DIR_COMMANDS[command]]
    result = run(*args, "--data-dir", given)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith(f"error: --data-dir {given}: MNIST not found there")
    assert f"'latentid data download mnist --dir {given}'" in result.output
    assert ("no such folder" in result.output) == (held is None)
    if held == 3:  # sorted names: t10k-*, t10k-*, train-images; train-labels is the one missing
        assert "lacks train-labels-idx1-ubyte," in result.output
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_data_list_looks_only_in_an_explicit_data_dir(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTID_DATA", str(shared_data))
    result = run("data", "list", "--data-dir", tmp_path / "given")
    assert result.exit_code == 0 and result.output.count("not found") == 2, result.output
    assert str(shared_data) not in result.output and "--dir" in result.output


def test_data_list_checks_the_files_it_reports_found(shared_data, tmp_path, monkeypatch):
    # Before: a truncated t10k-labels file was listed as found, and files lying in --data-dir itself as "not
    # found ... download fetches it", where fit says they belong one folder down.
    _mnist_copy(shared_data, tmp_path / "root")
    labels = next((tmp_path / "root" / "mnist").glob("t10k-labels*"))
    labels.write_bytes(labels.read_bytes()[:100])
    result = run("data", "list", "--data-dir", tmp_path / "root")
    assert result.exit_code == 1, result.output  # a damaged file is a failure a script can see
    assert "damaged" in result.output and "t10k-labels" in result.output
    # found through $LATENTID_DATA, the files are fetched again into that folder, not the cache (read after it)
    monkeypatch.setenv("LATENTID_DATA", str(tmp_path / "root"))
    result = run("data", "list")
    assert result.exit_code == 1 and "--dir" in result.output, result.output  # the cache was the advice before
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (shared_data / "mnist").iterdir():
        (flat / path.name).write_bytes(path.read_bytes())
    result = run("data", "list", "--data-dir", flat)
    assert "holds the MNIST files itself" in " ".join(result.output.split()), result.output
