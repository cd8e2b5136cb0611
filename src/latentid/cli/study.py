"""``latentid experiment run`` (a study file's grid, into a results store), ``latentid results`` (query the
store) and ``latentid report`` (an HTML page of the store). Thin: parse, call ``latentid.studies``, print."""

from __future__ import annotations

import csv
import io
import json
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from latentid._folder_lock import folder_lock
from latentid.cli import app
from latentid.cli._common import (
    console,
    err_console,
    friendly_errors,
    note_oversubscription,
    print_json,
    print_unfolded,
    unicode_ok,
)
from latentid.cli._progress import progress_columns
from latentid.cli.experiment import experiment_app
from latentid.errors import DataFileError, InvalidParameterError
from latentid.metric_versions import METRICS_VERSION, REDEFINED_WHY

DEFAULT_STORE = Path("results.db")
HEADLINE_METRICS = ("affine_r2", "mcc_weak", "mcc_strong", "cluster_acc", "likelihood_gap")


class ExecutorName(str, Enum):
    local = "local"
    ray = "ray"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _existing_store(store: Path):
    """Open a store that must exist already (results, report): never create an empty one by mistake."""
    from latentid.studies.store import ResultStore, StoreNotWritableError

    if store.is_dir():
        raise DataFileError(
            f"{store}: is a folder, not a results store. Give the --store file of 'latentid experiment run'."
        )
    if not store.is_file():
        raise DataFileError(f"{store}: no such results store. Give the --store file of 'latentid experiment run'.")
    if store.stat().st_size == 0:  # SQLite would take an empty file for a new store and write into it
        raise DataFileError(
            f"{store}: an empty file, not a results store. Give the --store file of 'latentid experiment run'."
        )
    try:
        return ResultStore(store)
    except StoreNotWritableError:  # a store the user may read but not write: results and report only read it
        return ResultStore(store, read_only=True)


def _plural(count: int, noun: str, verb: str | None = None) -> str:
    """'1 run', '2 runs'; with ``verb`` ("was"): '1 was', '2 were'."""
    if verb is not None:
        return f"{count} {verb if count == 1 else 'were'}"
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _check_real_data(study) -> None:
    """Refuse, once and before any run, a study on MNIST / Fashion-MNIST whose files are not on this machine
    (each run failed on its own, naming a --data-dir this command does not have)."""
    from latentid.data.real import locate

    names = {config.data.get("dataset") for config in study.expand() if not config.skip}
    for name in sorted(n for n in names if n not in (None, "synthetic")):
        try:
            locate(name)
        except DataFileError as exc:
            raise DataFileError(str(exc).replace("point --data-dir or $", "point $")) from None


def _undeclared_note(results, study, store: Path, study_file: Path) -> str:
    """A note on the runs the store files under ``study``'s name that its grid does not hold ("" if none):
    how many, and what sets them apart, so that a changed default is not taken for an edit of the file."""
    from latentid.studies.undeclared import describe, set_in_file, undeclared_runs

    try:
        held = results.rows(study=study.name)
    except InvalidParameterError:  # the store has no run of that study yet
        return ""
    declared = [{**config.model_dump(), "key": config.key} for config in study.expand()]
    found = undeclared_runs(held, declared)
    if not found.count:
        return ""
    why = describe(found)
    who = "they" if found.explained == found.count else f"{found.explained} of them"
    if why and found.explained == found.count and not set_in_file(study) & found.differences.keys():
        cause = f"they {why}, which the file leaves to latentid's defaults: a default changed since they ran"
    else:
        cause = f"{who + ' ' + why + '; ' if why else ''}an earlier version of the file?"
    return (
        f"note: {store} also holds {_plural(found.count, 'run')} of study {study.name!r} that {study_file} does not "
        f"declare ({cause}): 'results' and 'report' for this study include them. Use another study name or "
        "--store to keep them apart."
    )


def _check_folder(path: Path, flag: str) -> None:
    """A folder to write into later: refused now if it, or the first part of it that exists, is a file."""
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                where = "" if part == path else f" ({part} is a file)"
                raise DataFileError(f"{path}: not a folder{where}; give {flag} a folder, or remove the file.")
            return


def _row_line(row: dict) -> str:
    """One line for a finished run: its label, then its headline metrics or its error."""
    failed, finished = ("✗", "✓") if unicode_ok(err_console) else ("x", "ok")
    if row["status"] == "failed":
        return f"[red]{failed}[/] {escape(row['label'])}: [red]{escape(str(row['error']))}[/]"
    if row["status"] == "skipped":
        return f"[dim]- {escape(row['label'])}: skipped ({escape(str(row['error']))})[/]"
    shown = [f"{name} {row['metrics'][name]:.3f}" for name in HEADLINE_METRICS if row["metrics"].get(name) is not None]
    return f"[green]{finished}[/] {escape(row['label'])}: {', '.join(shown) or 'no metrics'} ({row['seconds']:.1f} s)"


@experiment_app.command("run")
@friendly_errors(name_flags=False)
def run_command(
    study_file: Path = typer.Argument(..., help="A study file (TOML): data settings, models, seeds, metrics."),
    store: Path = typer.Option(DEFAULT_STORE, "--store", help="SQLite results store, created if missing."),
    executor: ExecutorName = typer.Option(ExecutorName.local, "--executor", help="local (this machine) or ray."),
    address: str | None = typer.Option(
        None,
        "--address",
        help="--executor ray: an existing cluster ('auto', 'host:6379', 'ray://host:10001') "
        "[default: a local Ray on 127.0.0.1, no dashboard].",
    ),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        help="Runs at a time, one torch thread each [default: 1 for local (all threads), all CPUs for ray].",
    ),
    artifacts: Path | None = typer.Option(
        None, "--artifacts", help="Folder for each run's learned latents [default: <store>-artifacts beside the store]."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar; one line per finished run only."),
) -> None:
    """Run every run of a study's grid that the store does not hold yet; each result is recorded as it arrives,
    so an interrupted study resumes where it stopped. A failing run is recorded with its error, the study goes on,
    and the command ends with exit code 1 (0 when every run this time finished or was skipped)."""
    from latentid.studies.executors import make_executor
    from latentid.studies.spec import load_study
    from latentid.studies.store import ResultStore
    from latentid.studies.sweep import run_sweep

    study = load_study(study_file)
    if address is None:  # a cluster's machines may hold more than this one, and their own data
        study.check_memory()
        _check_real_data(study)
    if artifacts is None:
        artifacts = store.parent / f"{store.stem}-artifacts"
    _check_folder(artifacts, "--artifacts")
    runner = make_executor(executor.value, jobs, address)
    if address is None:  # a local pool or a local Ray: this machine's cores (a cluster has its own)
        note_oversubscription(jobs, "--jobs", "runs at a time")
    columns = progress_columns("failed")
    seen = {}  # the sweep's summary, once it has started
    try:
        with ResultStore(store) as results, Progress(*columns, console=err_console, disable=quiet) as progress:
            task = progress.add_task(f"study {escape(study.name)}", total=None, failed="")
            note = _undeclared_note(results, study, store, study_file)
            if note:
                progress.console.print(escape(note), highlight=False)

            def started(summary) -> None:
                seen["summary"] = summary
                progress.update(task, total=summary.total, completed=summary.already_done)
                if summary.already_done:
                    progress.console.print(
                        f"{summary.already_done} of {_plural(summary.total, 'run')} already in "
                        f"{escape(str(store))}: skipped."
                    )
                if summary.refitted:
                    reasons, s = [], "s" if summary.refitted == 1 else ""
                    if summary.missing_metrics:
                        reasons.append(f"lack{s} {', '.join(summary.missing_metrics)}")
                    if summary.redefined_metrics:
                        reasons.append(
                            f"hold{s} {', '.join(summary.redefined_metrics)} scored under an earlier definition "
                            f"(metrics version < {METRICS_VERSION}: {REDEFINED_WHY})"
                        )
                    progress.console.print(
                        f"{_plural(summary.refitted, 'run')} in {escape(str(store))} "
                        f"{escape(' or '.join(reasons))}, which this study asks for: fitted again "
                        "(their rows are replaced, their other metrics recomputed).",
                        highlight=False,
                    )

            def finished(row: dict, summary) -> None:
                progress.update(task, advance=1, failed=f"{summary.failed} failed" if summary.failed else "")
                progress.console.print(_row_line(row), highlight=False)
                for warning in row.get("warnings", []):  # after its run's line, named, so it is clear whose it is
                    progress.console.print(
                        f"note: {escape(row['label'])}: {escape(warning)}", soft_wrap=True, highlight=False
                    )

            summary = run_sweep(study, results, runner, artifacts=artifacts, on_start=started, on_row=finished)
    except KeyboardInterrupt:
        err_console.print(_interrupted(study.name, store, seen.get("summary")), soft_wrap=True, highlight=False)
        raise typer.Exit(130) from None
    finally:
        runner.close()
    why = " or ".join(
        words
        for words, present in (
            ("metrics they lacked", summary.missing_metrics),
            ("metrics scored under an earlier definition", summary.redefined_metrics),
        )
        if present
    )
    refitted = f" ({summary.refitted} fitted again for {why})" if summary.refitted else ""
    console.print(
        f"Study {escape(study.name)}: {summary.finished} finished, {summary.failed} failed, {summary.skipped} skipped "
        f"this time{refitted}; {_plural(summary.already_done, '', 'was')} already done "
        f"-> [bold]{escape(str(store))}[/]"
    )
    if summary.failed:  # recorded, and the study went on; a script still needs to know (exit 2 is bad input)
        raise typer.Exit(1)


def _interrupted(name: str, store: Path, summary) -> str:
    """The line of a study stopped by Ctrl-C: how much of it the store holds, and how to continue."""
    again = "run the same command again to continue (finished runs are kept, not rerun)"
    if summary is None:
        return escape(f"interrupted before study {name!r} started a run; {again}.")
    done = summary.already_done + summary.finished + summary.skipped
    failed = f", {summary.failed} failed (retried then)" if summary.failed else ""
    return escape(
        f"interrupted: {done} of {_plural(summary.total, 'run')} of study {name!r} are in {store}{failed}; {again}."
    )


@app.command("results")
@friendly_errors(name_flags=False)
def results_command(
    store: Path = typer.Argument(
        DEFAULT_STORE, help="A results store written by 'latentid experiment run' (its default --store)."
    ),
    where: str | None = typer.Option(
        None, "--where", help="Filter, e.g. 'model=vade,data.depth>=3,status=failed' (comma = and)."
    ),
    study: str | None = typer.Option(None, "--study", help="Only the runs of this study."),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, csv or json."),
) -> None:
    """List the runs of a results store: one row per run, its varying settings, metrics and time."""
    from latentid.studies.store import rows_to_table, stale_note, stale_scores

    with _existing_store(store) as results:
        rows = results.rows(where=where, study=study)
    if output is OutputFormat.json:
        # run key -> the metrics it holds as scored under an earlier definition (latentid.metric_versions)
        print_json({"store": str(store.resolve()), "runs": rows, "stale_scores": stale_scores(rows)})
        return
    stale = stale_note(rows)
    header, body = rows_to_table(rows, every_field=output is OutputFormat.csv)
    if output is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        typer.echo(buffer.getvalue(), nl=False)
        if stale:  # on stderr: the CSV itself stays a table a program reads
            err_console.print(f"note: {escape(stale)}", soft_wrap=True, highlight=False)
        return
    # The title is its own line, never wrapped: a table's title wraps at the table's width, which splits a long
    # store path (and "0 run(s)") over lines.
    console.print(f"{escape(str(store))}: {len(rows)} run(s)", soft_wrap=True, highlight=False)
    table = Table()
    cells = [[_cell(name, v) for name, v in zip(header, values, strict=True)] for values in body]
    if header[-1] == "warnings":  # a count in the table, the messages below it: they are sentences
        cells = [[*values[:-1], str(len(row.get("warnings") or []))] for values, row in zip(cells, rows, strict=True)]
    if "error" in header:  # a sentence as well: below the table, the column says only whether there is one
        at = header.index("error")
        cells = [  # a finished run's is a note on metrics it could not measure: no failure, so not a 'yes'
            [
                *values[:at],
                ("note" if row["status"] == "finished" else "yes") if row.get("error") else "-",
                *values[at + 1 :],
            ]
            for values, row in zip(cells, rows, strict=True)
        ]
    for name in header:
        table.add_column(name, no_wrap=True)
    for values in cells:
        table.add_row(*values)
    print_unfolded(table, header, cells)
    for line in _sentences_below(rows):
        console.print(escape(line), highlight=False)
    if stale:
        console.print(f"note: {escape(stale)}", soft_wrap=True, highlight=False)


SHARED_SENTENCE_NAMES = 3  # a sentence shared by more runs is printed once, naming this many of them


def _sentences_below(rows: list[dict]) -> list[str]:
    """The lines under the results table: each run's error ("failed: <run>: ...") and warnings ("note: <run>:
    ..."), in the rows' order; a sentence more than ``SHARED_SENTENCE_NAMES`` runs share is one line naming the first
    of them and how many more (2,000 runs of pca printed the same 'not measured' sentence 2,000 times)."""
    shared: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        # by key as well: two runs can share a label (options the label does not show, after an edit)
        named = f"{row.get('label')} ({str(row['key'])[:10]})" if row.get("label") else str(row["key"])
        if row.get("error"):
            shared.setdefault((str(row["status"]), str(row["error"])), []).append(named)
        for warning in row.get("warnings") or []:
            shared.setdefault(("note", str(warning)), []).append(named)
    lines = []
    for (kind, sentence), runs in shared.items():
        if len(runs) <= SHARED_SENTENCE_NAMES:
            lines += [f"{kind}: {named}: {sentence}" for named in runs]
        else:
            first, more = "; ".join(runs[:SHARED_SENTENCE_NAMES]), len(runs) - SHARED_SENTENCE_NAMES
            lines.append(f"{kind}: {len(runs):,} runs ({first}; and {more:,} more): {sentence}")
    return lines


def _cell(column: str, value) -> str:
    """A table cell: a key's first 10 characters (``--where key=`` takes such a prefix), a setting as a filter
    writes it (noise 0.0001 and 0.0004 apart, not both 0.000), a metric to 3 decimals."""
    if value is None:
        return "-"
    if column == "key":
        return escape(str(value)[:10])
    if column.startswith(("data.", "options.")):
        from latentid.studies.store import value_text

        return escape(value_text(value))
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"
    return escape(value if isinstance(value, str) else json.dumps(value))


@app.command("report")
@friendly_errors(name_flags=False)
def report_command(
    store: Path = typer.Argument(
        DEFAULT_STORE, help="A results store written by 'latentid experiment run' (its default --store)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for index.html and its PNG/SVG figures."),
    study: str | None = typer.Option(None, "--study", help="Only the runs of this study."),
    force: bool = typer.Option(False, "--force", help="Replace a report already in --out."),
) -> None:
    """Write an HTML report of a results store: metrics against each varying setting with error bars over
    seeds, strong against weak MCC, a table per setting with its identifiability level, every run listed."""
    from latentid.studies.report import write_study_report

    if out.exists() and not out.is_dir():
        raise DataFileError(f"{out}: exists and is not a folder; choose another --out.")
    with _existing_store(store) as results:
        rows = results.rows(study=study)
    if not rows:
        raise InvalidParameterError(
            f"{store}: holds no runs" + (f" of study '{study}'" if study else "") + "; nothing to report."
        )
    out.mkdir(parents=True, exist_ok=True)
    busy = f"{out}: another 'latentid report' is writing into it now. Wait for it to end, or choose another --out."
    with folder_lock(out, busy):  # checked and written under the lock: a second report is refused, not mixed in
        _check_report_folder(out, force)
        page = write_study_report(rows, out, title=None if study is None else f"Study report: {study}")
    console.print(f"Wrote the report of {len(rows)} run(s) -> [bold]{escape(str(page))}[/]")


def _check_report_folder(out: Path, force: bool) -> None:
    """The overwrite policy of a report's folder: a report there, or figures of the user's, need --force."""
    if (out / "index.html").exists() and not force:
        from latentid.experiments.report import written_by_latentid

        if not written_by_latentid(out / "index.html"):
            raise DataFileError(
                f"{out}: holds an index.html that latentid did not write. Choose another --out, or add --force to "
                "replace it."
            )
        raise DataFileError(f"{out}: already holds a report. Add --force to replace it, or choose another --out.")
    figures = out / "figures"
    if not (out / "index.html").exists() and figures.is_dir() and any(figures.iterdir()) and not force:
        raise DataFileError(
            f"{figures}: holds files and {out} no report; the report's figures would be written among them. Choose "
            "another --out, or add --force to write them there (none of those files is deleted; one of the same "
            "name is replaced)."
        )
