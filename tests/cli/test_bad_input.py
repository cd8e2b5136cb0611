"""Bad input at the command line, drawn by hypothesis: NaN, inf, empty files, wrong shapes, strings in numeric
columns, huge sizes, negative counts, unknown options. Every one gives exit code 2, one 'error:' line on
stderr, no traceback, and no output file (or run folder) left behind.

The commands run in-process through the console script's own entry point (``latentid.cli.main``), which is
where usage errors (an unparsable number, an unknown option) are made one line."""

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentid.cli import main

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
TRIED = {"count": 0}  # bad inputs tried in this module (printed by the last test)

NOT_A_NUMBER = ["nan", "inf", "-inf", "abc", "", "1e400", "0x1g", "--"]
NEGATIVE = ["-1", "-7", "-1000000"]
HUGE = ["10000000000000", "99999999999999999999999"]


def invoke(*args) -> tuple[int, str, str]:
    """Run ``latentid *args`` in this process; (exit code, stdout, stderr). An exception other than SystemExit
    (a traceback the user would see) fails the test."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["latentid", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    TRIED["count"] += 1
    return code, out.getvalue(), err.getvalue()


def assert_refused(code, out, err, *, leftovers=()):
    assert code == 2, (code, out, err)
    assert err.startswith("error:") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    for path in leftovers:
        assert not Path(path).exists(), f"{path} left behind"


# flag -> values that are bad for it by construction
SIMULATE_BAD = {
    "--samples": NOT_A_NUMBER + NEGATIVE + ["0", "1"] + HUGE,
    "--latent-dim": NOT_A_NUMBER + NEGATIVE + ["0", "11"] + HUGE,
    "--obs-dim": NOT_A_NUMBER + NEGATIVE + ["0", "1"],
    "--components": NOT_A_NUMBER + NEGATIVE + ["0"] + HUGE,
    "--depth": NOT_A_NUMBER + NEGATIVE + ["0"] + HUGE,
    "--noise": NOT_A_NUMBER[:4] + NEGATIVE + ["1e400"],
    "--mean-scale": NOT_A_NUMBER[:4] + NEGATIVE,
    "--slope": ["nan", "inf", "-inf", "abc"],
    "--hidden-width": NOT_A_NUMBER + NEGATIVE + ["0", "1"] + HUGE,
    "--facets": ["", "x", "0:3", "2:0", "2:3,", "-1:2", "2:3:4", "99999999999:2"],
    "--covariance": ["", "spherical", "FULL", "nan"],
    "--activation": ["", "sigmoid2", "leaky_relu ", "0"],
}
FIT_BAD = {
    "--latent-dim": NOT_A_NUMBER + NEGATIVE + ["0", "5"] + HUGE,
    "--components": NOT_A_NUMBER + NEGATIVE + ["0"],
    "--epochs": NOT_A_NUMBER + NEGATIVE + ["0"],
    "--pretrain-epochs": NOT_A_NUMBER + NEGATIVE,
    "--batch-size": NOT_A_NUMBER + NEGATIVE + ["0"],
    "--lr": NOT_A_NUMBER[:4] + NEGATIVE + ["0"],
    "--restarts": NOT_A_NUMBER + NEGATIVE + ["0"],
    "--patience": NOT_A_NUMBER + NEGATIVE,
    "--noise-scale": NOT_A_NUMBER[:4] + NEGATIVE + ["0"],
    "--iw-samples": NOT_A_NUMBER + NEGATIVE + ["0"],
    "--decoder-width": NOT_A_NUMBER + NEGATIVE + ["0"],
    "--decoder-depth": NOT_A_NUMBER + NEGATIVE + ["0"],
    "--encoder-depth": NOT_A_NUMBER + NEGATIVE,
    "--model": ["", "vade2", "PCA", "nan"],
    "--x-columns": ["x9", "99", "3-1", "a,,b", "-1"],
}


def bad_option(table):
    return st.sampled_from(sorted(table)).flatmap(lambda flag: st.tuples(st.just(flag), st.sampled_from(table[flag])))


SHORT = {"vade": ["--epochs", 1, "--pretrain-epochs", 1, "--restarts", 1], "vae": ["--epochs", 1], "pca": []}
UNKNOWN = st.sampled_from(["--bogus", "--latentdim", "--sample", "-z", "--out2", "--force=yes"])


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad-input") / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.standard_normal((60, 4)).astype(np.float32), z=rng.standard_normal((60, 2)))
    return path


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory, data_file):
    out = tmp_path_factory.mktemp("bad-input-run") / "run"
    assert invoke("fit", "--model", "gmm", "--data", data_file, "--out", out)[0] == 0
    return out


@EXAMPLES
@given(options=st.lists(bad_option(SIMULATE_BAD), min_size=1, max_size=2, unique_by=lambda o: o[0]))
def test_simulate_refuses_bad_values(options):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "d.npz"
        args = [part for option in options for part in option]
        assert_refused(*invoke("simulate", "--samples", 20, "--out", out, *args), leftovers=[out])


@EXAMPLES
@given(option=bad_option(FIT_BAD), model=st.sampled_from(["vade", "vae", "pca"]))
def test_fit_refuses_bad_values(data_file, option, model):
    flag, value = option
    if model != "vade" and flag == "--model":
        model = "vade"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        args = ["fit", "--data", data_file, "--out", out, "--quiet", *SHORT[model]]
        args += ["--model", model] if flag != "--model" else []
        args = [a for i, a in enumerate(args) if not (a == flag or (i and args[i - 1] == flag))]
        code, stdout, stderr = invoke(*args, flag, value)
        if code == 0:  # only a value that does not apply to this model may pass: none here should
            pytest.fail(f"fit {model} accepted {flag} {value!r}: {stdout}")
        assert_refused(code, stdout, stderr, leftovers=[out])


@EXAMPLES
@given(command=st.sampled_from(["simulate", "fit", "transform", "predict", "evaluate", "explain"]), flag=UNKNOWN)
def test_unknown_options_are_refused(data_file, gmm_run, command, flag):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "o.npy"
        base = {
            "simulate": ["--out", Path(folder) / "d.npz"],
            "fit": ["--data", data_file, "--out", Path(folder) / "run"],
            "transform": ["--run", gmm_run, "--data", data_file, "--out", out],
            "predict": ["--run", gmm_run, "--data", data_file, "--out", out],
            "evaluate": ["--run", gmm_run, "--data", data_file],
            "explain": [],
        }[command]
        assert_refused(*invoke(command, *base, flag, "1"), leftovers=[out, Path(folder) / "run"])


def _write_bad_data(folder: Path, kind: str, rng: np.random.Generator) -> Path:
    """A data file that is bad in one way: ``kind`` names the way."""
    x = rng.standard_normal((int(rng.integers(5, 40)), 4))
    if kind == "nan":
        x[rng.integers(len(x)), rng.integers(4)] = np.nan
    elif kind == "inf":
        x[rng.integers(len(x)), rng.integers(4)] = rng.choice([np.inf, -np.inf])
    if kind in ("nan", "inf"):
        path = folder / f"d{rng.choice(['.npy', '.csv'])}"
    elif kind == "empty":
        path = folder / f"d{rng.choice(['.npy', '.npz', '.csv', '.parquet'])}"
        path.write_bytes(b"")
        return path
    elif kind == "header-only":
        path = folder / "d.csv"
        path.write_text("x0,x1,x2\n")
        return path
    elif kind == "one-row":
        x = x[:1]
        path = folder / "d.npy"
    elif kind == "1-d":
        x = x[:, 0]
        path = folder / "d.npy"
    elif kind == "3-d":
        x = x.reshape(len(x), 2, 2)
        path = folder / "d.npy"
    elif kind == "strings":
        rows = [",".join(f"{v:.3f}" for v in row) for row in x]
        row = int(rng.integers(len(rows)))
        rows[row] = rows[row].replace(rows[row].split(",")[1], "abc", 1)
        path = folder / "d.csv"
        path.write_text("x0,x1,x2,x3\n" + "\n".join(rows) + "\n")
        return path
    elif kind == "ragged":
        path = folder / "d.csv"
        path.write_text("1,2,3\n4,5\n6,7,8\n9,10,11\n12,13,14\n")
        return path
    elif kind == "wrong-key":
        path = folder / "d.npz"
        np.savez(path, y=x)
        return path
    elif kind == "complex":
        x = x + 1j
        path = folder / "d.npy"
    elif kind == "object":
        x = np.array([["a", "b"]] * 5, dtype=object)
        path = folder / "d.npy"
    else:  # pragma: no cover
        raise AssertionError(kind)
    if path.suffix == ".npy":
        np.save(path, x, allow_pickle=True)
    else:
        np.savetxt(path, x, delimiter=",")
    return path


BAD_DATA = ["nan", "inf", "empty", "header-only", "one-row", "1-d", "3-d", "strings", "ragged", "wrong-key", "complex"]


@EXAMPLES
@given(kind=st.sampled_from([*BAD_DATA, "object"]), seed=st.integers(0, 2**16), model=st.sampled_from(["pca", "vae"]))
def test_fit_refuses_bad_data_files(kind, seed, model):
    with tempfile.TemporaryDirectory() as folder:
        data = _write_bad_data(Path(folder), kind, np.random.default_rng(seed))
        out = Path(folder) / "run"
        code, stdout, stderr = invoke("fit", "--model", model, "--data", data, "--out", out, "--quiet", *SHORT[model])
        assert_refused(code, stdout, stderr, leftovers=[out])
        assert data.name in stderr, stderr


@EXAMPLES
@given(kind=st.sampled_from(["wrong-width", *BAD_DATA]), seed=st.integers(0, 2**16))
def test_transform_predict_and_evaluate_refuse_bad_data(gmm_run, kind, seed):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as folder:
        if kind == "wrong-width":
            data = Path(folder) / "d.npy"
            np.save(data, rng.standard_normal((20, int(rng.choice([1, 3, 5, 50])))))
        else:
            data = _write_bad_data(Path(folder), kind, rng)
        out = Path(folder) / "z.npy"
        for command in ("transform", "predict") if kind != "one-row" else ():  # one row is enough to apply a run
            assert_refused(*invoke(command, "--run", gmm_run, "--data", data, "--out", out), leftovers=[out])
        assert_refused(*invoke("evaluate", "--run", gmm_run, "--data", data))


EXPLAIN_BAD = {k: SIMULATE_BAD[k] for k in ("--latent-dim", "--components", "--depth", "--mean-scale", "--slope")}
EXPLAIN_BAD["--obs-dim"] = NOT_A_NUMBER + NEGATIVE + ["0"]
EVALUATE_BAD = {
    "--split": NOT_A_NUMBER + NEGATIVE + ["0", "1", "1.5"],
    "--seed": ["abc", "", "nan", "1.5"],
}


@EXAMPLES
@given(option=bad_option(EXPLAIN_BAD))
def test_explain_refuses_bad_values(option):
    assert_refused(*invoke("explain", *option))


@EXAMPLES
@given(option=bad_option(EVALUATE_BAD), latents=st.sampled_from(["good", "nan", "inf", "short", "3-d", "empty"]))
def test_evaluate_refuses_bad_values_and_bad_latents(data_file, option, latents):
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "z.npy"
        z = rng.standard_normal((60, 2))
        if latents == "nan":
            z[3, 1] = np.nan
        elif latents == "inf":
            z[7, 0] = np.inf
        elif latents == "short":
            z = z[:30]
        elif latents == "3-d":
            z = z.reshape(60, 2, 1)
        np.save(path, z)
        if latents == "empty":
            path.write_bytes(b"")
        if latents == "good":  # the option alone is bad
            assert_refused(*invoke("evaluate", "--data", data_file, "--latents", path, *option))
        else:  # the latents alone are bad
            assert_refused(*invoke("evaluate", "--data", data_file, "--latents", path, "--no-baselines"))


@pytest.mark.parametrize("flag", ["--components", "--depth", "--latent-dim"])
def test_integers_beyond_any_array_size_are_refused_by_flag(flag):
    code, out, err = invoke("explain", flag, "99999999999999999999999")
    assert_refused(code, out, err)
    assert f"{flag} 99999999999999999999999 is too large" in err


def test_count_of_bad_inputs_tried():
    print(f"bad inputs tried: {TRIED['count']}")
    assert TRIED["count"] >= 7 * 25


@pytest.mark.parametrize("model", ["pca", "fastica", "gmm", "vae"])
def test_fit_refuses_data_whose_rows_are_all_the_same(tmp_path, model):
    data = tmp_path / "d.npy"
    np.save(data, np.tile([[1.0, 2.0, 3.0, 4.0]], (40, 1)))
    out = tmp_path / "run"
    short = SHORT.get(model, [])
    code, stdout, stderr = invoke("fit", "--model", model, "--data", data, "--out", out, "--quiet", *short)
    assert_refused(code, stdout, stderr, leftovers=[out])
