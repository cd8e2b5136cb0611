"""What the console script does when stdout cannot take its output: a character its encoding lacks is escaped,
and a full disk under a redirect is named as stdout's, not the output file's (whose advice made the user rerun a
command that had succeeded, to be refused as "already exists")."""

import os
import subprocess
import sys

import pytest


def latentid(*args, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "latentid", *args], env=env, text=True, **kwargs)


def test_a_character_stdout_cannot_encode_is_escaped_and_the_command_succeeds(tmp_path):
    out = tmp_path / "donn\u00e9es.npz"
    done = latentid(
        "simulate", "--samples", "50", "--out", str(out), capture_output=True, env={"PYTHONIOENCODING": "ascii"}
    )
    assert done.returncode == 0, done.stderr
    assert "donn\\xe9es.npz" in done.stdout and out.is_file()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_disk_under_stdout_is_named_as_stdouts(tmp_path):
    out = tmp_path / "d.npz"
    with open("/dev/full", "w") as full:
        done = latentid("simulate", "--samples", "50", "--out", str(out), stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2 and out.is_file()
    assert done.stderr.startswith("error: standard output could not be written") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
