"""``latentid data``: where the published data sets are found, and an explicit download."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from latentid.cli import app
from latentid.cli._common import console, err_console, friendly_errors, print_unfolded
from latentid.data.real import REAL_DATASETS, damaged_files, download, download_command, locate, search_roots
from latentid.errors import DataFileError

data_app = typer.Typer(help="The published data sets (MNIST, Fashion-MNIST): where they are, and a download.")
app.add_typer(data_app, name="data")


class DatasetName(str, Enum):
    mnist = "mnist"
    fashion_mnist = "fashion-mnist"


@data_app.command("list")
@friendly_errors
def list_datasets(
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="The folder holding mnist/ and fashion-mnist/, the only one looked in when given "
        "[default: $LATENTID_DATA, then the user cache folder].",
    ),
) -> None:
    """Each published data set and the folder it is read from (or where it was looked for), its files checked
    against their SHA-256 pins.

    With --data-dir only that folder is looked in. Exit code 1 when a data set's files are damaged."""
    table = Table(title="latentid data")
    table.add_column("name", no_wrap=True)
    table.add_column("found in")
    cells = []
    any_damaged, fetch = False, []  # the commands go below the table, whole: in a cell they were cut mid-command
    for name, spec in REAL_DATASETS.items():
        try:
            folder = locate(name, data_dir)
        except DataFileError as exc:
            if data_dir is not None:  # the reader's own reason: e.g. the files lie in --data-dir itself
                where = f"[yellow]{escape(str(exc))}[/]"
                if "not found" in str(exc):  # not where the files lie in --data-dir itself: no fetch would help
                    fetch.append(f"{name}: {download_command(name, data_dir)}")
            else:
                where = "[yellow]not found[/] (looked in " + escape(
                    ", ".join(str(r / name) for r in search_roots(data_dir))
                )
                where += ")"
                fetch.append(f"{name}: {download_command(name, data_dir)}")
        else:  # found means readable: each file is checked against its SHA-256 pin, as fit checks it
            damaged = damaged_files(folder, name)
            where = f"[green]{escape(str(folder))}[/]"
            if damaged:
                any_damaged = True
                # into the folder the damaged files are read from: fetched elsewhere, they would still be read first
                where = (
                    f"[red]damaged[/] in {escape(str(folder))}: {escape(', '.join(damaged))} do(es) not match the "
                    "pinned SHA-256 (truncated or another version)"
                )
                fetch.append(f"{name}: {download_command(name, folder.parent)}")  # fetches the damaged files again
        cells.append([f"{name} ({spec.title})", where])
        table.add_row(*cells[-1])
    # whole paths: cut with "…" (piped, 80 columns) they said nothing
    print_unfolded(table, ["name", "found in"], [[Text.from_markup(cell).plain for cell in row] for row in cells])
    if fetch:
        console.print("To fetch them:", highlight=False)
    for line in fetch:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if any_damaged:  # as sha256sum -c: a file that does not match its pin is a failure a script can see
        raise typer.Exit(1)


@data_app.command("download")
@friendly_errors
def download_dataset(
    name: DatasetName = typer.Argument(..., help="mnist or fashion-mnist."),
    dest: Path | None = typer.Option(
        None, "--dir", help="Root folder to put '<name>/' in [default: the user cache folder]."
    ),
    force: bool = typer.Option(False, "--force", help="Fetch again even files whose SHA-256 already matches."),
) -> None:
    """Fetch a data set's four IDX files from its canonical mirrors and check their SHA-256 pins.

    The only command that uses the network; nothing else ever downloads.
    """
    folder = download(
        name.value, dest, force=force, progress=lambda f: err_console.print(f"fetching {f}.gz ...", highlight=False)
    )
    console.print(f"{REAL_DATASETS[name.value].title} is in [bold]{escape(str(folder))}[/] (pins checked).")
