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
    assert "\n" not in str(err.value) and f"download mnist --dir {tmp_path}" in str(err.value)
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
        load_real("fashion-mnist", "train")
    message = str(err.value)
    for where in ("env", "cache"):
        assert str(tmp_path / where / "fashion-mnist") in message
    assert message.index("env") < message.index("cache")
    assert "latentid data download fashion-mnist" in message


def test_search_order_env_then_cache(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(real, "user_cache_folder", lambda: tmp_path / "cache")
    monkeypatch.setenv("LATENTID_DATA", str(shared_data))
    assert locate("mnist") == shared_data / "mnist"
    _copy(shared_data, tmp_path / "mine")
    assert locate("mnist", tmp_path / "mine") == tmp_path / "mine" / "mnist"
    monkeypatch.delenv("LATENTID_DATA")
    _copy(shared_data, tmp_path / "cache")
    assert locate("mnist") == tmp_path / "cache" / "mnist"


@pytest.mark.parametrize("held", [(), ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte")])
def test_an_explicit_data_dir_is_the_only_place_looked_in(shared_data, tmp_path, monkeypatch, held):
    """A --data-dir that lacks the files (missing, or holding some of the four) is an error naming it and
    the missing files, even where $LATENTID_DATA and the cache hold them: it never falls through."""
    _copy(shared_data, tmp_path / "cache")
    monkeypatch.setattr(real, "user_cache_folder", lambda: tmp_path / "cache")
    monkeypatch.setenv("LATENTID_DATA", str(shared_data))
    given = tmp_path / "given"
    for file_name in held:
        (given / "mnist").mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data / "mnist" / f"{file_name}.gz", given / "mnist")
    with pytest.raises(DataFileError) as err:
        load_real("mnist", "test", given)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"--data-dir {given}: MNIST not found there")
    assert str(shared_data) not in message and str(tmp_path / "cache") not in message
    missing = [f for f in real.IDX_FILES.values() if f not in held]
    if held:
        assert all(f in message for f in missing) and not any(f in message for f in held)
    else:
        assert "no such folder" in message
    assert f"'latentid data download mnist --dir {given}'" in message
    assert real.search_roots(given) == [given]


def test_a_data_dir_holding_the_files_itself_says_to_name_its_parent(shared_data, tmp_path):
    folder = _copy(shared_data, tmp_path)  # tmp_path/mnist/<files>
    with pytest.raises(DataFileError) as err:
        locate("mnist", folder)
    assert str(err.value).startswith(f"--data-dir {folder} holds the MNIST files itself")
    assert str(err.value).endswith(f"use --data-dir {tmp_path}.")
    assert locate("mnist", tmp_path) == folder


def _fake_fetch(shared_data, monkeypatch):
    """Replace the network: serve the shared files by name, recording each URL asked for."""
    asked = []

    def fetch(url):
        asked.append(url)
        name = "fashion-mnist" if "fashion" in url else "mnist"
        return (shared_data / name / url.rsplit("/", 1)[-1]).read_bytes()

    monkeypatch.setattr(real, "_fetch", fetch)
    return asked


def test_download_fetches_a_corrupt_file_again_without_force(shared_data, tmp_path, monkeypatch, spoil_gz):
    folder = _copy(shared_data, tmp_path)
    spoil_gz(folder / "t10k-labels-idx1-ubyte.gz")
    asked = _fake_fetch(shared_data, monkeypatch)
    fetched = []
    assert download("mnist", tmp_path, progress=fetched.append) == folder
    assert fetched == ["t10k-labels-idx1-ubyte"]  # only the corrupt file, the three good ones kept
    assert len(asked) == 1 and asked[0].endswith("/t10k-labels-idx1-ubyte.gz")
    assert (folder / "t10k-labels-idx1-ubyte.gz").read_bytes() == (
        shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    ).read_bytes()
    assert load_real("mnist", "test", tmp_path).x.shape == (10_000, 784)


def test_reading_a_corrupt_gzip_is_one_line_saying_replace_it(shared_data, tmp_path, spoil_gz):
    folder = _copy(shared_data, tmp_path)
    spoil_gz(folder / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataFileError) as err:
        load_real("mnist", "test", tmp_path)
    message = str(err.value)
    assert "\n" not in message and "t10k-labels-idx1-ubyte.gz: could not be read" in message
    assert "the file is corrupt, replace it" in message and f"download mnist --dir {tmp_path}" in message


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


def test_a_data_set_folder_given_for_the_other_data_set_is_not_said_to_hold_its_files(shared_data):
    """Both data sets name their files alike: --data-dir data/mnist for Fashion-MNIST said the folder held the
    Fashion-MNIST files and advised moving them (MNIST's) into data/mnist/fashion-mnist."""
    from latentid.data.real import locate

    with pytest.raises(DataFileError) as wrong:
        locate("fashion-mnist", shared_data / "mnist")
    assert "files itself" not in str(wrong.value) and "not found there" in str(wrong.value)
    with pytest.raises(DataFileError, match="holds the MNIST files itself"):
        locate("mnist", shared_data / "mnist")
