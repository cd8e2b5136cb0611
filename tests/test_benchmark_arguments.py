"""The benchmarks' bad arguments are one argparse error line (exit code 2) before any data are drawn or any model
is fitted, and a benchmark's last stdout line is one strict JSON object. (Their figures are measured by hand.)"""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(BENCHMARKS / script), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=BENCHMARKS)


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        # quality.py ran its whole suite and recorded an 'error' row per fit for a misspelt option
        ("quality.py", ["--set", "vade.nonexistent=1"], "--set vade.nonexistent: not a parameter of VaDE"),
        ("quality.py", ["--set", "vade.epochs=-1"], "'epochs' parameter of VaDE must be an int >= 1"),
        ("quality.py", ["--n-train", "0"], "argument --n-train: must be an int >= 1"),
        ("ivae_comparison.py", ["--jobs", "0"], "argument --jobs: must be an int >= 1"),
        ("restart_ranking.py", ["--restarts", "0"], "argument --restarts: must be an int >= 1"),
        ("vade_quality.py", ["--json", "/nonexistent-folder/x.json"], "its folder does not exist"),
        ("speed.py", ["--repeats", "0"], "argument --repeats: must be an int >= 1"),
        ("mcc_versions.py", ["--methods", "lda"], "argument --methods: invalid choice"),
    ],
)
def test_a_bad_argument_is_one_error_line(script, args, message, monkeypatch, capsys):
    code, stderr = run_here(script, args, monkeypatch, capsys)
    assert code == 2, stderr
    assert message in stderr, stderr


def run_here(script: str, args: list[str], monkeypatch, capsys) -> tuple[object, str]:
    """The script run as ``python script args`` in this process (its imports are loaded already: a new process spent
    3-4 s importing torch before argparse said no): its exit code and stderr. Any exception but the SystemExit of an
    argparse error fails the test, as a traceback would."""
    monkeypatch.setattr(sys, "argv", [script, *args])
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    return exit_info.value.code, capsys.readouterr().err


def test_vade_quality_ends_with_its_json_line(tmp_path):
    """It printed a table and no JSON line at all."""
    done = run(
        "vade_quality.py", "--methods", "pca", "--n-train", "200", "--n-test", "100", "--json", str(tmp_path / "q.json")
    )
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["benchmark"] == "vade_quality" and len(last["rows"]) == 1
    assert json.loads((tmp_path / "q.json").read_text()) == last


def printed_here(script: str, args: list[str], monkeypatch, capsys) -> str:
    """The stdout of the script run as ``python script args`` in this process (vade_quality's test above runs one in
    a process of its own, as a user does)."""
    monkeypatch.setattr(sys, "argv", [script, *args])
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    return capsys.readouterr().out


def test_weak_mcc_conventions_ends_with_its_json_line(monkeypatch, capsys):
    out = printed_here("weak_mcc_conventions.py", ["--n", "400", "--dims", "3", "--scales", "0.2"], monkeypatch, capsys)
    record = json.loads(out.strip().splitlines()[-1])
    pair = record["pairs"][0]
    assert record["m"] == 3 and pair["scale"] == 0.2 and pair["mcc_weak"] > pair["mcc_cca"] > 0


def test_mcc_chance_level_ends_with_its_json_line(monkeypatch, capsys):
    out = printed_here("mcc_chance_level.py", ["--settings", "60x3", "--draws", "3"], monkeypatch, capsys)
    (setting,) = json.loads(out.strip().splitlines()[-1])["settings"]
    assert (setting["rows"], setting["m"]) == (60, 3)
    # per draw: |corr| >= its signed value, and the scored rows' own matching maximises the summed |corr| there
    assert -1 < setting["mcc_strong"] <= setting["abs_fit_rows"] <= setting["scored_rows"] < 1


def test_mcc_chance_level_refuses_a_bad_setting(monkeypatch, capsys):
    code, stderr = run_here("mcc_chance_level.py", ["--settings", "60by3"], monkeypatch, capsys)
    assert code == 2 and "ROWSxDIMS" in stderr
