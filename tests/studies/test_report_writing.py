"""A report replaced or written twice at once: the page and its figures always belong to one report."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from latentid._folder_lock import folder_lock
from latentid.cli import app
from latentid.studies import report as report_module

runner = CliRunner()


def files_of(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def store(grid_store):
    return grid_store


def test_a_report_stopped_while_it_draws_leaves_the_old_page_with_its_own_figures(store, tmp_path, monkeypatch):
    """The figures were written under their final names as they were drawn, before the page: a --force stopped
    part-way left the old page showing some of the new report's plots, without a word."""
    out = tmp_path / "report"
    assert runner.invoke(app, ["report", str(store), "--out", str(out)]).exit_code == 0
    before = files_of(out)
    assert any(name.startswith("figures/") for name in before)
    real_mcc_figure = report_module._mcc_figure

    def stopped(*args, **kwargs):  # the last figure: every other one is drawn by now
        real_mcc_figure(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "_mcc_figure", stopped)
    monkeypatch.setattr(report_module, "_colors", lambda models: {m: f"C{i + 5}" for i, m in enumerate(models)})
    result = runner.invoke(app, ["report", str(store), "--out", str(out), "--force"])
    assert result.exit_code == 130
    assert files_of(out) == before


def test_a_second_report_into_the_folder_of_one_being_written_is_refused(store, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    with folder_lock(out, "held"):  # what a report being written holds (an flock: per open file, also in-process)
        result = runner.invoke(app, ["report", str(store), "--out", str(out)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "another 'latentid report' is writing into it" in result.stderr and not any(out.iterdir())
    assert runner.invoke(app, ["report", str(store), "--out", str(out)]).exit_code == 0
