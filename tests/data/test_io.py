import threading

import numpy as np
import pandas as pd
import pytest

from latentid.data.io import GROUND_TRUTH_COLUMN, read_dataset, validate_matrix
from latentid.data.sources import open_data
from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError

try:
    import pyarrow  # noqa: F401

    HAS_PARQUET = True
except ImportError:
    try:
        import fastparquet  # noqa: F401

        HAS_PARQUET = True
    except ImportError:
        HAS_PARQUET = False
PARQUET_REASON = "reading Parquet needs pyarrow or fastparquet, and neither is installed"


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
        pd.DataFrame(x, columns=["a", "b", "d"]).to_csv(path, index=False)
    else:
        pd.DataFrame(x, columns=["a", "b", "d"]).assign(label=["p", "q", "r", "s"]).to_parquet(path)
    np.testing.assert_allclose(read_dataset(path).x, x.astype(np.float32))


def test_csv_without_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    assert read_dataset(path).x.shape == (3, 2)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([[1.0, 2.0], [3.0, np.nan]]), r"first at row 1, column 1 \(counted from 0\)"),
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


# Named columns of CSV and Parquet files (issue 13): ground truth and a row index are not x.


def _frame(n: int = 8, seed: int = 0) -> pd.DataFrame:
    """x0..x2 features, then z1 before z0 (index order must win over file order) and labels c."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    return frame.assign(z1=rng.normal(size=n), z0=rng.normal(size=n), c=np.arange(n) % 3)


def _write(frame: pd.DataFrame, path, index: bool = False):
    if path.suffix == ".csv":
        frame.to_csv(path, index=index)
    else:
        frame.to_parquet(path, index=index)
    return path


SUFFIXES = [".csv", pytest.param(".parquet", marks=pytest.mark.skipif(not HAS_PARQUET, reason=PARQUET_REASON))]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_ground_truth_columns_are_split_off(tmp_path, suffix):
    frame = _frame()
    data = read_dataset(_write(frame, tmp_path / f"d{suffix}"))
    np.testing.assert_allclose(data.x, frame[["x0", "x1", "x2"]].to_numpy(np.float32))
    np.testing.assert_allclose(data.z, frame[["z0", "z1"]].to_numpy(np.float32))
    assert data.c.dtype == np.int64 and data.c.shape == (8,)
    np.testing.assert_array_equal(data.c, frame["c"])
    assert data.u is None
    assert len(data.notes) == 1 and "z0, z1 read as the true latents z" in data.notes[0]
    assert "c as labels" in data.notes[0] and "\n" not in data.notes[0]


def test_pandas_index_column_is_dropped(tmp_path):
    frame = _frame().drop(columns=["z0", "z1", "c"])
    path = _write(frame, tmp_path / "d.csv", index=True)
    assert path.read_text().startswith(",x0,x1,x2")
    data = read_dataset(path)
    np.testing.assert_allclose(data.x, frame.to_numpy(np.float32))
    assert "unnamed first column read as the row index and dropped" in data.notes[0]


def test_parquet_index_level_column_is_dropped(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="writing a Parquet file without pandas' metadata needs pyarrow")
    import pyarrow.parquet as pq

    frame = _frame().drop(columns=["z0", "z1", "c"]).set_index(pd.Index(np.arange(8) * 7))
    table = pa.Table.from_pandas(frame, preserve_index=True).replace_schema_metadata(None)
    pq.write_table(table, tmp_path / "d.parquet")  # without pandas' metadata the index comes back as a column
    assert "__index_level_0__" in pd.read_parquet(tmp_path / "d.parquet").columns
    data = read_dataset(tmp_path / "d.parquet")
    np.testing.assert_allclose(data.x, frame.to_numpy(np.float32))
    assert "row index and dropped" in data.notes[0]


def test_a_parquet_file_s_named_pandas_index_is_dropped_with_a_note(tmp_path):
    pytest.importorskip("pyarrow")
    frame = _frame().drop(columns=["z0", "z1", "c"])
    frame.set_index("x0").to_parquet(tmp_path / "d.parquet")  # pandas restores x0 as the index, out of the columns
    data = read_dataset(tmp_path / "d.parquet")
    np.testing.assert_allclose(data.x, frame.drop(columns=["x0"]).to_numpy(np.float32))
    assert any("the file's pandas index x0 read as the row index and dropped" in note for note in data.notes)


def test_a_parquet_feature_stored_as_text_is_refused_and_an_id_column_dropped(tmp_path):
    """A text column of numbers is a feature mistyped: it shrank x with a note only, where a CSV refuses it."""
    pytest.importorskip("pyarrow")
    frame = _frame().drop(columns=["z0", "z1", "c"])
    frame.assign(x0=frame["x0"].astype(str)).to_parquet(tmp_path / "typed.parquet")
    with pytest.raises(InvalidDataError, match=r"x0 hold numbers stored as text.*pandas.to_numeric"):
        read_dataset(tmp_path / "typed.parquet")
    others = {
        "name": [f"s{i}" for i in range(len(frame))],  # an id column of text
        "code": [f"{i:05d}" for i in range(len(frame))],  # zero-padded ids read as numbers, but ids
        "flag": np.arange(len(frame)) % 2 == 0,  # bool and dates are no text at all
        "when": pd.date_range("2020-01-01", periods=len(frame)),
    }
    for name, column in others.items():  # dropped, as before, with a note
        frame.assign(**{name: column}).to_parquet(tmp_path / f"{name}.parquet")
        data = read_dataset(tmp_path / f"{name}.parquet")
        np.testing.assert_allclose(data.x, frame.to_numpy(np.float32))
        assert any(f"non-numeric column(s) {name} ignored" in note for note in data.notes), name


def test_one_label_column_per_facet_and_u(tmp_path):
    frame = _frame().drop(columns=["c"]).assign(**{"c_1": [1, 1, 0, 0, 1, 1, 0, 0], "c_0": np.arange(8) % 4})
    frame = frame.assign(**{"u[0]": np.arange(8.0)})
    data = read_dataset(_write(frame, tmp_path / "d.csv"))
    assert data.x.shape == (8, 3) and data.c.shape == (8, 2) and data.u.shape == (8, 1)
    np.testing.assert_array_equal(data.c, frame[["c_0", "c_1"]].to_numpy())


@pytest.mark.parametrize(
    ("name", "role"),
    [("z", "z"), ("z0", "z"), ("z_12", "z"), ("z[3]", "z"), ("c", "c"), ("c1", "c"), ("u_0", "u")],
)
def test_ground_truth_pattern(name, role):
    assert GROUND_TRUTH_COLUMN.fullmatch(name)["role"] == role


@pytest.mark.parametrize("name", ["Z0", "zz", "z0a", "x0", "cost", "u-1", "Unnamed: 0"])
def test_other_names_are_features(name):
    assert GROUND_TRUTH_COLUMN.fullmatch(name) is None


def test_labels_that_are_not_integers_are_refused_with_the_way_out(tmp_path):
    frame = _frame().assign(c=np.linspace(0, 1, 8))
    with pytest.raises(InvalidDataError, match="integer labels.*--x-columns"):
        read_dataset(_write(frame, tmp_path / "d.csv"))


def test_a_short_row_or_fractional_label_is_named_by_its_row(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x0,x1,c\n1,2,3\n4,5\n6,7,8\n")  # row 1 lacks its label
    with pytest.raises(InvalidDataError, match=r"'c' must hold integer labels, but its value at row 1 .* is empty"):
        read_dataset(path)
    path.write_text("x0,x1,c\n1,2,3\n4,5,1.5\n6,7,8\n")
    with pytest.raises(InvalidDataError, match=r"value at row 1 \(counted from 0\) is 1\.5\. Fill in or remove"):
        read_dataset(path)


def test_labels_wrong_on_many_rows_are_counted_and_the_fix_is_to_code_them(tmp_path):
    """A file of fractional labels was told to 'fill in or remove' its row 0, as if one row were wrong."""
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(10, 2)), c=np.arange(10) + 0.5)
    with pytest.raises(InvalidDataError, match=r"10 of its 10 rows do not .* Code the labels as whole numbers"):
        read_dataset(path)


ALL_TRUTH = ("z", "c", "u")


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_ground_truth_a_caller_does_not_read_is_left_out_with_a_note_not_refused(tmp_path, suffix):
    """A fit reads x alone: a NaN in z or a missing label refused the whole file, sending the user to mend
    data the fit never reads. Left out with a note there; still refused by a reader that needs them."""
    rng = np.random.default_rng(0)
    x, z, c = rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), (np.arange(8) % 2).astype(float)
    z[5, 0], c[3] = np.nan, np.nan
    path = tmp_path / f"d{suffix}"
    if suffix == ".npz":
        np.savez(path, x=x, z=z, c=c)
    else:
        pd.DataFrame(np.c_[x, z, c], columns=["x0", "x1", "x2", "z0", "z1", "c"]).to_csv(path, index=False)
    with pytest.raises(InvalidDataError, match="'z' contains 1 NaN"):
        read_dataset(path)
    data = read_dataset(path, unneeded=ALL_TRUTH)
    np.testing.assert_allclose(data.x, x, rtol=1e-6)
    assert data.z is None and data.c is None
    unread = [note for note in data.notes if "left unread" in note]
    assert len(unread) == 2 and "'z' contains 1 NaN" in unread[0] and "'c' must hold integer labels" in unread[1]
    with pytest.raises(InvalidDataError, match="'c' must hold integer labels"):
        read_dataset(path, unneeded=("z", "u"))  # --aux c reads c


def test_a_column_named_c_holding_fractions_is_refused_even_where_labels_go_unread(tmp_path):
    """Columns a, b, c, d: c is a feature by its values. Left out as unread labels, it would leave x silently."""
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 4)), columns=list("abcd"))
    with pytest.raises(InvalidDataError, match="'c' must hold integer labels.*--x-columns"):
        read_dataset(_write(frame, tmp_path / "d.csv"), unneeded=ALL_TRUTH)


def test_columns_left_unread_are_not_also_said_to_be_read_as_ground_truth(tmp_path):
    """'column(s) c read as labels, not as x' came before "'c' left unread": one of the two was untrue."""
    x, z = np.random.default_rng(0).normal(size=(20, 2)), np.random.default_rng(1).normal(size=(20, 2))
    z[3, 0] = np.nan
    frame = pd.DataFrame(np.c_[x, z], columns=["x0", "x1", "z0", "z1"]).assign(c=np.arange(20) % 2)
    notes = " ".join(read_dataset(_write(frame, tmp_path / "d.csv"), unneeded=ALL_TRUTH).notes)
    assert "c read as labels, not as x" in notes and "z0, z1 read as" not in notes and "'z' left unread" in notes


def test_labels_with_a_typo_or_beside_an_x_the_user_chose_are_labels_left_unread(tmp_path):
    """Not a feature by its values: one 1.5 among whole labels, or any c once --x-columns has chosen x."""
    rng = np.random.default_rng(0)
    typo = pd.DataFrame(rng.normal(size=(20, 2)), columns=["a", "b"]).assign(c=np.r_[1.5, np.arange(19) % 2])
    data = read_dataset(_write(typo, tmp_path / "typo.csv"), unneeded=ALL_TRUTH)
    assert data.c is None and data.x.shape == (20, 2)
    assert any(note.startswith(f"{tmp_path / 'typo.csv'}: 'c' left unread") for note in data.notes)
    fractions = pd.DataFrame(rng.normal(size=(20, 3)), columns=["a", "b", "c"])
    chosen = read_dataset(_write(fractions, tmp_path / "f.csv"), "a,b", unneeded=ALL_TRUTH)
    assert chosen.c is None and chosen.x.shape == (20, 2)


def test_z_beside_x_and_y_is_a_coordinate_not_a_latent(tmp_path):
    """A table of 3-D points (x, y, z) lost its third coordinate to the true latents."""
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 3)), columns=["x", "y", "z"])
    data = read_dataset(_write(frame, tmp_path / "d.csv"))
    assert data.x.shape == (20, 3) and data.z is None and data.x_names == ("x", "y", "z")
    assert read_dataset(_write(frame.rename(columns={"y": "w"}), tmp_path / "e.csv")).x.shape == (20, 2)


def test_an_npz_array_of_python_objects_is_named_with_the_fix(tmp_path):
    """pandas' .values of text is an object array, which np.load refuses with a message about allow_pickle."""
    path = tmp_path / "d.npz"
    labels = np.array(["a", "b"] * 4, dtype=object)
    np.savez(path, x=np.random.default_rng(0).normal(size=(8, 2)), c=labels, meta=np.array([{"k": 1}], dtype=object))
    with pytest.raises(DataFileError, match=r"array 'c' holds Python objects.*np\.asarray\(values, dtype=str\)"):
        read_dataset(path)
    data = read_dataset(path, unneeded=ALL_TRUTH)
    assert data.c is None and "meta" not in data.extras
    assert any("array 'meta' holds Python objects; left unread" in note for note in data.notes)


def test_class_names_as_labels_are_coded_and_an_empty_one_is_named_by_its_row(tmp_path):
    """String classes in 'c' were refused ('got dtype <U1'), though labels given to evaluate may be strings."""
    names = np.array(["dog", "cat", "cat", "bird", "dog", "bird", "cat", "dog"])
    x = np.random.default_rng(0).normal(size=(8, 3))
    np.savez(tmp_path / "d.npz", x=x, c=names)
    np.testing.assert_array_equal(read_dataset(tmp_path / "d.npz").c, [2, 1, 1, 0, 2, 0, 1, 2])
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2"]).assign(c=names)
    np.testing.assert_array_equal(read_dataset(_write(frame, tmp_path / "d.csv")).c, [2, 1, 1, 0, 2, 0, 1, 2])
    np.savez(tmp_path / "numbers.npz", x=x, c=np.array([str(v) for v in [3, 1, 1, 0, 3, 0, 1, 3]]))
    np.testing.assert_array_equal(read_dataset(tmp_path / "numbers.npz").c, [3, 1, 1, 0, 3, 0, 1, 3])
    (tmp_path / "gap.csv").write_text("x0,x1,c\n1,2,dog\n4,5,\n6,7,cat\n")
    with pytest.raises(InvalidDataError, match=r"'c' must hold .* at row 1 \(counted from 0\) is empty"):
        read_dataset(tmp_path / "gap.csv")


def test_no_x_left_is_one_line_naming_the_file(tmp_path):
    path = _write(_frame()[["z0", "z1", "c"]], tmp_path / "d.csv")
    with pytest.raises(InvalidDataError, match=r"d\.csv: no column is left for x.*--x-columns") as info:
        read_dataset(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_x_columns_by_name_in_the_given_order(tmp_path, suffix):
    frame = _frame()
    path = _write(frame, tmp_path / f"d{suffix}")
    data = read_dataset(path, x_columns="x2, x0")
    np.testing.assert_allclose(data.x, frame[["x2", "x0"]].to_numpy(np.float32))
    assert data.z.shape == (8, 2) and data.c is not None  # still recognised among the others
    assert "x1 ignored" in data.notes[0]


def test_x_columns_can_take_a_ground_truth_name(tmp_path):
    frame = _frame()
    data = read_dataset(_write(frame, tmp_path / "d.csv"), x_columns="x0,z1")
    np.testing.assert_allclose(data.x, frame[["x0", "z1"]].to_numpy(np.float32))
    np.testing.assert_allclose(data.z, frame[["z0"]].to_numpy(np.float32))


def test_x_columns_by_position_and_range_in_a_headerless_file(tmp_path):
    x = np.arange(40.0).reshape(8, 5)
    path = tmp_path / "d.csv"
    np.savetxt(path, x, delimiter=",")
    data = read_dataset(path, x_columns="4,0-2")
    np.testing.assert_allclose(data.x, x[:, [4, 0, 1, 2]])
    assert data.z is None and data.c is None
    assert "x is column(s) 4, 0, 1, 2" in data.notes[0] and "3 ignored" in data.notes[0]


def test_headerless_csv_is_all_x_without_a_note(tmp_path):
    x = np.arange(24.0).reshape(8, 3)
    path = tmp_path / "d.csv"
    np.savetxt(path, x, delimiter=",")
    data = read_dataset(path)
    np.testing.assert_allclose(data.x, x)
    assert data.z is None and data.notes == ()


@pytest.mark.parametrize(
    ("x_columns", "match"),
    [
        ("x0,nope", r"--x-columns: no column 'nope' in .*d\.csv \(its columns: x0, x1, x2"),
        ("0-99", r"position 99 is past the last column of .*d\.csv \(positions 0-"),
        ("3-1", "the range '3-1' runs backwards; write it 1-3"),
        ("x0,0", "x0 more than once"),
        (" ", "--x-columns is empty"),
    ],
)
def test_bad_x_columns_are_one_line(tmp_path, x_columns, match):
    path = _write(_frame(), tmp_path / "d.csv")
    with pytest.raises(InvalidParameterError, match=match) as info:
        read_dataset(path, x_columns=x_columns)
    assert "\n" not in str(info.value)


def test_x_columns_only_for_tables(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)))
    np.save(tmp_path / "d.npy", np.ones((4, 2)))
    for name in ("d.npz", "d.npy"):
        with pytest.raises(InvalidParameterError, match="--x-columns applies to CSV and Parquet files"):
            read_dataset(tmp_path / name, x_columns="0")
    with pytest.raises(InvalidParameterError, match="--x-columns applies to CSV and Parquet files"):
        open_data("mnist", x_columns="0")


def test_open_data_passes_x_columns(tmp_path):
    frame = _frame()
    data = open_data(str(_write(frame, tmp_path / "d.csv")), x_columns="x1")
    np.testing.assert_allclose(data.x, frame[["x1"]].to_numpy(np.float32))


def test_an_array_file_can_opt_out_of_ground_truth_names(tmp_path):
    """Learned latents saved as a CSV with columns z0, z1 (and pandas' index) are one array, not z."""
    frame = _frame()[["z0", "z1"]]
    data = read_dataset(_write(frame, tmp_path / "latents.csv", index=True), ground_truth=False)
    np.testing.assert_allclose(data.x, frame.to_numpy(np.float32))
    assert data.z is None


def test_an_extra_column_is_named_in_the_note_about_x(tmp_path):
    frame = pd.DataFrame(np.arange(40.0).reshape(8, 5), columns=["x0", "x1", "x2", "x3", "sample_id"])
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = read_dataset(tmp_path / "d.csv")
    assert data.x.shape == (8, 5)
    assert data.notes == (
        f"{tmp_path / 'd.csv'}: x is 5 column(s): x0..x3 and sample_id (use --x-columns to choose x yourself)",
    )
    # One numbered family and nothing else to say: no note.
    frame.drop(columns="sample_id").to_csv(tmp_path / "clean.csv", index=False)
    assert read_dataset(tmp_path / "clean.csv").notes == ()


def test_the_note_says_what_x_is_beside_the_ground_truth(tmp_path):
    frame = pd.DataFrame(np.arange(40.0).reshape(8, 5), columns=["x0", "x1", "x2", "z0", "c"])
    frame.to_csv(tmp_path / "d.csv", index=False)
    (note,) = read_dataset(tmp_path / "d.csv").notes
    assert "x is 3 column(s): x0..x2; column(s) z0 read as the true latents z and c as labels" in note


def test_a_data_file_given_as_one_array_is_refused(tmp_path):
    frame = pd.DataFrame(np.arange(40.0).reshape(8, 5), columns=["x0", "x1", "x2", "z0", "z1"])
    frame.to_csv(tmp_path / "d.csv")
    with pytest.raises(InvalidDataError, match=r"d.csv: looks like a data file, not one array: .*\(z0, z1\)"):
        read_dataset(tmp_path / "d.csv", ground_truth=False)
    # Learned latents whose columns are named z0, z1 (and a pandas index) are one array.
    frame[["z0", "z1"]].to_csv(tmp_path / "z.csv")
    np.testing.assert_allclose(read_dataset(tmp_path / "z.csv", ground_truth=False).x, frame[["z0", "z1"]].to_numpy())


def test_values_beyond_float32_are_named_as_such_not_as_nan():
    x = np.ones((4, 3))
    x[2, 1] = 1e39  # finite in float64, inf once cast
    expected = r"beyond the range of float32 \(e\.g\. 1e\+39 at row 2, column 1"
    with pytest.raises(InvalidDataError, match=expected) as info:
        validate_matrix(x)
    assert "NaN" not in str(info.value) and "\n" not in str(info.value)
    assert validate_matrix(x, dtype=np.float64)[2, 1] == 1e39  # the float64 readers keep it


def test_variation_that_float32_rounds_away_is_refused_not_fitted():
    x = np.random.default_rng(0).normal(size=(500, 3))
    np.testing.assert_allclose(validate_matrix(x + 1e4), x + 1e4, atol=1e-3)  # float32 keeps this: accepted
    shifted = x.copy()
    shifted[:, 2] += 1e8  # 1e8 + N(0, 1) rounds to a handful of values in float32
    with pytest.raises(InvalidDataError, match=r"column 2 .* finer than float32 keeps.*Subtract each column's mean"):
        validate_matrix(shifted)
    assert validate_matrix(shifted, dtype=np.float64)[0, 2] == shifted[0, 2]  # the float64 readers keep it
    counts = np.arange(20, dtype=np.int64).reshape(10, 2) * 1_000_000  # exact in float32: accepted
    np.testing.assert_array_equal(validate_matrix(counts), counts)
    near_constant = x.copy()
    near_constant[:, 0] = 0.126 + 1e-9 * x[:, 0]  # its last digits round away beside N(0, 1) columns: no loss
    validate_matrix(near_constant)
    validate_matrix(shifted[:1], min_samples=1)  # one row has no spread to lose


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_with_a_header_and_no_rows_says_so(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    frame = pd.DataFrame({"x0": pd.Series(dtype=float), "x1": pd.Series(dtype=float)})
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    with pytest.raises(InvalidDataError, match=r"has a header \(x0, x1\) but no data rows\.$"):
        read_dataset(path)


def test_missing_values_in_a_frame_are_named_as_missing():
    frame = pd.DataFrame(np.random.default_rng(0).random((6, 3)), columns=["a", "b", "c"]).astype(object)
    frame.iloc[3, 1] = pd.NA
    frame.iloc[4, 2] = None
    with pytest.raises(InvalidDataError, match=r"^X contains 2 missing value\(s\) \(None, pd.NA\), first at row 3,"):
        validate_matrix(frame)


def test_a_pipe_given_as_data_is_refused_rather_than_waited_on(tmp_path):
    import os

    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    # Before the check, each open blocked until a writer came: writers come after 5 s, so a regression fails
    # (the reads then find an empty file) rather than hanging the suite.
    done = threading.Event()
    writer = threading.Thread(target=_keep_opening_for_writing, args=(pipe, done), daemon=True)
    writer.start()
    try:
        with pytest.raises(DataFileError, match="is not a regular file"):
            read_dataset(pipe)
    finally:
        done.set()


def _keep_opening_for_writing(pipe, done: threading.Event) -> None:
    import os

    done.wait(5.0)
    while not done.is_set():
        try:
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader waiting now
            pass
        done.wait(0.05)


def test_a_column_empty_in_every_row_is_named_as_a_trailing_delimiter(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("1,2,3,\n4,5,6,\n7,8,9,\n")  # every line ends in a comma: a fourth, empty column
    with pytest.raises(InvalidDataError, match=r"Column 3 has no value in any row: a delimiter at the end"):
        read_dataset(path)
    x = np.ones((4, 3))
    x[:, 0] = np.inf  # an in-memory column of inf is no CSV's trailing delimiter
    with pytest.raises(InvalidDataError, match=r"column 0 \(counted from 0\)\. Remove or impute them first\.$"):
        validate_matrix(x, "X")
    x = np.ones((4, 3))
    x[1, 2] = np.nan  # a value missing here and there is not that
    with pytest.raises(InvalidDataError, match=r"column 2 \(counted from 0\)\. Remove or impute them first\.$"):
        validate_matrix(x)


def test_an_empty_path_is_named_as_empty_not_as_the_current_folder(tmp_path, monkeypatch):
    """--data "" read as Path(".") and was refused as '<cwd>: is a folder, not a data file'."""
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        with pytest.raises(DataFileError, match="^The data path is empty"):
            read_dataset(empty)


def test_an_npz_member_larger_than_memory_is_refused_from_its_header(tmp_path):
    """A 1 MB .npz that inflates to 1 GiB took 3 GB before any check; its header says its size up front."""
    import zipfile

    from numpy.lib import format as npy_format

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("x.npy", "w") as member:
        npy_format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (1 << 40, 8)})
        member.write(bytes(1 << 16))
    with pytest.raises(
        InvalidParameterError, match=r"bomb.npz: array 'x' \(shape \(1099511627776, 8\), float64\) needs"
    ):
        read_dataset(path)


@pytest.mark.skipif(not HAS_PARQUET, reason=PARQUET_REASON)
def test_a_parquet_file_larger_than_memory_is_refused_from_its_footer(tmp_path, monkeypatch):
    """A 600 KB Parquet file of 2 x 2^26 constant cells peaked at 5.3 GB before any check."""
    import latentid._memory

    path = _write(_frame(n=1000), tmp_path / "d.parquet")
    monkeypatch.setattr(latentid._memory, "available_bytes", lambda: 100_000)  # 1000 x 6 cells need about 240 kB
    with pytest.raises(InvalidParameterError, match=r"d.parquet: 1,000 rows x 6 columns needs about"):
        read_dataset(path)


@pytest.mark.parametrize("suffix", [".csv.gz", ".tsv.gz"])
def test_a_text_table_wider_than_a_million_columns_is_refused_before_pandas_reads_it(tmp_path, suffix):
    """A 194 KB .csv.gz of one 50-million-column line took 9 GB, then ended in std::bad_alloc (signal 6); a .tsv
    was split into a million strings a line before the check."""
    import gzip

    path = tmp_path / f"wide{suffix}"
    sep = b"," if suffix == ".csv.gz" else b"\t"
    with gzip.open(path, "wb") as handle:
        handle.write((b"0" + sep) * 1_000_001 + b"0\n")
    with pytest.raises(DataFileError, match=r"a line of 1,000,002 columns; latentid reads text tables of at most"):
        read_dataset(path)


def test_an_npz_stored_as_it_is_needs_less_memory_to_read_than_a_compressed_one(tmp_path, monkeypatch):
    """simulate writes savez (stored): 1.2 copies at peak. Counted as 3, like a compressed member, such files that
    the machine reads comfortably were refused."""
    import latentid._memory

    x = np.random.default_rng(0).normal(size=(1000, 4))
    np.savez(tmp_path / "stored.npz", x=x)
    np.savez_compressed(tmp_path / "compressed.npz", x=x)
    monkeypatch.setattr(latentid._memory, "available_bytes", lambda: 2 * x.nbytes)
    assert read_dataset(tmp_path / "stored.npz").x.shape == (1000, 4)
    with pytest.raises(InvalidParameterError, match="compressed.npz: array 'x'"):
        read_dataset(tmp_path / "compressed.npz")


def test_the_npz_memory_check_counts_the_arrays_already_read(tmp_path, monkeypatch):
    """Each array was checked against the memory alone, while every one read is kept: several large arrays
    passed each check together."""
    import latentid._memory

    x = np.random.default_rng(0).normal(size=(1000, 4))  # 32,000 bytes, as each array below
    np.savez(tmp_path / "many.npz", x=x, a=x, b=x, c=x)
    monkeypatch.setattr(latentid._memory, "available_bytes", lambda: 70_000)  # 1.5 copies of one fit, not more
    with pytest.raises(InvalidParameterError, match=r"many.npz: array '(a|b|c)'"):
        read_dataset(tmp_path / "many.npz")


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_text_table_larger_than_memory_is_refused_from_its_size(tmp_path, monkeypatch, suffix):
    """A 6 MB .csv.gz of 3.2 GB of short rows peaked at 20 GB in pandas before any check; a gzip file's text size
    is in its trailer."""
    import gzip

    import latentid._memory

    text = b"x0,x1\n" + b"0.1,0.2\n" * 1000  # 8,006 bytes
    path = tmp_path / f"d{suffix}"
    path.write_bytes(gzip.compress(text) if suffix == ".csv.gz" else text)
    monkeypatch.setattr(latentid._memory, "available_bytes", lambda: 50_000)  # 7 x 8,006 does not fit
    with pytest.raises(InvalidParameterError, match=rf"d{suffix}: 8,006 bytes of text needs about"):
        read_dataset(path)


def test_a_data_file_replaced_after_it_was_read_is_not_hashed_as_the_data_read(tmp_path):
    """run.json recorded the sha256 of the file found when the fit began, after x was read: a file replaced in
    between (simulate --force, an atomic mv) gave a model fitted on one file the hash of another, which later
    evaluate --run and --resume accepted as its data."""
    import os

    from latentid.data.provenance import data_provenance, file_sha256
    from latentid.errors import DataFileError

    path, other = tmp_path / "d.npz", tmp_path / "other.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(20, 3)).astype(np.float32))
    np.savez(other, x=rng.normal(size=(20, 3)).astype(np.float32))
    data = read_dataset(path)
    assert data_provenance(data)["sha256"] == file_sha256(path)  # unchanged: hashed as before
    os.replace(other, path)  # another command replaced it after the read
    with pytest.raises(DataFileError, match="changed since it was read"):
        data_provenance(data)
    from latentid.runs import fit_run

    with pytest.raises(DataFileError, match="changed since it was read"):
        fit_run("pca", data, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
    assert data_provenance(read_dataset(path))["sha256"] == file_sha256(path)
    # rewritten in place, same inode and size, a value edited: told apart by its time
    data = read_dataset(path)
    arrays = dict(np.load(path))
    arrays["x"][0, 0] += 1.0
    with open(path, "r+b") as file:
        np.savez(file, **arrays)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert (os.stat(path).st_ino, os.stat(path).st_size) == data.file_state[:2]
    with pytest.raises(DataFileError, match="changed since it was read"):
        data_provenance(data)
