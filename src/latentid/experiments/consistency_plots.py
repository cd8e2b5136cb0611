"""The seed-consistency study's two figures, as PNG files written atomically (drawn without pyplot, so the
calling program's matplotlib backend is left alone).

- ``latents_<model>.png``: seed 0's test latents in 2-D (the first two principal components), coloured
  by class (by predicted cluster, or one colour, when the data have no labels);
- ``consistency_<model>.png``: heat maps of the pairwise strong and weak MCC across seeds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from latentid._atomic import atomic_path
from latentid.experiments.report import subplots


def pca_2d(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components of z (n, m) -> (n, 2) and their shares of the variance (2,).

    With m = 1 the second column is zero (and its share 0).
    """
    centred = np.asarray(z, dtype=np.float64) - np.mean(z, axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    coords = np.zeros((len(centred), 2))
    coords[:, :k] = centred @ vt[:k].T
    total = float(np.sum(s**2))
    shares = np.zeros(2)
    shares[:k] = (s[:k] ** 2) / total if total > 0 else 0.0
    return coords, shares


def latents_figure(z: np.ndarray, colours: np.ndarray | None, title: str, colour_label: str = "class"):
    """Scatter of the 2-D PCA of z (n, m), coloured by ``colours`` (n,) int labels (None: one colour)."""
    coords, shares = pca_2d(z)
    fig, ax = subplots(figsize=(5.2, 4.6))
    if colours is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=3, alpha=0.5, color="C0", linewidths=0)
    else:
        classes = np.unique(colours)
        from matplotlib import colormaps

        cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, value in enumerate(classes):
            rows = colours == value
            ax.scatter(
                coords[rows, 0], coords[rows, 1], s=3, alpha=0.6, color=cmap(i % cmap.N), linewidths=0, label=value
            )
        if len(classes) <= 20:
            ax.legend(title=colour_label, fontsize=7, title_fontsize=8, markerscale=3, loc="best", frameon=False)
    ax.set_xlabel(f"PC 1 ({100 * shares[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * shares[1]:.0f}% of variance)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def consistency_figure(strong: np.ndarray, weak: np.ndarray, title: str):
    """Two heat maps side by side: pairwise strong and weak MCC, each (S, S) with 1 on the diagonal."""
    n = len(strong)
    fig, axes = subplots(1, 2, figsize=(4.0 + 0.9 * n, 2.3 + 0.45 * n), squeeze=False)
    for ax, values, name in zip(axes[0], (strong, weak), ("strong MCC", "weak MCC (affine)"), strict=True):
        values = np.asarray(values, dtype=float)
        image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis")
        for i in range(n):
            for j in range(n):
                text = "n/a" if not np.isfinite(values[i, j]) else f"{values[i, j]:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="w" if values[i, j] < 0.6 else "k")
        ax.set_xticks(range(n), [str(s) for s in range(n)])
        ax.set_yticks(range(n), [str(s) for s in range(n)])
        ax.set_xlabel("seed")
        ax.set_ylabel("seed")
        ax.set_title(name, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_png(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def _matrix(entry: Mapping) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in entry["matrix"]], dtype=float)


def write_figures(
    out: str | os.PathLike,
    first_latents: Mapping[str, np.ndarray],
    cross_seed: Mapping[str, Mapping],
    classes: np.ndarray | None,
    predicted: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, str]]:
    """Write both figures per model into ``out``; returns {model: {'latents': file, 'consistency': file}}.

    first_latents[model] : (n_test, m) seed 0's test latents; cross_seed[model] : the study's cross-seed
    figures (``mcc_strong`` and ``mcc_weak`` matrices); classes : (n_test,) true labels or None;
    predicted[model] : (n_test,) seed 0's clusters, the colours when there are no classes.
    """
    out = Path(out)
    written: dict[str, dict[str, str]] = {}
    for name, z in first_latents.items():
        colours, label = classes, "class"
        if colours is None and predicted is not None and predicted.get(name) is not None:
            colours, label = predicted[name], "cluster"
        latents = f"latents_{name}.png"
        title = f"{name}: seed 0 test latents ({len(z):,} points, m = {z.shape[1]})"
        save_png(latents_figure(z, colours, title, label), out / latents)
        matrices = cross_seed[name]
        heat = f"consistency_{name}.png"
        save_png(
            consistency_figure(
                _matrix(matrices["mcc_strong"]), _matrix(matrices["mcc_weak"]), f"{name}: agreement across seeds"
            ),
            out / heat,
        )
        written[name] = {"latents": latents, "consistency": heat}
    return written
