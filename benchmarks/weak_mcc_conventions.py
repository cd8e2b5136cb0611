"""Two readings of "weak MCC" between two runs' latents, on the same pairs: latentid's ``mcc_weak`` (each run
regressed on the other by an affine map fitted on half the rows, matched 1:1 on the other half, the two
directions averaged) and ``mcc_cca`` (canonical pairs fitted on half the rows, their mean correlation on the
other half: ICE-BeeM's cross-seed weak MCC is of this kind). Which one a published figure is decides what it
may be compared with.

Each pair is two noisy invertible linear maps of one z (n rows, m dimensions, per-dimension scales spread
0.3-2), with noise of ``scale`` times spread per-column levels, the two runs' levels in opposite orders.

Prints a Markdown table and one JSON line.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/weak_mcc_conventions.py
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from arguments import non_negative_int, positive_int
from json_line import json_line

from latentid.metrics import consistency


def noisy_pair(n: int, m: int, scale: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two (n, m) noisy linear views of one latent z (n, m)."""
    z = rng.standard_normal((n, m)) * np.linspace(0.3, 2.0, m)
    a = z @ rng.standard_normal((m, m)) + scale * rng.standard_normal((n, m)) * np.linspace(0.5, 3.0, m)
    b = z @ rng.standard_normal((m, m)) + scale * rng.standard_normal((n, m)) * np.linspace(3.0, 0.5, m)
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=positive_int, default=10_000, help="rows per run (default 10000)")
    parser.add_argument("--dims", type=positive_int, default=10, help="latent dimensions m (default 10)")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.1, 0.2, 0.3], help="noise scales")
    parser.add_argument("--seed", type=non_negative_int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    print("| noise scale | mcc_weak (affine, both directions) | mcc_cca (CCA, ICE-BeeM's kind) |")
    print("|---|---|---|")
    for scale in args.scales:
        a, b = noisy_pair(args.n, args.dims, scale, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = consistency(a, b)
        rows.append({"scale": scale, "mcc_weak": scores["mcc_weak"], "mcc_cca": scores["mcc_cca"]})
        print(f"| {scale:g} | {scores['mcc_weak']:.3f} | {scores['mcc_cca']:.3f} |")
    print(json_line({"n": args.n, "m": args.dims, "seed": args.seed, "pairs": rows}))


if __name__ == "__main__":
    main()
