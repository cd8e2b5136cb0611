"""``latentid demo``: the main job, simulate -> fit -> measure identifiability, with an HTML report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from latentid.cli import app
from latentid.cli._common import console, err_console, friendly_errors, print_unfolded, unicode_ok
from latentid.cli._progress import training_progress
from latentid.demo import SCORE_KEYS, DemoConfig, run_demo
from latentid.errors import InvalidParameterError

# What run_demo writes into --out: a folder holding any of them holds a demo.
DEMO_OUTPUTS = ("train.npz", "test.npz", "run-vade", "run-vae", "run-ivae", "results.json", "report.html")


@app.command()
@friendly_errors
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Folder for data, runs, results.json and report.html."),
    epochs: int = typer.Option(DemoConfig.epochs, "--epochs", help="Training epochs per model."),
    pretrain_epochs: int = typer.Option(
        DemoConfig.pretrain_epochs, "--pretrain-epochs", help="VaDE warm-start epochs."
    ),
    train_samples: int = typer.Option(DemoConfig.train_samples, "--train-samples", help="Training samples."),
    test_samples: int = typer.Option(DemoConfig.test_samples, "--test-samples", help="Test samples (scored)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fits and the test split."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    force: bool = typer.Option(
        False, "--force", help="Replace the demo already in --out (its data, runs, results.json and report.html)."
    ),
) -> None:
    """Simulate the informative setting, fit VaDE, a vanilla VAE, iVAE (given the true labels), PCA and FastICA,
    and score each against the oracle."""
    if out.exists() and not out.is_dir():
        raise InvalidParameterError(f"--out '{out}' is a file; name a folder.")
    existing = sorted(p.name for p in out.glob("*") if p.name in DEMO_OUTPUTS) if out.is_dir() else []
    if existing and not force:
        raise InvalidParameterError(
            f"{out}: already holds a demo ({', '.join(existing)}). Add --force to replace it, or choose another --out."
        )
    config = DemoConfig(
        train_samples=train_samples,
        test_samples=test_samples,
        epochs=epochs,
        pretrain_epochs=pretrain_epochs,
        seed=seed,
        threads=threads,
    )
    bullet = "·" if unicode_ok(err_console) else "-"
    with training_progress(not quiet) as callback:
        rows = run_demo(
            out,
            config,
            callback=callback,
            status=lambda msg: err_console.print(f"{bullet} {msg}", markup=False, highlight=False),
        )
    table = Table(
        title="Identifiability on held-out test data (higher is better)",
        caption="acc: 1:1 cluster accuracy; gap: true log p(x) - the fit's best bound, nats/sample; fit s: seconds",
    )
    header = ["method", "affine R2", "MCC weak", "MCC strong", "perm. R2", "orth. R2", "acc", "gap", "fit s"]
    for name in header:
        table.add_column(name, no_wrap=True, justify="left" if name == "method" else "right")
    cells = []
    for row in rows:
        keys = (*SCORE_KEYS, "cluster_acc", "likelihood_gap")
        fit_s = row.get("fit_seconds") or 0.0
        cells.append(
            [row["method"], *(f"{row[k]:.3f}" if isinstance(row.get(k), float) else "" for k in keys)]
            + [f"{fit_s:.0f}" if fit_s else ""]
        )
        table.add_row(*cells[-1])
    print_unfolded(table, header, cells)
    console.print(f"Report: [bold]{escape(str(out / 'report.html'))}[/]  Results: {escape(str(out / 'results.json'))}")
