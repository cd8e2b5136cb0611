"""A self-contained HTML report: a results table and matplotlib figures embedded as PNG.

Figures are drawn with the non-interactive Agg backend, so this works on a machine with no
screen; the file is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from latentid._atomic import write_text_atomic


def _figure_png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def alignment_figure(z_true: np.ndarray, aligned: Mapping[str, np.ndarray], labels: np.ndarray | None = None):
    """True vs aligned learned latents, one row per method, one column per true coordinate.

    z_true : ndarray of shape (n, m); aligned[name] : ndarray of shape (n, m), already mapped
    into the true coordinates (e.g. by the affine alignment fitted on another split).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    m = z_true.shape[1]
    fig, axes = plt.subplots(len(aligned), m, figsize=(3.2 * m, 3.0 * len(aligned)), squeeze=False)
    for row, (name, z_hat) in enumerate(aligned.items()):
        for j in range(m):
            ax = axes[row, j]
            ax.scatter(
                z_true[:, j], z_hat[:, j], s=2, alpha=0.4, c=labels if labels is not None else "C0", cmap="tab10"
            )
            lo, hi = np.percentile(z_true[:, j], [0.5, 99.5])
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
            ax.set_title(f"{name}: z[{j}]", fontsize=9)
            ax.set_xlabel("true", fontsize=8)
            ax.set_ylabel("aligned estimate", fontsize=8)
    fig.tight_layout()
    return fig


def curves_figure(histories: Mapping[str, Sequence[float]], ylabel: str = "validation ELBO per sample"):
    """One line per run: values per epoch."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in histories.items():
        if len(values):
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _cell(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.3f}"
    return html.escape(str(value))


def write_html_report(
    path: str | Path,
    title: str,
    rows: Sequence[Mapping[str, object]],
    figures: Mapping[str, object] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write a report with a table (one row per mapping; columns = union of keys, in order), notes
    and figures (title -> matplotlib Figure). Returns the path written."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "th{background:#f3f3f3}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<table><tr>{head}</tr>{body}</table>",
    ]
    parts += [f"<p>{html.escape(note)}</p>" for note in notes]
    for name, fig in (figures or {}).items():
        label = html.escape(name)
        parts.append(f"<h2>{label}</h2><img alt='{label}' src='data:image/png;base64,{_figure_png(fig)}'>")
    parts.append("</body></html>")
    path = Path(path)
    write_text_atomic(path, "\n".join(parts))
    return path
