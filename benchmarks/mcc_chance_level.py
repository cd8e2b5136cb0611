"""The chance level of strong MCC: latentid's ``mcc_strong`` (1:1 matching and signs chosen on the fit rows, the
held-out rows scored) against the two ways it is often computed, for learned latents unrelated to the true ones
(independent standard normals), mean over draws: the matching chosen on the held-out rows it scores (latentid's
definition before metrics version 2), and the absolute correlations of the pairs matched on the fit rows (signs
not carried over). A strong MCC measured on few rows is read against this floor.

Prints a Markdown table and one JSON line.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/mcc_chance_level.py
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from arguments import non_negative_int, positive_int
from json_line import json_line
from scipy.optimize import linear_sum_assignment

from latentid.metrics import identifiability_report, split_indices


def _abs_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = a.shape[1]
    return np.abs(np.corrcoef(a, b, rowvar=False)[:m, m:])


def matched_on_scored_rows(z: np.ndarray, h: np.ndarray) -> float:
    """Mean |Pearson| of the pairs matched on the held-out rows it scores (the report's split)."""
    held = split_indices(len(z), 0.5, 0, 4)[1]
    corr = _abs_corr(z[held], h[held])
    return float(corr[linear_sum_assignment(-corr)].mean())


def abs_matched_on_fit_rows(z: np.ndarray, h: np.ndarray) -> float:
    """Mean |Pearson| on the held-out rows of the pairs matched on the fit rows."""
    fit, held = split_indices(len(z), 0.5, 0, 4)
    return float(_abs_corr(z[held], h[held])[linear_sum_assignment(-_abs_corr(z[fit], h[fit]))].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=["200x10", "200x3", "10000x10"], help="ROWSxDIMS")
    parser.add_argument("--draws", type=positive_int, default=50)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    args = parser.parse_args()
    try:
        settings = [tuple(int(v) for v in s.lower().split("x")) for s in args.settings]
    except ValueError:
        parser.error(f"--settings: each must be ROWSxDIMS, e.g. 200x10; got {args.settings}")
    rng = np.random.default_rng(args.seed)
    rows_out = []
    print("| rows | m | mcc_strong | matched on the scored rows (version 1) | abs. corr. of the fit rows' pairs |")
    print("|---|---|---|---|---|")
    for n, m in settings:
        ours, scored, unsigned = [], [], []
        for _ in range(args.draws):
            z, h = rng.normal(size=(n, m)), rng.normal(size=(n, m))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours.append(identifiability_report(z, h)["mcc_strong"])
            scored.append(matched_on_scored_rows(z, h))
            unsigned.append(abs_matched_on_fit_rows(z, h))
        figures = {"mcc_strong": np.mean(ours), "scored_rows": np.mean(scored), "abs_fit_rows": np.mean(unsigned)}
        rows_out.append({"rows": n, "m": m, **{k: float(v) for k, v in figures.items()}})
        print(f"| {n} | {m} | " + " | ".join(f"{v:.3f}" for v in figures.values()) + " |")
    print(json_line({"draws": args.draws, "seed": args.seed, "settings": rows_out}))


if __name__ == "__main__":
    main()
