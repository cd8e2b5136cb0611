"""The published-data loader: the shared MNIST / Fashion-MNIST files, their pins, and its errors."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from latentid.data import real
from latentid.data.real import download, load_real, locate, parse_idx
from latentid.data.sources import open_data
from latentid.errors import DataFileError, InvalidParameterError


@pytest.fixture(scope="module")
def mnist_test(shared_data):
    return load_real("mnist", "test", shared_data)


def test_mnist_splits_as_published(shared_data, mnist_test):
    train = load_real("mnist", "train", shared_data)
    assert train.x.shape == (60_000, 784) and mnist_test.x.shape == (10_000, 784)
    assert train.x.dtype == np.float32 and train.x.min() == 0.0 and train.x.max() == 1.0
    # The data README's published pixel statistics of the train split.
    assert train.x.mean() == pytest.approx(0.1307, abs=1e-4) and train.x.std() == pytest.approx(0.3081, abs=1e-4)
    assert np.array_equal(np.unique(train.c), np.arange(10)) and train.c[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(mnist_test.c).tolist()[:3] == [980, 1135, 1032]  # the published test class counts


def test_fashion_mnist_and_the_all_split(shared_data):
    fashion = load_real("fashion-mnist", "train", shared_data)
    assert fashion.x.mean() == pytest.approx(0.2860, abs=1e-4) and fashion.x.std() == pytest.approx(0.3530, abs=1e-4)
    both = load_real("fashion-mnist", "all", shared_data)
    assert both.x.shape == (70_000, 784) and np.array_equal(both.c[:60_000], fashion.c)


def _copy(shared_data, tmp_path, name="mnist", gunzip=()):
    folder = tmp_path / name
    folder.mkdir(parents=True)
    for source in (shared_data / name).iterdir():
        if source.name.removesuffix(".gz") in gunzip:
            (folder / source.name.removesuffix(".gz")).write_bytes(gzip.decompress(source.read_bytes()))
        else:
            shutil.copy(source, folder / source.name)
    return folder


def test_uncompressed_files_read_the_same(shared_data, tmp_path, mnist_test):
    _copy(shared_data, tmp_path, gunzip=("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    again = load_real("mnist", "test", tmp_path)
    assert np.array_equal(again.x, mnist_test.x) and np.array_equal(again.c, mnist_test.c)


def test_a_corrupted_copy_is_refused_naming_the_file(shared_data, tmp_path):
    folder = _copy(shared_data, tmp_path, gunzip=("t10k-labels-idx1-ubyte",))
    labels = folder / "t10k-labels-idx1-ubyte"
    raw = bytearray(labels.read_bytes())
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    labels.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte: SHA-256 .* does not match") as err:
        load_real("mnist", "test", tmp_path)
    assert "\n" not in str(err.value) and "download mnist --force" in str(err.value)
    load_real("mnist", "train", tmp_path)  # the untouched split still loads


def test_a_truncated_gzip_is_refused(shared_data, tmp_path):
    folder = _copy(shared_data, tmp_path)
    images = folder / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.gz: could not be read"):
        load_real("mnist", "test", tmp_path)


def test_missing_files_say_where_they_were_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTID_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(real, "user_cache_folder", lambda: tmp_path / "cache")
    with pytest.raises(DataFileError) as err:
        load_real("fashion-mnist", "train", tmp_path / "given")
    message = str(err.value)
    for where in ("given", "env", "cache"):
        assert str(tmp_path / where / "fashion-mnist") in message
    assert message.index("given") < message.index("env") < message.index("cache")
    assert "latentid data download fashion-mnist" in message


def test_search_order_data_dir_then_env_then_cache(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(real, "user_cache_folder", lambda: tmp_path / "cache")
    monkeypatch.setenv("LATENTID_DATA", str(shared_data))
    assert locate("mnist") == shared_data / "mnist"
    _copy(shared_data, tmp_path / "mine")
    assert locate("mnist", tmp_path / "mine") == tmp_path / "mine" / "mnist"
    assert locate("mnist", tmp_path / "empty") == shared_data / "mnist"  # an empty --data-dir falls through
    monkeypatch.delenv("LATENTID_DATA")
    _copy(shared_data, tmp_path / "cache")
    assert locate("mnist") == tmp_path / "cache" / "mnist"


def test_download_checks_pins_and_keeps_good_files(shared_data, tmp_path):
    mirror = [(shared_data / "mnist").as_uri()]
    fetched = []
    folder = download("mnist", tmp_path, mirrors=mirror, progress=fetched.append)
    assert folder == tmp_path / "mnist" and len(fetched) == 4
    assert load_real("mnist", "test", tmp_path).x.shape == (10_000, 784)
    download("mnist", tmp_path, mirrors=mirror, progress=fetched.append)
    assert len(fetched) == 4  # every pin matched: nothing fetched again


def test_download_refuses_a_mirror_with_other_bytes(shared_data, tmp_path):
    bad_mirror = tmp_path / "bad"
    bad_mirror.mkdir()
    for source in (shared_data / "fashion-mnist").iterdir():  # right names, wrong data set
        shutil.copy(source, bad_mirror / source.name)
    with pytest.raises(DataFileError, match="SHA-256 mismatch"):
        download("mnist", tmp_path / "dest", mirrors=[bad_mirror.as_uri()])
    assert not any((tmp_path / "dest" / "mnist").glob("*.gz"))  # nothing unchecked was written


def test_parse_idx_rejects_bad_headers():
    good = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    assert parse_idx(good).tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(DataFileError, match="bad magic"):
        parse_idx(bytes([0, 0, 9, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(DataFileError, match=r"header says shape \(2, 3\)"):
        parse_idx(good[:-1])


def test_open_data_routes_names_and_refuses_split_for_files(shared_data, tmp_path):
    assert open_data("MNIST", "test", shared_data).x.shape == (10_000, 784)
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((5, 3)))
    assert open_data(path).x.shape == (5, 3)
    with pytest.raises(InvalidParameterError, match="--split applies only to --data mnist"):
        open_data(path, split="test")
    with pytest.raises(InvalidParameterError, match="--split must be one of"):
        open_data("mnist", split="validation", data_dir=shared_data)
