"""The ``latentid`` console script: imports the command line inside a handler, so that a Ctrl-C in the first
seconds (while torch and scikit-learn load) ends in one line and exit code 130, like one later on."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from latentid.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted.\n")
        sys.exit(130)
    cli_main()
