"""The ``latentid`` command line: thin commands that parse, call the library and print.

Each command lives in its own module and registers itself on ``app``.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="latentid",
    help="Identifiable deep latent variable models without auxiliary information.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Importing the command modules registers their commands on ``app``.
from latentid.cli import demo, evaluate, explain, fit, simulate  # noqa: E402,F401


def main() -> None:
    """Entry point of the ``latentid`` console script."""
    app()
