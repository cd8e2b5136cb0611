"""The console script: `latentid` points at latentid._console, which loads the command line inside a handler, so
a Ctrl-C during the first seconds' imports ends in one line and exit code 130, not a traceback."""

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from latentid import _console


def test_the_console_script_is_the_guarded_entry_point():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["latentid"] == "latentid._console:main"


def test_importing_latentid_loads_neither_torch_nor_the_command_line():
    """What runs before the handler is in place: only the package's own small __init__."""
    code = "import sys, latentid; print(sorted(m for m in ('torch', 'sklearn', 'latentid.cli') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130(monkeypatch, capsys):
    class Interrupted(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "latentid.cli", Interrupted("latentid.cli"))
    with pytest.raises(SystemExit) as exit_info:
        _console.main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "error: interrupted.\n"


def test_the_lazy_package_names_still_import():
    import latentid
    from latentid import SyntheticSpec, read_dataset  # noqa: F401

    assert latentid.SyntheticSpec is SyntheticSpec and latentid.__version__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = latentid.nope
    assert set(latentid.__all__) <= set(dir(latentid))  # tab completion lists the lazy names too


def test_a_warning_is_one_line_without_its_source(monkeypatch, capsys, tmp_path):
    import warnings

    from latentid import cli

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # put back after the test

    def warn(*args, **kwargs):
        warnings.warn("the fit did not converge\n   within 3 iterations", UserWarning, stacklevel=1)

    monkeypatch.setattr("latentid.cli.simulate.save_simulation", warn)
    monkeypatch.setattr(sys, "argv", ["latentid", "simulate", "--samples", "50", "--out", str(tmp_path / "d.npz")])
    with pytest.raises(SystemExit):
        cli.main()
    err = capsys.readouterr().err
    assert "warning: the fit did not converge within 3 iterations\n" in err
    assert "UserWarning" not in err and "warnings.warn" not in err


EXPLAIN = [
    sys.executable,
    "-c",
    "from latentid._console import main; main()",
    "explain",
    "--components",
    "6",
    "--covariance",
    "diag",
]


def test_explain_under_an_ascii_stdout_prints_ascii_marks_instead_of_crashing():
    """PYTHONIOENCODING=ascii (or cp1252) ended explain's table in a 95-line UnicodeEncodeError traceback."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(EXPLAIN, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Level 3" in done.stdout and " ok " in done.stdout and "\n- " in done.stdout


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly_with_141():
    """`latentid explain --json | true` said 'error: Broken pipe. Check the path and its folder.', exit 2."""
    with subprocess.Popen([*EXPLAIN, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        process.stdout.close()  # the reader is gone before a byte is written
        stderr = process.stderr.read()
        assert process.wait(timeout=120) == 141 and stderr == b""


def test_a_broken_pipe_that_is_not_stdout_is_an_error_line(monkeypatch, tmp_path):
    """Every BrokenPipeError was taken for stdout's reader gone, ending the command silently with 141."""
    from typer.testing import CliRunner

    from latentid.cli import app

    def broken(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("latentid.cli.simulate.save_simulation", broken)
    result = CliRunner().invoke(app, ["simulate", "--samples", "50", "--out", str(tmp_path / "d.npz")])
    assert result.exit_code == 2 and "a pipe this command wrote to was closed" in result.stderr


def test_python_dash_m_latentid_is_the_command_line():
    """Where the scripts folder is not on PATH: 'No module named latentid.__main__'. (One start: each takes
    seconds, and the entry point's exit codes are tested above.)"""
    command = [sys.executable, "-m", "latentid", "fit", "--nope"]
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: No such option: --nope"), bad.stderr
