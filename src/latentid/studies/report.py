"""The study report: one HTML page (with PNG and SVG plots beside it) of every run of one or more studies.

``write_study_report(rows, out_dir)`` takes the rows a study store returns (one dict per run: key,
study, label, status, config {data, model, options, seed}, metrics, level, error, seconds, ...) and
writes ``out_dir/index.html`` and ``out_dir/figures/*.png|svg``. The page shows

- a summary: the studies, runs finished / failed / skipped, the time they took, the versions used;
- for every data option that varies across the runs, each metric against that option, one line per
  model, the mean over seeds (and data seeds, said so) with error bars of one standard deviation (none for
  one run), the other varying options
  fixed at their most common values (averaged over, where fixing them leaves one value), and below
  it the level of the identifiability hierarchy each model reaches at each value;
- weak against strong MCC, one panel per model, the diagonal drawn: what lies above it is recovered
  only by an affine map;
- a table per data setting (model: level, runs, mean ± sd of every metric over seeds);
- the failed (and skipped) runs with their errors, and a table of every run.

The HTML building blocks are shared with the demo's report (:mod:`latentid.experiments.report`).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from latentid.experiments.report import FigureWriter, Html, format_value, short_float, subplots, table, write_page
from latentid.metric_versions import VERSIONS_KEY
from latentid.studies.store import stale_note

__all__ = ["LEVEL_TEXT", "level_text", "write_study_report"]

# Data options that replicate a setting rather than define one: runs differing only in these are seeds.
REPLICATE_OPTIONS = ("seed", "data_seed")
# The order in which axes and metrics appear; options and metrics not named here follow, sorted by name.
AXIS_ORDER = ("depth", "components", "noise", "samples", "latent_dim", "obs_dim", "covariance", "prior", "slope")
METRIC_ORDER = (
    "affine_r2",
    "mcc_weak",
    "mcc_strong",
    "permutation_r2",
    "orthogonal_r2",
    "mcc_spearman",
    "mcc_cca",
    "cluster_acc",
    "nmi",
    "ari",
    "likelihood_gap",
)
LEVEL_TEXT = {
    "3": "level 3: permutation & scaling",
    "2": "level 2: affine",
    "1": "level 1",
    "vanilla": "vanilla: rotation",
    "none": "outside the theory",
}
SPREAD = "one standard deviation over seeds (sample sd, n - 1)"
FIGURE_DIR = "figures"


def level_text(level: object) -> str:
    """The hierarchy level of ``explain`` in words; "not assessed" for None."""
    if level is None:
        return "not assessed"
    return LEVEL_TEXT.get(str(level), f"level {level}")


@dataclass
class _Run:
    row: Mapping
    key: str
    label: str
    status: str
    model: str
    seed: object
    setting: tuple  # sorted (option, value) pairs of the data options, replicates left out
    metrics: dict  # metric -> float or None (numbers only)
    level: str | None

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def option(self, name: str) -> object:
        return dict(self.setting).get(name)


def _hashable(value: object) -> object:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _order_key(value: object) -> tuple:
    """Numbers (in order), then text, then None: a total order over mixed option values."""
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, float(value)) if not math.isnan(value) else (1, "nan")
    if value is None:
        return (2, "")
    return (1, str(value))


def _show(value: object) -> str:
    if isinstance(value, float):  # short, unless two values would print alike and be one line
        return short_float(value)
    return format_value(value)


def _number(value: object) -> float | None:
    """A metric's value as a float, None when missing or not a number (NaN stays NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    return float(value)


def _finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _parse_runs(rows: Sequence[Mapping]) -> list[_Run]:
    runs = []
    for i, row in enumerate(rows):
        config = row.get("config") or {}
        data = config.get("data") or {}
        model = config.get("model")
        if isinstance(model, Mapping):
            model = model.get("name", json.dumps(model, sort_keys=True, default=str))
        setting = tuple(
            sorted(((k, _hashable(v)) for k, v in data.items() if k not in REPLICATE_OPTIONS), key=lambda kv: kv[0])
        )
        metrics = {k: _number(v) for k, v in (row.get("metrics") or {}).items()}
        level = row.get("level")  # as the store reads it: "none" for the linear floors (store.theory_level)
        runs.append(
            _Run(
                row=row,
                key=str(row.get("key", f"run {i + 1}")),
                label=str(row.get("label") or ""),
                status=str(row.get("status") or "unknown"),
                model=str(model if model is not None else "?"),
                seed=config.get("seed", data.get("data_seed")),
                setting=setting,
                metrics=metrics,
                level=None if level is None else str(level),
            )
        )
    _name_models(runs, rows)
    return runs


def _name_models(runs: list[_Run], rows: Sequence[Mapping]) -> None:
    """Runs of one model with different estimator options are different lines: name them by what differs."""
    options = [(row.get("config") or {}).get("options") or {} for row in rows]
    by_model: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        by_model.setdefault(run.model, []).append(i)
    for name, indices in by_model.items():
        # a skipped run fitted nothing: its options (MFC-VAE's default facets on data without any) make no line
        fitted = [i for i in indices if runs[i].status != "skipped"] or indices
        keys = sorted({k for i in fitted for k in options[i]})
        differing = [
            k
            for k in keys
            if len({_hashable(options[i].get(k)) for i in fitted}) > 1 and not _follows_data(rows, options, fitted, k)
        ]
        if differing:
            for i in indices:
                shown = ", ".join(f"{k}={_option_text(k, options[i].get(k))}" for k in differing)
                runs[i].model = f"{name} ({shown})"


def _option_text(key: str, value: object) -> str:
    """An option's value as a study file writes it (facets as '1:2,1:3', not nested lists)."""
    if key == "facets" and isinstance(value, list) and all(isinstance(f, list) and len(f) == 2 for f in value):
        from latentid.studies.spec import facets_text  # it reads the models (torch): only when needed

        return facets_text(value)
    return _show(_hashable(value))


def _follows_data(rows: Sequence[Mapping], options: list[Mapping], indices: list[int], key: str) -> bool:
    """Whether option ``key`` of the runs ``indices`` is in every run the value its data set (VaDE's n_components
    from components), so no line of its own: a line per value would split the model into one-point series along
    the very axis it follows. An option given in the study file that differs between runs is no such thing."""
    from latentid.studies.spec import follows_data  # it reads the models' defaults (torch): only when needed

    for i in indices:
        config = rows[i].get("config") or {}
        model = config.get("model")
        if not isinstance(model, str) or not follows_data(model, config.get("data") or {}, key, options[i].get(key)):
            return False
    return True


def _ordered(names: Iterable[str], preferred: Sequence[str]) -> list[str]:
    names = set(names)
    return [n for n in preferred if n in names] + sorted(names - set(preferred))


def _axes(runs: Sequence[_Run]) -> tuple[list[str], dict[str, object]]:
    """(the data options that vary across the runs, the options fixed in every run -> value)."""
    options = {name for run in runs for name, _ in run.setting}
    varying, fixed = [], {}
    for name in options:
        values = {run.option(name) for run in runs}
        if len(values) > 1:
            varying.append(name)
        else:
            fixed[name] = values.pop()
    return _ordered(varying, AXIS_ORDER), {k: fixed[k] for k in _ordered(fixed, AXIS_ORDER)}


def _metrics(runs: Sequence[_Run]) -> list[str]:
    """The metrics with a number in some finished run, in METRIC_ORDER and then by name."""
    present = {k for run in runs if run.finished for k, v in run.metrics.items() if v is not None}
    return _ordered(present, METRIC_ORDER)


def _mode(values: Sequence[object]) -> object:
    """The most common value; among equally common ones, the first seen."""
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


def _stats(values: Sequence[float | None]) -> tuple[float, float, int]:
    """(mean, sd, n) over the finite values; sd is NaN for one value (no spread is known: drawn as no bar, not as
    a bar of 0), NaN mean for none."""
    good = _finite(values)
    if not good:
        return math.nan, math.nan, 0
    sd = float(np.std(good, ddof=1)) if len(good) > 1 else math.nan
    return float(np.mean(good)), sd, len(good)


def _mean_sd(values: Sequence[float | None], expected: int) -> str:
    mean, sd, n = _stats(values)
    if n == 0:
        return "nan" if any(v is not None and math.isnan(v) for v in values) else "\u2014"
    text = f"{mean:.3f}" if n == 1 else f"{mean:.3f} \u00b1 {sd:.3f}"
    return text if n == expected else f"{text} (n={n})"


def _setting_text(setting: tuple, names: Sequence[str]) -> str:
    values = dict(setting)
    return ", ".join(f"{name}={_show(values.get(name))}" for name in names)


def _colors(models: Sequence[str]) -> dict[str, str]:
    return {model: f"C{i % 10}" for i, model in enumerate(models)}


def _levels(runs: Iterable[_Run]) -> str:
    levels = sorted({run.level for run in runs}, key=lambda v: (v is None, str(v)))
    return " / ".join(level_text(v) for v in levels) if levels else level_text(None)


# -- figures --------------------------------------------------------------------------------------------------------


def _axis_subset(runs: Sequence[_Run], axis: str, axes: Sequence[str]) -> tuple[list[_Run], str]:
    """The runs to plot against ``axis`` and the caption's words on the other varying options: the setting of
    them with the most values of ``axis`` among finished runs (the most common setting first among equals), else
    all runs averaged."""
    runs, apart = _on_data_with(runs, axis)
    subset, words = _axis_subset_of(runs, axis, axes)
    return subset, words + apart


def _dataset(run: _Run) -> str:
    return str(((run.row.get("config") or {}).get("data") or {}).get("dataset") or "synthetic")


def _on_data_with(runs: Sequence[_Run], axis: str) -> tuple[list[_Run], str]:
    """The runs on data sets that have ``axis`` (a simulator option is None on MNIST: its runs drew a '—' point
    joined by a line to the simulated ones, as if a trend), and the caption's words on those left out."""
    names = {_dataset(run) for run in runs}
    if len(names) < 2:
        return list(runs), ""
    having = {name for name in names if any(run.option(axis) is not None for run in runs if _dataset(run) == name)}
    kept = [run for run in runs if _dataset(run) in having]
    if not kept or len(kept) == len(runs):
        return list(runs), ""
    left = ", ".join(sorted(names - having))
    return kept, f" Runs on {left}, which has no {axis}, are left out."


def _axis_subset_of(runs: Sequence[_Run], axis: str, axes: Sequence[str]) -> tuple[list[_Run], str]:
    following = [a for a in axes if a != axis and _follows(runs, a, axis)]  # obs_dim from a latent_dim table
    others = [a for a in axes if a != axis and a not in following]
    if not others:
        return list(runs), _following_words(following, axis)
    measured = [run for run in runs if run.finished] or list(runs)
    common = tuple(_mode([run.option(a) for run in measured]) for a in others)
    found: dict[tuple, set] = {}
    for run in measured:
        found.setdefault(tuple(run.option(a) for a in others), set()).add(run.option(axis))
    best = max(found, key=lambda combo: (len(found[combo]), combo == common))
    if len(found[best]) >= 2:
        subset = [run for run in runs if tuple(run.option(a) for a in others) == best]
        fixed = ", ".join(f"{a}={_show(v)}" for a, v in zip(others, best, strict=True))
        return subset, (
            f"The other varying options are fixed where {axis} takes the most values: {fixed}."
            + _following_words(following, axis, " ")
        )
    return (
        list(runs),
        f"Averaged over the other varying options ({', '.join(others)}): no one setting of them has two values of "
        f"{axis}, so the error bars also spread over those settings." + _following_words(following, axis, " "),
    )


def _follows(runs: Sequence[_Run], option: str, axis: str) -> bool:
    """Whether ``option`` takes one value at each value of ``axis`` over the runs (it follows from it)."""
    seen: dict[object, set] = {}
    for run in runs:
        seen.setdefault(run.option(axis), set()).add(run.option(option))
    return all(len(values) == 1 for values in seen.values())


def _following_words(following: Sequence[str], axis: str, lead: str = "") -> str:
    if not following:
        return ""
    verb = "follows" if len(following) == 1 else "follow"
    return f"{lead}{', '.join(following)} {verb} {axis} (one value at each {axis})."


def _plotted_axes(runs: Sequence[_Run], axes: Sequence[str]) -> list[str]:
    """The axes to plot against: one that follows an earlier axis and determines it (obs_dim given per latent_dim)
    would repeat that axis's figure."""
    kept: list[str] = []
    for axis in axes:
        if not any(_follows(runs, axis, earlier) and _follows(runs, earlier, axis) for earlier in kept):
            kept.append(axis)
    return kept


def _axis_figure(runs: Sequence[_Run], axis: str, metrics: Sequence[str], models: Sequence[str], colors):
    values = sorted({run.option(axis) for run in runs}, key=_order_key)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    positions = {v: (float(v) if numeric else float(i)) for i, v in enumerate(values)}
    log = numeric and min(values) > 0 and max(values) / min(values) >= 20
    shown = [m for m in metrics if any(run.finished and _finite([run.metrics.get(m)]) for run in runs)]
    if not shown:
        return None
    from matplotlib.transforms import ScaledTranslation

    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, grid = subplots(rows, cols, figsize=(3.7 * cols + 1.6, 2.9 * rows), squeeze=False, layout="constrained")
    dodge = {model: (i - (len(models) - 1) / 2) * 3.0 for i, model in enumerate(models)}  # points, so lines that
    for ax, metric in zip(grid.flat, shown, strict=False):  # coincide stay apart, on a log axis too
        for model in models:
            xs, means, sds = [], [], []
            for value in values:
                mean, sd, n = _stats(
                    [r.metrics.get(metric) for r in runs if r.finished and r.model == model and r.option(axis) == value]
                )
                if n:
                    xs.append(positions[value])
                    means.append(mean)
                    sds.append(sd)
            if xs:
                drawn = [ax.errorbar(xs, means, color=colors[model], marker="o", ms=4, lw=1.2, label=model)]
                spread = [(x, mean, sd) for x, mean, sd in zip(xs, means, sds, strict=True) if math.isfinite(sd)]
                if spread:  # bars only where a point has 2+ runs: one run has no spread, which a bar of 0 implied
                    sx, smean, ssd = zip(*spread, strict=True)
                    drawn.append(ax.errorbar(sx, smean, yerr=ssd, fmt="none", ecolor=colors[model], capsize=3, lw=1.2))
                # Shifted after drawing: the axis limits were taken from the unshifted data.
                shift = ScaledTranslation(dodge[model] / 72, 0.0, fig.dpi_scale_trans)
                for artist in (child for bars in drawn for child in bars.get_children()):
                    artist.set_transform(artist.get_transform() + shift)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel(axis, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if log:
            ax.set_xscale("log")
        ax.set_xticks([positions[v] for v in values], [_show(v) for v in values])
        ax.minorticks_off()
        # Room at both ends for the dodged points (up to 1.5 points x the number of models beyond each end value):
        # matplotlib's 5% margin let the outermost model's points fall past the axis edge.
        ax.margins(x=0.15)
    for ax in list(grid.flat)[len(shown) :]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in grid.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="model", title_fontsize=8)
    return fig


def _mcc_figure(runs: Sequence[_Run], models: Sequence[str], colors):
    pairs = {
        model: [
            (r.metrics["mcc_strong"], r.metrics["mcc_weak"])
            for r in runs
            if r.finished
            and r.model == model
            and len(_finite([r.metrics.get("mcc_strong"), r.metrics.get("mcc_weak")])) == 2
        ]
        for model in models
    }
    pairs = {model: points for model, points in pairs.items() if points}
    if not pairs:
        return None, {}
    every = [v for points in pairs.values() for p in points for v in p]
    lo, hi = min(min(every), 0.0), max(max(every), 1.0)
    pad = 0.03 * (hi - lo)
    cols = min(4, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, grid = subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False, layout="constrained")
    gaps = {}
    for ax, (model, points) in zip(grid.flat, pairs.items(), strict=False):
        strong, weak = np.array(points).T
        gaps[model] = float(np.mean(weak - strong))
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="weak = strong")
        ax.scatter(strong, weak, s=18, color=colors[model], alpha=0.8, edgecolor="none")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal")
        ax.set_title(f"{model}\nmean gap weak - strong {gaps[model]:.3f}", fontsize=9)
        ax.set_xlabel("mcc_strong (1:1 matching and signs only)", fontsize=8)
        ax.set_ylabel("mcc_weak (after the affine map)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(grid.flat)[len(pairs) :]:
        ax.set_visible(False)
    return fig, gaps


# -- sections -------------------------------------------------------------------------------------------------------


def _when(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.2f} h"


def _studies(runs: Sequence[_Run]) -> list[str]:
    """Every study that asked for one of the runs (a store's row lists them in ``studies``)."""
    names = {str(name) for run in runs for name in run.row.get("studies") or [run.row.get("study")] if name is not None}
    return sorted(names)


def _summary(runs: Sequence[_Run], axes: Sequence[str], fixed: Mapping[str, object], settings, models) -> str:
    counts = Counter(run.status for run in runs)
    studies = _studies(runs)
    seconds = [float(s) for s in (run.row.get("seconds") for run in runs) if _number(s) is not None]
    facts: list[tuple[str, object]] = [
        ("studies", ", ".join(studies) or "\u2014"),
        ("runs", len(runs)),
        *((status, counts[status]) for status in ("finished", "failed", "skipped")),
        *((status, n) for status, n in sorted(counts.items()) if status not in ("finished", "failed", "skipped")),
        ("data settings", len(settings)),
        ("models", ", ".join(models) or "\u2014"),
        ("varying options", ", ".join(axes) or "none (one setting)"),
        ("fixed options", ", ".join(f"{k}={_show(v)}" for k, v in fixed.items()) or "\u2014"),
        ("run time, summed", _duration(sum(seconds)) if seconds else "\u2014"),
    ]
    starts = [t for t in (_when(run.row.get("started")) for run in runs) if t is not None]
    ends = [t for t in (_when(run.row.get("finished")) for run in runs) if t is not None]
    try:
        if starts and ends:
            facts.append(
                ("from - to", f"{min(starts).isoformat(' ', 'seconds')} - {max(ends).isoformat(' ', 'seconds')}")
            )
    except TypeError:  # naive and aware times mixed
        pass
    hosts = sorted({str(run.row["host"]) for run in runs if run.row.get("host")})
    if hosts:
        facts.append(("hosts", ", ".join(hosts)))
    threads = Counter(run.row["threads"] for run in runs if type(run.row.get("threads")) is int)
    if threads:
        counts = ", ".join(f"{n} ({count} run{'s' if count > 1 else ''})" for n, count in sorted(threads.items()))
        mixed = ": a fit's last digits depend on its thread count" if len(threads) > 1 else ""
        facts.append(("torch threads of the deep models' fits", counts + mixed))
    versions: dict[str, set[str]] = {}
    for run in runs:
        for name, version in (run.row.get("versions") or {}).items():
            versions.setdefault(str(name), set()).add(str(_hashable(version)))
    if VERSIONS_KEY in versions:  # a run whose versions name no metrics version was scored under version 1
        versions[VERSIONS_KEY] |= {"1" for run in runs if VERSIONS_KEY not in (run.row.get("versions") or {})}
    facts += [(f"version of {name}", " / ".join(sorted(vs))) for name, vs in sorted(versions.items())]
    stale = stale_note([run.row for run in runs if run.finished])
    if stale:
        facts.append(("scored under an earlier metric definition", stale))
    rows = [{"": name, "value": value} for name, value in facts]
    return "<h2 id='summary'>Summary</h2>" + table(rows, text_columns=("", "value"))


SCORED_ROWS = (
    "The scored rows are, for a simulated setting, the sample the model was fitted on (as identifiability papers "
    "score; the alignments and cluster matching are still fitted on one half of them and scored on the other), "
    "and for MNIST / Fashion-MNIST the test split, which the model never saw."
)
GAP_METRICS = ("likelihood_gap", "amortisation_gap", "true_log_likelihood", "elbo", "iw_bound")


def _glossary(metrics: Sequence[str]) -> str:
    from latentid.metrics.report import metric_description
    from latentid.studies.run_one import GAP_ROWS

    rows = []
    for metric in metrics:
        what, where = metric_description(metric)
        if metric in GAP_METRICS:  # a study scores them on a subset (run_one.GAP_ROWS), not on every row
            where = f"the first {GAP_ROWS:,} rows (all when fewer)"
        rows.append({"metric": metric, "what it measures": what or "\u2014", "scored on": where or "\u2014"})
    return table(rows, caption=f"The metrics. {SCORED_ROWS}", text_columns=("metric", "what it measures", "scored on"))


def _axis_level_table(runs: Sequence[_Run], axis: str, models: Sequence[str]) -> str:
    values = sorted({run.option(axis) for run in runs}, key=_order_key)
    rows = []
    for model in models:
        mine = [run for run in runs if run.model == model]
        if mine:
            row = {"model": model}
            for value in values:
                at = [run for run in mine if run.option(axis) == value]
                row[f"{axis}={_show(value)}"] = _levels(at) if at else ""
            rows.append(row)
    columns = ["model", *(f"{axis}={_show(v)}" for v in values)]
    return table(rows, columns, caption=f"Identifiability level (latentid explain) by {axis}", text_columns=columns)


def _setting_tables(runs, settings, axes, models, metrics) -> list[str]:
    parts = ["<h2 id='settings'>Results by setting</h2>"]
    parts.append(
        f"<p class='note'>Mean \u00b1 {SPREAD} of each metric over the finished runs ({_replicates(runs)}); no "
        "spread where one run has the metric; (n=k) where only k of them "
        "have the metric. The level is what latentid explain --run says for the model on the setting: a level of "
        "the identifiability hierarchy, or outside the theory (the linear floors pca, fastica, gmm, and a Bernoulli "
        "likelihood). A model's level holds for data of its own class: on a setting of a lower level (a diagonal "
        "VaDE on full-covariance data) the setting's level is the most it can deliver.</p>"
    )
    for i, setting in enumerate(settings, 1):
        title = _setting_text(setting, axes) if axes else "the only setting"
        mine = [run for run in runs if run.setting == setting]
        rows = []
        for model in models:
            group = [run for run in mine if run.model == model]
            if not group:
                continue
            done = [run for run in group if run.finished]
            row = {"model": model, "level": _levels(group), "runs (finished/all)": f"{len(done)}/{len(group)}"}
            for metric in metrics:
                row[metric] = _mean_sd([run.metrics.get(metric) for run in done], len(done))
            rows.append(row)
        columns = ["model", "level", "runs (finished/all)", *metrics]
        parts.append(f"<h3>Setting {i}: {html.escape(title)}</h3>")
        parts.append(table(rows, columns, text_columns=("model", "level")))
    return parts


def _problem_tables(runs: Sequence[_Run], axes: Sequence[str]) -> list[str]:
    """Sections for the failed runs (their errors), the skipped ones (why) and the runs with warnings."""

    def error(run: _Run) -> str:
        return str(run.row.get("error") or chr(0x2014))

    def warnings(run: _Run) -> str:
        return "\n".join(run.row.get("warnings") or [])

    sections = [  # anchor, heading, the text column, which runs, the column's text
        ("failed", "Failed runs", "error", lambda run: run.status == "failed", error),
        ("skipped", "Skipped runs", "reason", lambda run: run.status == "skipped", error),
        ("warnings", "Runs with warnings", "warnings", warnings, warnings),
    ]
    parts = []
    for anchor, heading, column, selects, text in sections:
        mine = [run for run in runs if selects(run)]
        if not mine:
            continue
        rows = [
            {
                "key": run.key,
                "label": run.label,
                "model": run.model,
                "setting": _setting_text(run.setting, axes),
                "seed": run.seed,
                column: Html(f"<pre>{html.escape(text(run))}</pre>"),
            }
            for run in mine
        ]
        parts.append(f"<h2 id='{anchor}'>{heading} ({len(mine)})</h2>")
        parts.append(table(rows, text_columns=("key", "label", "model", "setting", column)))
    return parts + _unmeasured_table(runs)


def _unmeasured_table(runs: Sequence[_Run]) -> list[str]:
    """A section for the metrics finished runs were asked for but could not measure, and why (pca has no clusters,
    real data no true z): their columns were blank, which read as 'not requested' or 'failed' as well."""
    why: dict[tuple[str, str], int] = {}
    for run in runs:
        if run.status == "finished" and run.row.get("error"):
            key = (run.model, str(run.row["error"]))
            why[key] = why.get(key, 0) + 1
    if not why:
        return []
    rows = [{"model": model, "runs": count, "why": sentence} for (model, sentence), count in why.items()]
    return [
        f"<h2 id='unmeasured'>Metrics not measured ({sum(why.values())} finished runs)</h2>",
        table(rows, ["model", "runs", "why"], text_columns=("model", "why")),
    ]


def _data_seeds(runs: Sequence[_Run]) -> list:
    """The data seeds among ``runs`` (the data sets drawn for a setting), sorted."""
    seeds = {((run.row.get("config") or {}).get("data") or {}).get("data_seed") for run in runs}
    return sorted(seeds - {None}, key=_order_key)


def _replicates(runs: Sequence[_Run]) -> str:
    """What a point's runs replicate: seeds, and the data sets when runs of one setting differ in data_seed (they
    are averaged too, so the spread holds the data's as well as the fit's)."""
    seeds = _data_seeds(runs)
    if len(seeds) < 2:
        return "seeds"
    shown = ", ".join(map(_show, seeds[:6])) + (", ..." if len(seeds) > 6 else "")
    return f"seeds and data sets (data_seed {shown}: the spread is the data's as well as the fit's)"


def _all_runs_table(runs: Sequence[_Run], axes: Sequence[str], metrics: Sequence[str]) -> str:
    rows, classes = [], []
    data_seeds = len(_data_seeds(runs)) > 1
    for run in runs:
        row = {
            "key": run.key,
            "label": run.label,
            "status": run.status,
            "model": run.model,
            "setting": _setting_text(run.setting, axes) if axes else "",
            "seed": run.seed,
            "data_seed": ((run.row.get("config") or {}).get("data") or {}).get("data_seed"),
            "level": level_text(run.level),
        }
        for metric in metrics:
            row[metric] = run.metrics.get(metric)
        seconds = _number(run.row.get("seconds"))
        row["seconds"] = f"{seconds:.1f}" if seconds is not None else None
        rows.append(row)
        classes.append(run.status)
    columns = [
        *("key", "label", "status", "model"),
        *(["setting"] if axes else []),
        "seed",
        *(["data_seed"] if data_seeds else []),
        *("level", *metrics, "seconds"),
    ]
    return f"<h2 id='runs'>Every run ({len(runs)})</h2>" + table(
        rows, columns, text_columns=("key", "label", "status", "model", "setting", "level"), row_classes=classes
    )


# -- the page -------------------------------------------------------------------------------------------------------


def write_study_report(rows: list[dict], out_dir: Path, *, title: str | None = None) -> Path:
    """Write the study report of ``rows`` (a study store's runs) to ``out_dir/index.html``, its plots
    to ``out_dir/figures/`` as PNG and SVG; returns the path of index.html. Plots left in that folder
    by an earlier report that this one does not draw are removed."""
    out_dir = Path(out_dir)
    runs = _parse_runs(rows)
    studies = _studies(runs)
    title = title or ("Study report: " + ", ".join(studies) if studies else "Study report")
    axes, fixed = _axes(runs)
    settings = sorted({run.setting for run in runs}, key=lambda s: [_order_key(dict(s).get(a)) for a in axes])
    models = list(dict.fromkeys(run.model for run in runs))
    metrics = _metrics(runs)
    colors = _colors(models)
    writer = FigureWriter(out_dir / FIGURE_DIR, page_dir=out_dir, defer=True)  # written just before the page

    body = [_summary(runs, axes, fixed, settings, models)]
    if not runs:
        body.append("<p>No runs: nothing to report.</p>")
    elif not metrics:
        body.append("<p>No finished run has a metric: nothing to plot or average. The runs are listed below.</p>")
    if metrics:
        body.append(_glossary(metrics))
        if axes:
            body.append("<h2 id='axes'>Metrics against each varying option</h2>")
        for axis in _plotted_axes(runs, axes):
            subset, fixing = _axis_subset(runs, axis, axes)
            fig = _axis_figure(subset, axis, metrics, models, colors)
            if fig is None:
                continue
            caption = (
                f"Each metric against {axis}, one line per model: the mean over {_replicates(subset)}, error bars "
                f"{SPREAD}, none where a point rests on one run; failed and skipped runs are left out. {fixing}"
            ).rstrip()
            body.append(writer.html(fig, f"Metrics against {axis}", caption, stem=f"metrics-vs-{axis}"))
            body.append(_axis_level_table(subset, axis, models))
        fig, gaps = _mcc_figure(runs, models, colors)
        if fig is not None:
            caption = (
                "mcc_weak (correlation after the best affine map) against mcc_strong (1:1 matching of coordinates "
                "and their signs only), one point per run. Weak is at least strong up to the split's noise (the "
                "affine map, the matching and the signs are fitted on one half and scored on the other); the height "
                "above the diagonal is what only an affine map "
                "recovers: a model identified up to permutation and scaling (level 3), on data of its own class, lies "
                "on it; one identified up to an affine map (levels 1-2) may lie above it."
            )
            body.append("<h2 id='mcc'>Strong against weak MCC</h2>")
            body.append(writer.html(fig, "mcc_weak against mcc_strong", caption, stem="mcc-weak-vs-strong", heading=0))
    body += _setting_tables(runs, settings, axes, models, metrics) if runs else []
    body += _problem_tables(runs, axes)
    body.append(_all_runs_table(runs, axes, metrics))
    earlier = figures_of_report(out_dir)
    writer.flush()
    path = write_page(out_dir / "index.html", title, body)
    _remove_stale(out_dir / FIGURE_DIR, earlier, writer.written)
    return path


def figures_of_report(out_dir: Path) -> set[str]:
    """The names of the figures (in ``out_dir/figures``) that the report already in ``out_dir`` shows or links;
    empty when there is none. Only these are a report's own: any other file there is the user's."""
    try:
        text = (out_dir / "index.html").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {html.unescape(name) for name in re.findall(rf"{FIGURE_DIR}/([^'\"/<>\s]+\.(?:png|svg))", text)}


def _remove_stale(directory: Path, earlier: set[str], written: Sequence[Path]) -> None:
    """Delete the earlier report's figures that this one did not draw again; nothing else."""
    for name in earlier - {p.name for p in written}:
        if (directory / name).is_file():
            (directory / name).unlink()
