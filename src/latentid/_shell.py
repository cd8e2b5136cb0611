"""Paths as a user types them in a shell, for the commands that messages suggest."""

from __future__ import annotations

import os
import re
import shlex


def shell_quoted(path: str | os.PathLike) -> str:
    """``path`` as typed in a shell, in double quotes where it needs quoting (messages quote commands in '')."""
    text = str(path)
    if shlex.quote(text) == text:
        return text
    # inside double quotes a shell still expands $ and backticks and reads backslashes: escape those and quotes
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'
