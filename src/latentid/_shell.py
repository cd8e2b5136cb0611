"""Paths as a user types them in a shell, for the commands that messages suggest."""

from __future__ import annotations

import os
import shlex


def shell_quoted(path: str | os.PathLike) -> str:
    """``path`` as typed in a shell, in double quotes where it needs quoting (messages quote commands in '')."""
    text = str(path)
    return text if shlex.quote(text) == text else '"' + text.replace('"', '\\"') + '"'
