"""The chance level of strong MCC: latentid's ``mcc_strong`` (1:1 matching chosen on the held-out rows it scores)
against the same score with the matching chosen on the fit part, for learned latents unrelated to the true ones
(independent standard normals), mean over draws. A strong MCC measured on few rows is read against this floor.

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


def matched_on_fit_part(z: np.ndarray, h: np.ndarray) -> float:
    """Mean |Pearson| on the held-out rows of the pairs matched on the fit rows (the report's split)."""
    m = z.shape[1]
    fit, held = split_indices(len(z), 0.5, 0, 4)
    on_fit = np.abs(np.corrcoef(z[fit], h[fit], rowvar=False)[:m, m:])
    rows, cols = linear_sum_assignment(-on_fit)
    return float(np.abs(np.corrcoef(z[held], h[held], rowvar=False)[:m, m:])[rows, cols].mean())


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
    print("| rows | m | mcc_strong (matched on the scored rows) | matched on the fit part |")
    print("|---|---|---|---|")
    for n, m in settings:
        ours, other = [], []
        for _ in range(args.draws):
            z, h = rng.normal(size=(n, m)), rng.normal(size=(n, m))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours.append(identifiability_report(z, h)["mcc_strong"])
            other.append(matched_on_fit_part(z, h))
        rows_out.append({"rows": n, "m": m, "mcc_strong": float(np.mean(ours)), "fit_part": float(np.mean(other))})
        print(f"| {n} | {m} | {np.mean(ours):.3f} | {np.mean(other):.3f} |")
    print(json_line({"draws": args.draws, "seed": args.seed, "settings": rows_out}))


if __name__ == "__main__":
    main()
