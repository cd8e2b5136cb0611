"""The ``latentid`` command line: thin commands that parse, call the library and print.

Each command lives in its own module and registers itself on ``app``.
"""

from __future__ import annotations

import contextlib
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
    context_settings={"help_option_names": ["-h", "--help"]},  # -h as most tools take it; subcommands inherit it
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
    from latentid.cli._common import err_console, stdout_gone

    show_warnings_on_one_line()
    _escape_unencodable_output()
    terminated = _stop_on_sigterm()
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):  # one wording for every command; a fit prints its --resume line itself
        err_console.print("error: interrupted.")
        sys.exit(SIGTERM_EXIT if terminated else 130)
    except BrokenPipeError:  # stdout's reader went away outside a command's own handler (--help: click exits 1)
        stdout_gone()
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `latentid` (or `latentid data`): the help, no error
            typer.echo(exc.format_message())
            sys.exit(0)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = " ".join(message.split()).replace("Value error, ", "")  # a parser's own ValueError, as is
        where = " ".join(["latentid", *_subcommands(getattr(exc, "ctx", None))])
        err_console.print(f"error: {message} (see '{where} --help')", markup=False, highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2) or 2)
    sys.exit(SIGTERM_EXIT if terminated and code == 130 else code or 0)


def _escape_unencodable_output() -> None:
    """Print a character stdout's encoding cannot hold (a file name's é under PYTHONIOENCODING=ascii, a Chinese
    name in a cp1252 console) as an escape, ``\\xe9``, as Python already does on stderr: the "Wrote ..." line
    failed with a traceback and exit code 1 after the output had been written."""
    with contextlib.suppress(AttributeError, ValueError, OSError):  # a replaced or closed stdout: left as it is
        if sys.stdout.errors == "strict":
            sys.stdout.reconfigure(errors="backslashreplace")


SIGTERM_EXIT = 143  # 128 + SIGTERM, as a shell reports a process it ended


class _Stopped(list):
    """Truthy once SIGTERM has arrived (a list, so that the handler can mark it)."""


def _stop_on_sigterm() -> _Stopped:
    """Make SIGTERM (a batch scheduler's time limit, ``kill``, a container stopped) end a command as Ctrl-C does:
    its interrupted fit records its time and says how to --resume, a study says what it kept. It killed the
    process at once, silently. Returns the mark that it arrived, for the exit code."""
    import os
    import signal

    stopped, main_pid = _Stopped(), os.getpid()

    def handler(signum, frame):
        if os.getpid() != main_pid:  # a process forked from this one: ends as it always did
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        stopped.append(signum)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process at once, mid-cleanup or not
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (main() called from a thread): leave SIGTERM as it is
        pass
    return stopped
