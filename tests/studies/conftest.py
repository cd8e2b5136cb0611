"""Fixtures for the study report's tests: synthetic store rows (no training)."""

from __future__ import annotations

import itertools

import pytest


def _make_row(
    key: str,
    *,
    model: str = "vade",
    depth: int = 2,
    components: int = 4,
    seed: int = 0,
    status: str = "finished",
    metrics: dict | None = None,
    level: str | None = "2",
    error: str | None = None,
    study: str = "grid",
    options: dict | None = None,
) -> dict:
    """One row as a study store returns it."""
    return {
        "key": key,
        "study": study,
        "label": f"{model} depth={depth} K={components} seed={seed}",
        "status": status,
        "config": {
            "data": {
                "latent_dim": 2,
                "obs_dim": 10,
                "depth": depth,
                "components": components,
                "noise": 0.01,
                "samples": 500,
                "data_seed": seed,
            },
            "model": model,
            "options": options if options is not None else {"epochs": 3},
            "seed": seed,
            "metrics": ["affine_r2", "mcc_weak", "mcc_strong"],
        },
        "metrics": metrics if metrics is not None else {},
        "level": level,
        "error": error,
        "seconds": 12.5,
        "started": "2025-01-02T10:00:00",
        "finished": "2025-01-02T10:00:12",
        "versions": {"latentid": "0.1.0", "torch": "2.13.0"},
        "artifacts": {},
        "host": "testhost",
    }


FAILED_ERROR = "RuntimeError: loss is NaN at epoch 3 <tensor & friends>"


def _grid_rows() -> list[dict]:
    """depth {2, 4} x components {3, 6} x models {vade, vae} x seeds {0, 1, 2}, plus one failed run.

    VaDE has cluster_acc, the VAE has not; levels: VaDE 3 with 6 components, 2 with 3; the VAE vanilla.
    """
    rows = []
    for depth, components, model, seed in itertools.product((2, 4), (3, 6), ("vade", "vae"), (0, 1, 2)):
        base = 0.95 - 0.05 * depth + 0.01 * seed
        metrics = {
            "affine_r2": base if model == "vade" else base - 0.15,
            "mcc_weak": base - 0.02,
            "mcc_strong": base - (0.05 if model == "vade" else 0.3),
            "permutation_r2": base - 0.1,
            "likelihood_gap": None,
        }
        if model == "vade":
            metrics["cluster_acc"] = 0.6 + 0.05 * components / 3
        level = ("3" if components == 6 else "2") if model == "vade" else "vanilla"
        key = f"{model}-d{depth}-k{components}-s{seed}"
        rows.append(
            _make_row(key, model=model, depth=depth, components=components, seed=seed, metrics=metrics, level=level)
        )
    rows.append(
        _make_row(
            "vade-d4-k6-s3", depth=4, components=6, seed=3, status="failed", metrics={}, level="3", error=FAILED_ERROR
        )
    )
    return rows


@pytest.fixture
def make_row():
    """The function that makes one store row: make_row(key, model=, depth=, components=, seed=, status=, ...)."""
    return _make_row


@pytest.fixture
def study_rows() -> list[dict]:
    """A fresh copy of the grid's rows (see _grid_rows)."""
    return _grid_rows()


@pytest.fixture
def failed_error() -> str:
    """The error of the grid's failed run."""
    return FAILED_ERROR


@pytest.fixture(scope="session")
def written_report(tmp_path_factory):
    """The grid's report, written once: (index.html's path, the rows)."""
    from latentid.studies.report import write_study_report

    rows = _grid_rows()
    return write_study_report(rows, tmp_path_factory.mktemp("report")), rows


@pytest.fixture
def grid_store(tmp_path, study_rows):
    """A results store at tmp_path / 'r.db' holding the grid's rows (see _grid_rows)."""
    from latentid.studies.store import ResultStore

    path = tmp_path / "r.db"
    with ResultStore(path) as opened:
        for row in study_rows:
            opened.record(row)
    return path
