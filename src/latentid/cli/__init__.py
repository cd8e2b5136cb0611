"""The ``latentid`` command line: thin commands that parse, call the library and print.

Each command lives in its own module and registers itself on ``app``.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

# --help lists the commands in the order of the pipeline, then the studies and the data sets.
COMMAND_ORDER = (
    "simulate",
    "explain",
    "fit",
    "transform",
    "predict",
    "evaluate",
    "demo",
    "experiment",
    "results",
    "report",
    "data",
)


class PipelineOrder(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))


app = typer.Typer(
    name="latentid",
    cls=PipelineOrder,
    help="Identifiable deep latent variable models without auxiliary information.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # help texts are plain: "E[z | x]" and "[default: n]" stay as written
)


def _print_version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("latentid")
        except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
            version = "unknown"
        typer.echo(f"latentid {version}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print latentid's version and exit."
    ),
) -> None:
    """Identifiable deep latent variable models without auxiliary information."""


# Importing the command modules registers their commands on ``app``.
from latentid.cli import data, demo, evaluate, experiment, explain, fit, simulate, study  # noqa: E402,F401


def _subcommands(ctx) -> list[str]:
    """The subcommand names of a click context ('fit', or 'experiment', 'run'), without the program's name,
    so that an error points to the --help of the command whose flags were wrong."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    return [name for name in names if name]


def main() -> None:
    """Entry point of the ``latentid`` console script: usage errors and Ctrl-C get one line too."""
    from latentid._warnings import show_warnings_on_one_line
    from latentid.cli._common import err_console

    show_warnings_on_one_line()
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("error: interrupted. A fit can continue with the same command plus --resume.")
        sys.exit(130)
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `latentid` (or `latentid data`): the help, no error
            typer.echo(exc.format_message())
            sys.exit(0)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = " ".join(message.split()).replace("Value error, ", "")  # a parser's own ValueError, as is
        where = " ".join(["latentid", *_subcommands(getattr(exc, "ctx", None))])
        err_console.print(f"error: {message} (see '{where} --help')", markup=False, highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    sys.exit(code or 0)
