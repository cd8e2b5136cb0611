"""HTML reports: the building blocks the demo's report and the study report share.

A page is a small inline-CSS skeleton (:func:`page`) around sections built from escaped tables
(:func:`table`) and matplotlib figures (:class:`FigureWriter`). A figure is either written beside
the page, as a PNG the page shows and an SVG it links (relative paths, so the folder can be moved
or zipped), or embedded in the page as a PNG data URI: one code path, chosen by whether the writer
has a folder. Figures are drawn with the non-interactive Agg backend, so this works on a machine
with no screen; every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from latentid._atomic import atomic_path, write_text_atomic

__all__ = [
    "CSS",
    "FigureWriter",
    "Html",
    "alignment_figure",
    "curves_figure",
    "format_value",
    "page",
    "subplots",
    "table",
    "write_html_report",
    "write_page",
]

CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}"
    "h1{font-size:1.6em}h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #ddd}h3{font-size:1.05em}"
    "table{border-collapse:collapse;margin:.6em 0 1.2em}caption{text-align:left;font-size:.9em;color:#555;"
    "padding:.2em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top;white-space:nowrap}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "th{background:#f3f3f3}td.text,th.text{text-align:left}tr.failed td{background:#fff1f0}"
    "tr.skipped td{color:#888}pre{white-space:pre-wrap;margin:0;font-size:.85em;text-align:left;min-width:30em}"
    "figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}"
    "figcaption{font-size:.9em;color:#444;max-width:1000px}.note{color:#555;font-size:.9em}"
)
MISSING = "\u2014"  # an em dash: no value


class Html(str):
    """Markup that is already safe: :func:`table` inserts a cell of this type as it is, not escaped."""


def short_float(value: float) -> str:
    """A setting's float by %g, unless that merges two values (tol 1e-4 and 1.0000001e-4): then in full."""
    text = f"{value:g}"
    return text if float(text) == value else repr(value)


def format_value(value: object, digits: int = 3) -> str:
    """A cell's text: floats to ``digits`` decimals (NaN as "nan"), None as an em dash, anything else str()."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}f}"
    return str(value)


def _cell(value: object) -> str:
    return str(value) if isinstance(value, Html) else html.escape(format_value(value))


def table(
    rows: Sequence[Mapping[str, object]],
    columns: Sequence[str] | None = None,
    *,
    caption: str | None = None,
    text_columns: Iterable[str] = (),
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table, one row per mapping. columns: the union of the rows' keys in order, unless given.

    Every header and cell is escaped except cells of type :class:`Html`; a missing cell is empty.
    text_columns are left-aligned (numbers are right-aligned); row_classes, one per row, set each row's class.
    """
    if columns is None:
        columns = []
        for row in rows:
            columns += [key for key in row if key not in columns]
    text = set(text_columns)

    def attr(column: str) -> str:
        return " class='text'" if column in text else ""

    head = "".join(f"<th{attr(c)}>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        css = f" class='{html.escape(row_classes[i])}'" if row_classes and row_classes[i] else ""
        cells = "".join(f"<td{attr(c)}>{_cell(row[c]) if c in row else ''}</td>" for c in columns)
        body.append(f"<tr{css}>{cells}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<div class='scroll'><table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


GENERATOR_META = "<meta name='generator' content='latentid'>"  # how a report folder tells its page from a user's
OLD_PAGE_MARK = "<link rel='icon' href='data:,'>"  # in the head of pages written before GENERATOR_META


def written_by_latentid(path: str | Path) -> bool:
    """Whether the HTML file at ``path`` is a page latentid wrote (its head holds the generator mark)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = handle.read(2048)
    return GENERATOR_META in head or OLD_PAGE_MARK in head


def page(title: str, body: Iterable[str]) -> str:
    """A whole HTML document: the title, the inline CSS and the body's parts (already HTML) in order."""
    return "\n".join(
        [
            "<!doctype html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            GENERATOR_META,
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            # No favicon request: a page opened from disk would log a failed load of /favicon.ico.
            "<link rel='icon' href='data:,'>",
            f"<title>{html.escape(title)}</title>",
            f"<style>{CSS}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            *body,
            "</body></html>",
        ]
    )


def write_page(path: str | Path, title: str, body: Iterable[str]) -> Path:
    """Write :func:`page` to ``path`` atomically; returns the path."""
    path = Path(path)
    write_text_atomic(path, page(title, body))
    return path


def subplots(rows: int = 1, cols: int = 1, *, figsize=None, layout=None, squeeze: bool = True):
    """A figure and its axes, as ``pyplot.subplots`` gives them, drawn without pyplot: the calling program's
    matplotlib backend (a notebook's inline one, a GUI's) is left as it was, and nothing needs closing. The
    figure saves to any file format matplotlib writes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)  # its own canvas (draw() lays it out), not pyplot's backend
    return fig, fig.subplots(rows, cols, squeeze=squeeze)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].rstrip("-") or "figure"


class FigureWriter:
    """Turns matplotlib figures into the HTML that shows them, and closes them.

    directory None: each figure is embedded as a PNG data URI. Otherwise it is written to
    ``directory/<stem>.png`` and ``.svg`` (atomically) and shown by a path relative to ``page_dir``
    (the folder of the page that will show it; default: directory's parent).
    ``written`` lists the files written, in order. ``defer``: keep the files in memory until ``flush()``, so that
    a page replacing another writes its figures in one burst just before itself: a report stopped while it
    draws leaves the old page with its own figures, not with some of the new one's.
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        page_dir: str | Path | None = None,
        dpi: int = 110,
        *,
        defer: bool = False,
    ):
        self.directory = None if directory is None else Path(directory)
        self.page_dir = Path(page_dir) if page_dir is not None else (self.directory.parent if self.directory else None)
        self.dpi = dpi
        self.defer = defer
        self.written: list[Path] = []
        self._pending: list[tuple[Path, bytes]] = []
        self._stems: set[str] = set()

    def _write(self, path: Path, data: bytes) -> None:
        if self.defer:
            self._pending.append((path, data))
            return
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        self.written.append(path)

    def flush(self) -> None:
        """Write the figures ``defer`` held back (each atomically)."""
        pending, self._pending, self.defer = self._pending, [], False
        for path, data in pending:
            self._write(path, data)

    def _stem(self, wanted: str) -> str:
        stem, i = _slug(wanted), 2
        base = stem
        while stem in self._stems:
            stem, i = f"{base}-{i}", i + 1
        self._stems.add(stem)
        return stem

    def _render(self, fig, formats: Sequence[str]) -> dict[str, bytes]:
        out = {}
        for fmt in formats:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=self.dpi, bbox_inches="tight", metadata=_METADATA[fmt])
            out[fmt] = buffer.getvalue()
        return out

    def html(self, fig, title: str, caption: str | None = None, *, stem: str | None = None, heading: int = 3) -> str:
        """A heading, the figure and its caption; heading=0 for no heading."""
        label = html.escape(title)
        if self.directory is None:
            png = self._render(fig, ["png"])["png"]
            src, links = f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}", ""
        else:
            name = self._stem(stem or title)
            files = {}
            for fmt, data in self._render(fig, ["png", "svg"]).items():
                files[fmt] = self.directory / f"{name}.{fmt}"
                self._write(files[fmt], data)
            rel = {fmt: Path(_relative(p, self.page_dir)).as_posix() for fmt, p in files.items()}
            src = html.escape(rel["png"], quote=True)
            links = f" <a href='{html.escape(rel['svg'], quote=True)}'>SVG</a>, <a href='{src}'>PNG</a>"
        parts = [f"<h{heading}>{label}</h{heading}>"] if heading else []
        parts.append(f"<figure><img alt='{label}' src='{src}'>")
        if caption or links:
            parts.append(f"<figcaption>{html.escape(caption or '')}{links}</figcaption>")
        parts.append("</figure>")
        return "".join(parts)


# Fixed metadata: the same figure gives the same bytes on every run (no creation date, no version).
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def _relative(path: Path, start: Path | None) -> str:
    return os.path.relpath(path, start) if start is not None else str(path)


def alignment_figure(z_true: np.ndarray, aligned: Mapping[str, np.ndarray], labels: np.ndarray | None = None):
    """True vs aligned learned latents, one row per method, one column per true coordinate.

    z_true : ndarray of shape (n, m); aligned[name] : ndarray of shape (n, m), already mapped
    into the true coordinates (e.g. by the affine alignment fitted on another split).
    """
    m = z_true.shape[1]
    fig, axes = subplots(len(aligned), m, figsize=(3.2 * m, 3.0 * len(aligned)), squeeze=False)
    colours = {"c": labels, "cmap": "tab10"} if labels is not None else {"c": "C0"}  # a colour map needs values
    for row, (name, z_hat) in enumerate(aligned.items()):
        for j in range(m):
            ax = axes[row, j]
            ax.scatter(z_true[:, j], z_hat[:, j], s=2, alpha=0.4, **colours)
            lo, hi = np.percentile(z_true[:, j], [0.5, 99.5])
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
            ax.set_title(f"{name}: z[{j}]", fontsize=9)
            ax.set_xlabel("true", fontsize=8)
            ax.set_ylabel("aligned estimate", fontsize=8)
    fig.tight_layout()
    return fig


def curves_figure(histories: Mapping[str, Sequence[float]], ylabel: str = "validation ELBO per sample"):
    """One line per run: values per epoch."""
    fig, ax = subplots(figsize=(6, 3.5))
    for name, values in histories.items():
        if len(values):
            ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_html_report(
    path: str | Path,
    title: str,
    rows: Sequence[Mapping[str, object]],
    figures: Mapping[str, object] | None = None,
    notes: Sequence[str] = (),
    *,
    figure_dir: str | Path | None = None,
) -> Path:
    """Write a report with a table (one row per mapping; columns = union of keys, in order), notes
    and figures (title -> matplotlib Figure). Figures are embedded in the page, or written as PNG and
    SVG files into figure_dir when given. Returns the path written."""
    path = Path(path)
    writer = FigureWriter(figure_dir, page_dir=path.parent)
    body = [table(rows, text_columns=("method",))]
    body += [f"<p>{html.escape(note)}</p>" for note in notes]
    body += [writer.html(fig, name, heading=2) for name, fig in (figures or {}).items()]
    return write_page(path, title, body)
