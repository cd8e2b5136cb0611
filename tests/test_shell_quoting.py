"""Paths in the commands messages suggest read back as the same path when pasted into a shell."""

import shutil
import subprocess

import pytest

from latentid._shell import shell_quoted

PATHS = ["/tmp/plain", "/tmp/my runs/vae 1", "/tmp/cost$HOME/x", "/tmp/a`id`b", "back\\slash dir", 'q"uote d']


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("path", PATHS)
def test_a_quoted_path_reads_back_the_same_in_bash(path):
    """'$HOME' in a path was expanded, backticks ran: a suggested command named another folder."""
    echoed = subprocess.run(["bash", "-c", f"printf %s {shell_quoted(path)}"], capture_output=True, text=True)
    assert echoed.stdout == path
