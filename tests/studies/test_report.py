"""The study report (latentid.studies.report) and the HTML blocks it shares with the demo's report."""

from __future__ import annotations

import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from latentid.experiments.report import FigureWriter, Html, table, write_html_report
from latentid.studies.report import level_text, write_study_report

PNG = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """The images, links, headings and table cells of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.images: list[dict] = []
        self.links: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag in ("h2", "h3"):
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data):
        for part in (self._cell, self._heading):
            if part is not None:
                part.append(data)

    def table_with(self, header: str) -> list[dict]:
        """The rows (header -> cell) of the first table whose header row has ``header``."""
        for rows in self.tables:
            if rows and header in rows[0]:
                return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
        raise AssertionError(f"no table with a {header!r} column")


def _read(path: Path) -> tuple[str, _Page]:
    text = path.read_text()
    return text, _Page(text)


def _assert_images_on_disk(index: Path, page: _Page) -> None:
    for image in page.images:
        src = image["src"]
        assert not src.startswith(("/", "http", "data:")), src  # relative: the folder can be moved
        assert (index.parent / src).read_bytes().startswith(PNG), src
    for href in page.links:
        assert (index.parent / href).stat().st_size > 0, href


def test_the_grid_report_lists_every_run_with_plots_levels_and_errors(written_report, failed_error):
    index, rows = written_report
    assert index.name == "index.html" and index.is_file()
    text, page = _read(index)
    # Every run, by key, in the table of every run, with its status.
    runs = page.table_with("status")
    assert [r["key"] for r in runs] == [row["key"] for row in rows]
    assert [r["status"] for r in runs].count("failed") == 1
    # One figure per varying option (depth, components) and the MCC scatter; PNG shown, SVG linked, both on disk.
    sources = [image["src"] for image in page.images]
    assert sources == [
        "figures/metrics-vs-depth.png",
        "figures/metrics-vs-components.png",
        "figures/mcc-weak-vs-strong.png",
    ]
    assert {"figures/metrics-vs-depth.svg", "figures/mcc-weak-vs-strong.svg"} <= set(page.links)
    assert (index.parent / "figures/metrics-vs-depth.svg").read_text().lstrip().startswith("<?xml")
    _assert_images_on_disk(index, page)
    assert "error bars one standard deviation over seeds" in text
    assert "fixed where depth takes the most values: components=3" in text
    # The levels, in words, next to the numbers.
    for level in ("level 3: permutation &amp; scaling", "level 2: affine", "vanilla: rotation"):
        assert level in text
    by_depth = page.table_with("depth=2")
    assert by_depth == [
        {"model": "vade", "depth=2": "level 2: affine", "depth=4": "level 2: affine"},
        {"model": "vae", "depth=2": "vanilla: rotation", "depth=4": "vanilla: rotation"},
    ]
    # The failed run's error, escaped, in the table of failed runs.
    assert failed_error not in text and "loss is NaN at epoch 3 &lt;tensor &amp; friends&gt;" in text
    failed = page.table_with("error")
    assert [(r["key"], r["error"]) for r in failed] == [("vade-d4-k6-s3", failed_error)]
    # The summary.
    summary = {r[""]: r["value"] for r in page.table_with("value")}
    assert (summary["runs"], summary["finished"], summary["failed"], summary["skipped"]) == ("25", "24", "1", "0")
    assert summary["studies"] == "grid" and summary["version of torch"] == "2.13.0"
    assert summary["run time, summed"] == "5.2 min"  # 25 x 12.5 s


def test_a_table_per_setting_with_mean_sd_over_seeds_and_the_level(written_report):
    index, _ = written_report
    _, page = _read(index)
    settings = [h for h in page.headings if h.startswith("Setting ")]
    assert settings == [
        "Setting 1: depth=2, components=3",
        "Setting 2: depth=2, components=6",
        "Setting 3: depth=4, components=3",
        "Setting 4: depth=4, components=6",
    ]
    last = [rows for rows in page.tables if rows and rows[0][:3] == ["model", "level", "runs (finished/all)"]][-1]
    cells = [dict(zip(last[0], row, strict=True)) for row in last[1:]]
    vade, vae = cells
    # depth 4: base 0.75 + 0.01 * seed over seeds 0, 1, 2 -> mean 0.76, sd 0.01; the failed seed counted, not averaged.
    assert vade["level"] == "level 3: permutation & scaling" and vade["runs (finished/all)"] == "3/4"
    assert vade["affine_r2"] == "0.760 \u00b1 0.010" and vade["cluster_acc"] == "0.700 \u00b1 0.000"
    assert vae["level"] == "vanilla: rotation" and vae["affine_r2"] == "0.610 \u00b1 0.010"
    assert vae["cluster_acc"] == "\u2014"  # a VAE has no clusters
    assert "likelihood_gap" not in last[0]  # None in every run: not a column


def test_one_setting_gives_tables_and_no_line_plots(tmp_path, make_row):
    rows = [
        make_row(f"r{s}", seed=s, metrics={"affine_r2": 0.9 + s / 100, "mcc_weak": 0.8, "mcc_strong": 0.7})
        for s in range(3)
    ]
    text, page = _read(write_study_report(rows, tmp_path))
    assert [image["src"] for image in page.images] == ["figures/mcc-weak-vs-strong.png"]
    assert "Setting 1: the only setting" in page.headings
    assert [r["key"] for r in page.table_with("status")] == ["r0", "r1", "r2"]
    summary = {r[""]: r["value"] for r in page.table_with("value")}
    assert summary["varying options"] == "none (one setting)"
    assert summary["fixed options"].startswith("depth=2, components=4, noise=0.01, samples=500")


def test_only_failed_and_skipped_runs(tmp_path, make_row):
    rows = [
        make_row("f1", status="failed", error="ValueError: <bad> data"),
        make_row("f2", status="failed", depth=3, error="CUDA out of memory"),
        make_row("s1", model="mfcvae", status="skipped", error="no facets in the data"),
    ]
    text, page = _read(write_study_report(rows, tmp_path, title="Nothing worked"))
    assert page.images == [] and not (tmp_path / "figures").exists()
    assert "<title>Nothing worked</title>" in text and "nothing to plot" in text
    assert [r["key"] for r in page.table_with("status")] == ["f1", "f2", "s1"]
    assert [r["error"] for r in page.table_with("error")] == ["ValueError: <bad> data", "CUDA out of memory"]
    assert [r["reason"] for r in page.table_with("reason")] == ["no facets in the data"]
    summary = {r[""]: r["value"] for r in page.table_with("value")}
    assert (summary["finished"], summary["failed"], summary["skipped"]) == ("0", "2", "1")


def test_nan_none_and_missing_metrics(tmp_path, make_row):
    rows = [
        make_row("a", seed=0, metrics={"affine_r2": 0.9, "mcc_weak": None, "mcc_strong": 0.5}),
        make_row("b", seed=1, metrics={"affine_r2": math.nan, "mcc_strong": 0.7}),
        make_row("c", seed=2, metrics={"affine_r2": 0.8, "mcc_weak": "n/a", "mcc_strong": None, "extra": [1, 2]}),
    ]
    text, page = _read(write_study_report(rows, tmp_path))
    (setting,) = page.table_with("runs (finished/all)")
    assert setting["affine_r2"] == "0.850 \u00b1 0.071 (n=2)"  # NaN left out, and said
    assert setting["mcc_strong"] == "0.600 \u00b1 0.141 (n=2)"
    assert "mcc_weak" not in setting and "extra" not in setting  # no number in any run
    every = {r["key"]: r for r in page.table_with("status")}
    assert every["b"]["affine_r2"] == "nan" and every["c"]["mcc_strong"] == "\u2014"
    assert page.images == []  # no run has both MCCs


def test_an_empty_store(tmp_path):
    text, page = _read(write_study_report([], tmp_path))
    assert "No runs: nothing to report." in text and page.table_with("status") == []


def test_runs_of_one_model_with_different_options_are_different_lines(tmp_path, make_row):
    rows = [
        make_row(f"{lr}-{depth}", depth=depth, options={"epochs": 3, "lr": lr}, metrics={"affine_r2": depth / 10})
        for lr in (0.001, 0.01)
        for depth in (1, 2)
    ]
    _, page = _read(write_study_report(rows, tmp_path))
    assert [r["model"] for r in page.table_with("depth=1")] == ["vade (lr=0.001)", "vade (lr=0.01)"]


def test_a_skipped_run_s_options_make_no_line_and_facets_read_as_written(tmp_path, make_row):
    """MFC-VAE skipped on data without facets keeps the class's default facets: the report showed a second
    'mfcvae (facets=[[2, 4], [2, 4]])' line, declared nowhere, and the facets as nested lists."""
    fitted = {"facets": [[1, 2], [1, 3]]}
    rows = [
        make_row(f"f{seed}", model="mfcvae", seed=seed, options=fitted, metrics={"affine_r2": 0.5}) for seed in (0, 1)
    ]
    rows += [
        make_row(f"s{seed}", model="mfcvae", seed=seed, depth=3, status="skipped", options={"facets": [[2, 4], [2, 4]]})
        for seed in (0, 1)
    ]
    text, _ = _read(write_study_report(rows, tmp_path))
    assert "facets=" not in text
    rows += [
        make_row(f"g{seed}", model="mfcvae", seed=seed, options={"facets": [[2, 2]]}, metrics={"affine_r2": 0.4})
        for seed in (0, 1)
    ]
    text, _ = _read(write_study_report(rows, tmp_path / "two"))
    assert "mfcvae (facets=1:2,1:3)" in text and "mfcvae (facets=2:2)" in text and "[[" not in text


def test_an_option_set_from_the_data_makes_no_line_of_its_own(tmp_path, make_row):
    # Before: VaDE's n_components (which follows the data's components) split it into one-point series,
    # "vade (n_components=3)" and "vade (n_components=6)", so no VaDE line ran along the components axis.
    rows = [
        make_row(
            f"{k}-{seed}", components=k, seed=seed, options={"epochs": 3, "n_components": k}, metrics={"affine_r2": 0.5}
        )
        for k in (3, 6)
        for seed in (0, 1)
    ]
    _, page = _read(write_study_report(rows, tmp_path))
    assert {r["model"] for r in page.table_with("components=3")} == {"vade"}


def test_an_option_the_study_file_set_differently_per_setting_keeps_its_own_lines(tmp_path, make_row):
    """Two edits of a study into one store, epochs 2 at depth 1 and 40 at depth 2: merged into one 'vade' line
    as if only depth changed, epochs nowhere in the report."""
    rows = [
        make_row(f"{depth}-{seed}", depth=depth, seed=seed, options={"epochs": epochs}, metrics={"affine_r2": 0.5})
        for depth, epochs in ((1, 2), (2, 40))
        for seed in (0, 1)
    ]
    _, page = _read(write_study_report(rows, tmp_path))
    assert {r["model"] for r in page.table_with("depth=1")} == {"vade (epochs=2)", "vade (epochs=40)"}


def test_the_plot_fixes_the_other_options_where_the_axis_has_values_not_at_their_mode(tmp_path, make_row):
    """depth 1-2 x K 3-4 at one noise, and depth 3 at two noises: the mode (depth 1) has one noise, so the noise
    plot averaged every setting and said no setting had two noises, which depth 3 has."""
    rows = [
        make_row(f"a{depth}{k}", depth=depth, components=k, metrics={"affine_r2": 0.5})
        for depth in (1, 2)
        for k in (3, 4)
    ]
    for i, noise in enumerate((0.01, 0.1)):
        row = make_row(f"b{i}", depth=3, components=3, metrics={"affine_r2": 0.9 - i / 2})
        row["config"]["data"]["noise"] = noise
        rows.append(row)
    text, _ = _read(write_study_report(rows, tmp_path))
    assert "fixed where noise takes the most values: depth=3, components=3" in text


def test_with_no_setting_holding_two_values_the_plot_averages_and_says_so(tmp_path, make_row):
    rows = [
        make_row(f"r{i}", depth=depth, components=k, metrics={"affine_r2": 0.5 + i / 10})
        for i, (depth, k) in enumerate([(1, 3), (1, 6), (2, 9), (3, 12)])
    ]
    text, page = _read(write_study_report(rows, tmp_path))
    assert [image["src"] for image in page.images] == [
        "figures/metrics-vs-depth.png",
        "figures/metrics-vs-components.png",
    ]
    assert "Averaged over the other varying options (components)" in text
    assert "depth follows components (one value at each components)" in " ".join(text.split())


def test_an_option_that_follows_the_axis_is_not_fixed_nor_plotted_again(tmp_path, make_row):
    """obs_dim given per latent_dim ({ 2 = 6, 3 = 8 }): the latent_dim figure averaged over K, 'no one setting of
    them has two values of latent_dim', and obs_dim got a figure repeating latent_dim's."""
    rows = []
    for m, k, seed in [(m, k, seed) for m in (2, 3) for k in (2, 4) for seed in (0, 1)]:
        row = make_row(f"m{m}k{k}s{seed}", components=k, seed=seed, metrics={"affine_r2": 0.5 + m / 10 + k / 100})
        row["config"]["data"].update(latent_dim=m, obs_dim={2: 6, 3: 8}[m])
        rows.append(row)
    text, page = _read(write_study_report(rows, tmp_path))
    shown = [image["src"] for image in page.images]
    assert {"figures/metrics-vs-latent-dim.png", "figures/metrics-vs-components.png"} <= set(shown)
    assert not [src for src in shown if "obs" in src], shown
    words = " ".join(text.split())
    assert "fixed where latent_dim takes the most values: components=2. obs_dim follows latent_dim" in words


def test_a_report_written_again_drops_the_old_plots(tmp_path, study_rows, make_row):
    write_study_report(study_rows, tmp_path)
    assert (tmp_path / "figures" / "metrics-vs-depth.svg").exists()
    (tmp_path / "figures" / "mine.txt").write_text("kept")
    (tmp_path / "figures" / "my_plot.png").write_bytes(b"a figure the report never drew")
    rows = [make_row(f"r{s}", seed=s, metrics={"mcc_weak": 0.8, "mcc_strong": 0.7}) for s in range(2)]
    index = write_study_report(rows, tmp_path)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "mcc-weak-vs-strong.png",
        "mcc-weak-vs-strong.svg",
        "mine.txt",
        "my_plot.png",
    ]
    _assert_images_on_disk(index, _read(index)[1])


def test_level_text():
    assert [level_text(v) for v in ("3", "2", "1", "vanilla", "none", None)] == [
        "level 3: permutation & scaling",
        "level 2: affine",
        "level 1",
        "vanilla: rotation",
        "outside the theory",
        "not assessed",
    ]


# -- the shared blocks (latentid.experiments.report) ----------------------------------------------------------------


def test_tables_escape_their_cells_but_not_html_cells():
    out = table([{"a<b": "<script>", "n": 1.23456, "x": None}, {"a<b": Html("<b>ok</b>")}])
    assert "<th>a&lt;b</th>" in out and "&lt;script&gt;" in out and "<script>" not in out
    assert "<td>1.235</td>" in out and "<td>\u2014</td>" in out and "<b>ok</b>" in out


def _figure():
    from latentid.experiments.report import subplots

    fig, ax = subplots()
    ax.plot([0, 1], [0, 1])
    return fig


def test_a_figure_is_embedded_or_written_beside_the_page_by_one_writer(tmp_path):
    embedded = FigureWriter().html(_figure(), "A <plot>")
    assert "src='data:image/png;base64," in embedded and "A &lt;plot&gt;" in embedded
    writer = FigureWriter(tmp_path / "figs", page_dir=tmp_path)
    first, second = writer.html(_figure(), "Same title"), writer.html(_figure(), "Same title")
    assert "src='figs/same-title.png'" in first and "src='figs/same-title-2.png'" in second
    assert [p.name for p in writer.written] == [
        "same-title.png",
        "same-title.svg",
        "same-title-2.png",
        "same-title-2.svg",
    ]
    assert all(p.stat().st_size > 0 for p in writer.written)


def test_the_demo_report_embeds_its_figures_or_writes_them(tmp_path):
    rows = [{"method": "oracle", "affine_r2": 0.99, "likelihood_gap": None}]
    path = write_html_report(tmp_path / "report.html", "demo", rows, {"curves": _figure()}, ["a note & more"])
    text = path.read_text()
    assert text.count("data:image/png;base64,") == 1 and "<table>" in text and "a note &amp; more" in text
    path = write_html_report(tmp_path / "r2.html", "demo", rows, {"curves": _figure()}, figure_dir=tmp_path / "f")
    assert "src='f/curves.png'" in path.read_text() and (tmp_path / "f" / "curves.svg").exists()


def test_the_dodged_points_of_every_model_stay_inside_the_axes(make_row):
    # Before: the per-model dodge was applied after the axis limits were set: with several models the outermost
    # one's points at the last setting fell past the axis edge (helper report: the best model barely showed).
    from latentid.studies.report import _axis_figure, _colors, _parse_runs

    models = [f"m{i}" for i in range(12)]
    rows = [
        make_row(
            f"{model}-{k}", model=model, components=k, metrics={"affine_r2": 0.5, "mcc_weak": 0.4, "mcc_strong": 0.3}
        )
        for model in models
        for k in (3, 6)
    ]
    metrics = ["affine_r2", "mcc_weak", "mcc_strong"]
    figure = _axis_figure(_parse_runs(rows), "components", metrics, models, _colors(models))
    figure.canvas.draw()
    ax = figure.axes[0]
    box = ax.get_window_extent()
    for line in ax.lines:
        for x, y in line.get_transform().transform(line.get_xydata()):
            assert box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1, (line.get_label(), x, box)


def test_the_glossary_says_the_gaps_are_scored_on_the_first_rows_only(tmp_path, make_row):
    """A study scores the likelihood gap on run_one.GAP_ROWS rows; the glossary said 'all samples'."""
    rows = [make_row(f"r{seed}", seed=seed, metrics={"likelihood_gap": 1.0 + seed}) for seed in (0, 1)]
    text, page = _read(write_study_report(rows, tmp_path))
    (gap,) = [row for row in page.table_with("scored on") if row["metric"] == "likelihood_gap"]
    assert gap["scored on"] == "the first 2,000 rows (all when fewer)"
    # and which rows: a simulated setting's runs are scored on the sample they were fitted on
    assert "for a simulated setting, the sample the model was fitted on" in " ".join(text.split())


def test_option_values_that_print_alike_stay_two_lines(make_row):
    """tol 1e-4 and 1.0000001e-4 both printed as 'tol=0.0001': one legend entry, their runs pooled."""
    from latentid.studies.report import _parse_runs
    from latentid.studies.spec import display

    rows = [make_row(f"r{i}", model="fastica", options={"tol": tol}) for i, tol in enumerate((1e-4, 1.0000001e-4))]
    assert len({run.model for run in _parse_runs(rows)}) == 2
    assert display(1e-4) == "0.0001" and display(1.0000001e-4) != display(1e-4)


def test_a_point_of_one_run_has_no_error_bar(make_row):
    """One run per point drew a bar of 0, the same as a real spread of 0."""
    from latentid.studies.report import _axis_figure, _colors, _parse_runs

    rows = [make_row(f"r{k}", components=k, metrics={"affine_r2": 0.5}) for k in (3, 6)]
    rows += [make_row(f"s{seed}", components=9, seed=seed, metrics={"affine_r2": 0.5 + seed / 10}) for seed in (0, 1)]
    runs = _parse_runs(rows)
    figure = _axis_figure(runs, "components", ["affine_r2"], ["vade"], _colors(["vade"]))
    ax = figure.axes[0]
    bars = [c for c in ax.collections if len(c.get_segments())]
    assert len(bars) == 1 and len(bars[0].get_segments()) == 1  # the point of 2 runs alone


def test_runs_of_several_data_seeds_are_said_to_be_pooled(tmp_path, make_row):
    """data_seed 0-2 averaged into each point under 'the mean over seeds', and named nowhere on the page."""
    from latentid.studies.report import write_study_report

    def row(key, seed, data_seed, depth):
        made = make_row(key, depth=depth, seed=seed, metrics={"affine_r2": 0.5})
        made["config"]["data"]["data_seed"] = data_seed
        return made

    rows = [row(f"r{d}{s}{k}", s, d, k) for d in (0, 1, 2) for s in (0, 1) for k in (1, 3)]
    page = write_study_report(rows, tmp_path / "pooled").read_text()
    assert "seeds and data sets (data_seed 0, 1, 2" in page and "<th>data_seed</th>" in page
    single = [row(f"q{s}{k}", s, 0, k) for s in (0, 1) for k in (1, 3)]
    page = write_study_report(single, tmp_path / "one").read_text()
    assert "data sets (data_seed" not in page and "<th>data_seed</th>" not in page


def test_metrics_a_finished_run_could_not_measure_are_said_why(tmp_path, make_row):
    """pca's blank cluster_acc could mean not requested, not measured or failed: the store's 'not measured' note
    appeared nowhere in the report."""
    from latentid.studies.report import write_study_report

    note = "not measured: cluster_acc (pca has no clusters to score)"
    rows = [make_row(f"p{s}", model="pca", seed=s, metrics={"affine_r2": 0.5}, error=note) for s in (0, 1)]
    rows.append(make_row("v0", model="vade", metrics={"affine_r2": 0.6}))
    page = write_study_report(rows, tmp_path / "r").read_text()
    assert "Metrics not measured (2 finished runs)" in page and "pca has no clusters to score" in page
    clean = write_study_report([make_row("v1", metrics={"affine_r2": 0.6})], tmp_path / "c").read_text()
    assert "Metrics not measured" not in clean


def test_runs_on_a_data_set_without_the_axis_are_left_out_of_its_figure(make_row):
    """MNIST runs (no depth) drew a '—' point joined to the simulated depths by a line, as if a trend."""
    from latentid.studies.report import _axis_subset, _parse_runs

    rows = [make_row(f"s{k}", depth=k, metrics={"affine_r2": 0.5}) for k in (1, 3)]
    mnist = make_row("m", metrics={"affine_r2": 0.4})
    mnist["config"]["data"] = {"dataset": "mnist", "n_train": 300, "depth": None}
    runs = _parse_runs([*rows, mnist])
    subset, words = _axis_subset(runs, "depth", ["depth"])
    assert {run.key for run in subset} == {"s1", "s3"} and "Runs on mnist, which has no depth, are left out" in words
    alone, said = _axis_subset(_parse_runs(rows), "depth", ["depth"])
    assert len(alone) == 2 and "left out" not in said


def test_figures_leave_the_calling_programs_matplotlib_backend_alone(tmp_path, recwarn):
    """matplotlib.use('Agg', force=False) switched a notebook's or GUI's backend to Agg (force=False only quiets
    import errors), so its own figures stopped showing; and an alignment figure without labels warned 'No data for
    colormapping'."""
    import matplotlib

    from latentid.experiments.consistency_plots import consistency_figure, latents_figure, save_png
    from latentid.experiments.report import alignment_figure, curves_figure

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        z = np.random.default_rng(0).normal(size=(50, 2))
        FigureWriter().html(alignment_figure(z, {"fit": z}), "aligned")
        FigureWriter().html(curves_figure({"a": [1.0, 2.0]}), "curves")
        save_png(latents_figure(z, np.arange(50) % 3, "latents"), tmp_path / "latents.png")
        matrix = np.array([[1.0, 0.5], [0.5, 1.0]])
        save_png(consistency_figure(matrix, matrix, "agreement"), tmp_path / "consistency.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "latents.png").read_bytes()[:4] == b"\x89PNG"
    assert not [w for w in recwarn if "colormapping" in str(w.message)]
