"""The ``latentid`` command line: thin commands that parse, call the library and print.

Each command lives in its own module and registers itself on ``app``.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

app = typer.Typer(
    name="latentid",
    help="Identifiable deep latent variable models without auxiliary information.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # help texts are plain: "E[z | x]" and "[default: n]" stay as written
)

# Importing the command modules registers their commands on ``app``.
from latentid.cli import data, demo, evaluate, experiment, explain, fit, simulate  # noqa: E402,F401


def main() -> None:
    """Entry point of the ``latentid`` console script: usage errors and Ctrl-C get one line too."""
    from latentid.cli._common import err_console

    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("error: interrupted. A fit can continue with the same command plus --resume.")
        sys.exit(130)
    except TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = " ".join(message.split())
        err_console.print(f"error: {message} (see 'latentid --help')", markup=False, highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    sys.exit(code or 0)
