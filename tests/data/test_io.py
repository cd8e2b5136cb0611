import numpy as np
import pandas as pd
import pytest

from latentid.data.io import read_dataset, validate_matrix
from latentid.errors import DataFileError, InvalidDataError


def test_npz_with_optional_keys(tmp_path):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(5, 3)), z=rng.normal(size=(5, 2)), c=np.arange(5), u=np.arange(5.0))
    data = read_dataset(path)
    assert data.x.dtype == np.float32 and data.x.shape == (5, 3)
    assert data.z.shape == (5, 2) and data.c.dtype == np.int64 and data.u.shape == (5, 1)


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_other_formats_round_trip(tmp_path, suffix):
    x = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    path = tmp_path / f"d{suffix}"
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".csv":
        pd.DataFrame(x, columns=["a", "b", "c"]).to_csv(path, index=False)
    else:
        pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=["p", "q", "r", "s"]).to_parquet(path)
    np.testing.assert_allclose(read_dataset(path).x, x.astype(np.float32))


def test_csv_without_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    assert read_dataset(path).x.shape == (3, 2)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN or infinite"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "NaN or infinite"),
        (np.ones(4), "2-D"),
        (np.ones((1, 3)), "at least 2 samples"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
    ],
)
def test_validation_errors(values, message):
    with pytest.raises(InvalidDataError, match=message):
        validate_matrix(values)


def test_bad_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_dataset(tmp_path / "missing.npz")
    (tmp_path / "d.txt").write_text("1")
    with pytest.raises(DataFileError, match="unknown data format"):
        read_dataset(tmp_path / "d.txt")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFileError, match="could not read"):
        read_dataset(tmp_path / "broken.npz")
    np.savez(tmp_path / "nox.npz", y=np.ones((3, 2)))
    with pytest.raises(DataFileError, match="no array named 'x'"):
        read_dataset(tmp_path / "nox.npz")
    (tmp_path / "text.csv").write_text("a,b\n1,x\n2,y\n")
    with pytest.raises(InvalidDataError, match="not numeric"):
        read_dataset(tmp_path / "text.csv")


def test_errors_are_value_errors_too():
    with pytest.raises(ValueError):
        validate_matrix(np.ones(3))
