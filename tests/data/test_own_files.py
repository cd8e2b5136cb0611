"""A researcher's own tables: numeric headers, TSV and gzip, other separators, repeated names, one row."""

import numpy as np
import pandas as pd
import pytest

from latentid.data.io import data_suffix, read_dataset
from latentid.data.sources import open_data
from latentid.errors import DataFileError, InvalidDataError, InvalidParameterError

WAVELENGTHS = [400, 450, 500, 550, 600, 650]


def _spectra(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Decimal data under whole-number column names (wavelengths)."""
    return pd.DataFrame(np.random.default_rng(seed).normal(size=(n, len(WAVELENGTHS))), columns=WAVELENGTHS)


def test_whole_numbers_above_decimals_are_the_header_and_a_note_says_how_to_choose(tmp_path):
    frame = _spectra()
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = read_dataset(tmp_path / "d.csv")
    assert data.x.shape == (40, 6)  # not 41: the names are no data row
    np.testing.assert_allclose(data.x, frame.to_numpy(np.float32))
    assert data.x_names == tuple(str(w) for w in WAVELENGTHS)
    (note,) = data.notes
    assert "first row (400, 450, 500, 550, 600, 650) is read as the column names" in note
    assert "--header no" in note and "\n" not in note


def test_header_false_reads_the_first_row_as_data(tmp_path):
    _spectra().to_csv(tmp_path / "d.csv", index=False)
    data = read_dataset(tmp_path / "d.csv", header=False)
    assert data.x.shape == (41, 6) and data.x_names is None and data.notes == ()
    np.testing.assert_allclose(data.x[0], WAVELENGTHS)


def test_numeric_names_above_a_pandas_index_are_a_header_too(tmp_path):
    frame = _spectra()
    frame.to_csv(tmp_path / "d.csv")  # ",400,450,..." then "0,0.12,..."
    data = read_dataset(tmp_path / "d.csv")
    np.testing.assert_allclose(data.x, frame.to_numpy(np.float32))
    assert any("row index and dropped" in note for note in data.notes)


@pytest.mark.parametrize(
    "first",
    [
        "1,0.5,0.25",  # a decimal among them: data
        "0,0,0",  # repeated whole numbers (an all-zero row as R writes it): data
        "1.5,2.5,3.5",
    ],
)
def test_a_first_row_of_data_stays_data(tmp_path, first):
    path = tmp_path / "d.csv"
    path.write_text(first + "\n0.1,0.2,0.3\n0.4,0.5,0.6\n")
    data = read_dataset(path)
    assert data.x.shape == (3, 3) and data.x_names is None and data.notes == ()


def test_whole_numbers_above_whole_numbers_stay_data_with_a_note_when_they_look_like_names(tmp_path):
    counts = np.random.default_rng(0).poisson(3, size=(30, 6))
    pd.DataFrame(counts, columns=WAVELENGTHS).to_csv(tmp_path / "d.csv", index=False)
    data = read_dataset(tmp_path / "d.csv")
    assert data.x.shape == (31, 6)  # as before: counts under counts can be data
    (note,) = data.notes
    assert "first row (400, 450, 500, 550, 600, 650) is read as data" in note and "--header yes" in note
    named = read_dataset(tmp_path / "d.csv", header=True)
    assert named.x.shape == (30, 6) and named.x_names == tuple(str(w) for w in WAVELENGTHS)
    np.savetxt(tmp_path / "plain.csv", counts, delimiter=",", fmt="%d")  # ordinary counts: no note
    assert read_dataset(tmp_path / "plain.csv").notes == ()


def test_header_applies_to_text_tables_only(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((4, 2)))
    with pytest.raises(InvalidParameterError, match="--header applies to CSV and TSV files"):
        read_dataset(tmp_path / "d.npy", header=True)
    with pytest.raises(InvalidParameterError, match="--header applies to CSV and TSV files"):
        open_data("mnist", header=False)


@pytest.mark.parametrize("name", ["d.tsv", "d.csv.gz", "d.tsv.gz", "D.CSV.GZ"])
def test_tsv_and_gzip_compressed_tables(tmp_path, name):
    frame = _spectra().rename(columns=lambda w: f"x{w}").assign(z0=np.arange(40.0))
    sep = "\t" if ".tsv" in name.lower() else ","
    frame.to_csv(tmp_path / name, sep=sep, index=False, compression="gzip" if name.lower().endswith("gz") else None)
    data = read_dataset(tmp_path / name)
    np.testing.assert_allclose(data.x, frame.drop(columns="z0").to_numpy(np.float32))
    assert data.z.shape == (40, 1)


def test_data_suffix_keeps_the_compression():
    assert data_suffix("a/b.CSV.gz") == ".csv.gz"
    assert data_suffix("my.data.csv") == ".csv"
    assert data_suffix("x.gz") == ".gz"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("d.txt", "rename it .csv if its columns are separated by commas, .tsv if by tabs"),
        ("d.xlsx", "Save the sheet as CSV"),
        ("d.npy.gz", "Decompress it first"),
    ],
)
def test_an_unread_format_says_how_to_convert(tmp_path, name, hint):
    (tmp_path / name).write_text("1,2\n3,4\n")
    with pytest.raises(DataFileError, match="unknown data format") as info:
        read_dataset(tmp_path / name)
    assert hint in str(info.value) and ".tsv" in str(info.value) and "\n" not in str(info.value)


def test_semicolons_and_decimal_commas_are_named(tmp_path):
    path = tmp_path / "d.csv"
    _spectra().to_csv(path, sep=";", decimal=",", index=False)
    with pytest.raises(
        DataFileError, match=r"separated by semicolons and decimal commas, where a \.csv file has"
    ) as info:
        read_dataset(path)
    assert "sep=';', decimal=','" in str(info.value) and "\n" not in str(info.value)
    path.write_text("1;2;3\n4;5;6\n")  # headerless, decimal points
    with pytest.raises(DataFileError, match="separated by semicolons, where"):
        read_dataset(path)


@pytest.mark.parametrize(
    ("name", "sep", "message"),
    [
        ("d.csv", "\t", "separated by tabs, where a .csv file has commas; rename it .tsv"),
        ("d.tsv", ",", "separated by commas, where a .tsv file has tabs; rename it .csv"),
        ("d.csv", " ", "separated by spaces"),
    ],
)
def test_another_separator_is_named(tmp_path, name, sep, message):
    np.savetxt(tmp_path / name, np.arange(12.0).reshape(4, 3) / 7, delimiter=sep)
    with pytest.raises(DataFileError) as info:
        read_dataset(tmp_path / name)
    assert message in str(info.value)


def test_commas_inside_a_tsv_are_not_taken_for_separators(tmp_path):
    frame = pd.DataFrame({"a, first": [0.5, 1.5], "b": [2.5, 3.5]})
    frame.to_csv(tmp_path / "d.tsv", sep="\t", index=False)
    assert read_dataset(tmp_path / "d.tsv").x_names == ("a, first", "b")


def test_a_name_given_twice_is_refused_in_one_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,a,z0,z0\n1,2,3,4,5\n6,7,8,9,1\n")
    with pytest.raises(InvalidDataError, match=r"d\.csv: the header names column\(s\) a, z0 more than once") as info:
        read_dataset(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz"])
def test_one_row_is_read_where_one_row_is_enough(tmp_path, suffix):
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        path.write_text("x0,x1,z0\n1.5,2.5,3\n")
    elif suffix == ".npy":
        np.save(path, np.ones((1, 2)))
    else:
        np.savez(path, x=np.ones((1, 2)), z=np.ones((1, 1)), u=np.ones(1))
    with pytest.raises(InvalidDataError, match="needs at least 2 samples; got 1 sample"):
        read_dataset(path)
    data = read_dataset(path, min_samples=1)
    assert data.x.shape == (1, 2)
    assert open_data(str(path), min_samples=1).x.shape == (1, 2)


def test_names_written_as_decimals_are_read_as_names(tmp_path):
    # pandas writes float column names as '400.0': whole numbers still, so names (they were a silent data row).
    frame = _spectra()
    frame.set_axis([float(w) for w in WAVELENGTHS], axis=1).to_csv(tmp_path / "d.csv", index=False)
    data = read_dataset(tmp_path / "d.csv")
    assert data.x.shape == (40, 6) and "read as the column names" in data.notes[0]


@pytest.mark.parametrize("header", ["no", "auto", 1])
def test_header_takes_true_false_or_none_only(tmp_path, header):
    _spectra().to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InvalidParameterError, match=r"^header must be True, False or None \(guess\)\. Got "):
        read_dataset(tmp_path / "d.csv", header=header)


def test_header_false_on_a_row_of_names_says_so(tmp_path):
    _spectra().set_axis(list("abcdef"), axis=1).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InvalidDataError, match=r"first row \(a, b, c, d, e, f\) is text, but --header no reads it"):
        read_dataset(tmp_path / "d.csv", header=False)


def test_a_column_that_numbers_the_rows_is_pointed_out(tmp_path):
    frame = _spectra().set_axis(list("abdefg"), axis=1)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame.to_csv(tmp_path / "d.csv", index=False)
    data = read_dataset(tmp_path / "d.csv")
    assert data.x.shape == (40, 7)  # still x: the user decides
    (note,) = data.notes
    assert "column(s) id number the rows" in note and "pass --x-columns a,b,d,e,f,g" in note
    assert read_dataset(tmp_path / "d.csv", x_columns="a,b,d,e,f,g").x.shape == (40, 6)
    _spectra().set_axis(list("abdefg"), axis=1).to_csv(tmp_path / "plain.csv", index=False)
    assert not any("number the rows" in note for note in read_dataset(tmp_path / "plain.csv").notes)


def test_the_x_note_shortens_a_numbered_family_only_when_it_is_in_order(tmp_path):
    rng = np.random.default_rng(0)
    shuffled = pd.DataFrame(rng.normal(size=(30, 4)), columns=["x1", "x0", "x2", "x3"])
    shuffled["c"] = rng.integers(0, 2, 30)  # labels, so that a note lists what x is
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    (note,) = read_dataset(tmp_path / "shuffled.csv").notes
    assert "x is 4 column(s): x1, x0, x2, x3;" in note  # 'x1..x3' would hide x0
    shuffled[["x0", "x1", "x2", "x3", "c"]].to_csv(tmp_path / "ordered.csv", index=False)
    (note,) = read_dataset(tmp_path / "ordered.csv").notes
    assert "x is 4 column(s): x0..x3;" in note


def test_a_long_numbered_family_out_of_order_names_where_the_order_breaks(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"x{i}" for i in range(1, 40)] + ["x0"]
    frame = pd.DataFrame(rng.normal(size=(30, 40)), columns=names)
    frame["c"] = rng.integers(0, 2, 30)
    frame.to_csv(tmp_path / "d.csv", index=False)
    (note,) = read_dataset(tmp_path / "d.csv").notes
    assert "x is 40 column(s): x1..x39, x0;" in note


@pytest.mark.parametrize("index", [False, True])
def test_pandas_default_names_are_the_header_above_whole_numbers_too(tmp_path, index):
    """DataFrame(counts).to_csv() writes '0,1,2,3,4' (',0,1,...' with the index) above whole numbers: it was
    fitted as a data row without a word, or, with the index, refused as NaN."""
    counts = np.random.default_rng(1).poisson(5, size=(50, 5))
    pd.DataFrame(counts).to_csv(tmp_path / "d.csv", index=index)
    data = read_dataset(tmp_path / "d.csv")
    np.testing.assert_array_equal(data.x, counts.astype(np.float32))
    assert any("names pandas gives columns by default" in note and "--header no" in note for note in data.notes)
    if not index:
        assert read_dataset(tmp_path / "d.csv", header=False).x.shape[0] == 51


def test_rising_decimals_outside_every_column_are_noted_as_a_possible_header(tmp_path):
    spectra = np.random.default_rng(2).normal(size=(40, 5))
    names = ",".join(f"{400 + 0.5 * i:.1f}" for i in range(5))
    (tmp_path / "d.csv").write_text(names + "\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in spectra))
    data = read_dataset(tmp_path / "d.csv")
    assert data.x.shape == (41, 5)  # read as data, as a row of decimals can be
    (note,) = data.notes
    assert "is read as data, though its rising numbers lie outside the range" in note and "--header yes" in note


def test_a_csv_with_a_header_of_names_is_parsed_once_as_numbers(tmp_path, monkeypatch):
    """The header guess read the whole file as text first (every cell a Python string: 1.9 GB against 0.9 GB for a
    million rows of 20 columns, then a second parse, and pandas' 'mixed types' warning on large files)."""
    path = tmp_path / "d.csv"
    pd.DataFrame(np.arange(60.0).reshape(20, 3) / 7, columns=["a", "b", "f"]).to_csv(path, index=False)
    whole_file_reads = []
    real = pd.read_csv

    def counting(*args, **kwargs):
        if kwargs.get("nrows") is None:
            whole_file_reads.append(kwargs.get("header", "infer"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counting)
    data = read_dataset(path)
    assert data.x.shape == (20, 3) and list(data.x_names) == ["a", "b", "f"]
    assert whole_file_reads == ["infer"]


def test_header_names_after_a_comma_and_space_are_read_without_the_space(tmp_path):
    """np.savetxt(delimiter=', ') writes 'x0, x1, z0, c': ' z0' and ' c' were not the ground truth, so the true
    latents and labels were fitted as features, and --x-columns x1 was 'no column' beside a listed ' x1'."""
    rng = np.random.default_rng(0)
    x, z, c = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)), rng.integers(0, 3, size=30)
    path = tmp_path / "spaced.csv"
    np.savetxt(path, np.column_stack([x, z, c]), delimiter=", ", header="x0, x1, z0, z1, c", comments="")
    data = read_dataset(path)
    assert list(data.x_names) == ["x0", "x1"] and data.z.shape == (30, 2) and data.c.shape == (30,)
    np.testing.assert_allclose(data.z, z, rtol=1e-6)
    assert read_dataset(path, x_columns="x1").x.shape == (30, 1)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_text_table_not_in_utf8_says_how_to_convert_it(tmp_path, encoding):
    """A raw UnicodeDecodeError, with no word of what to do."""
    path = tmp_path / "d.csv"
    path.write_text("caf\u00e9,b\n1,2\n3,4\n", encoding=encoding)
    with pytest.raises(DataFileError, match=r"d\.csv: not UTF-8 text \(byte 0x[0-9a-f]{2} is no UTF-8\)\. Save it as"):
        read_dataset(path)


def test_a_comment_line_at_the_top_of_a_csv_is_named(tmp_path):
    """np.savetxt's default header ('# x0,x1') made a feature named '# x0'; a comment line made 'column(s) #
    generated by ... are not numeric'."""
    path = tmp_path / "commented.csv"
    np.savetxt(path, np.arange(12.0).reshape(4, 3), delimiter=",", header="x0,x1,x2")
    with pytest.raises(DataFileError, match=r"its first line is a comment \('# x0,x1,x2'\).*comments=''"):
        read_dataset(path)
