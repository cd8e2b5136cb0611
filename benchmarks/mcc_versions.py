"""Strong and weak MCC under metrics version 1 and version 2 on real fits: do figures measured before the change
still stand?

Version 1 chose strong MCC's 1:1 matching (absolute correlations) on the held-out rows it scored, and matched
weak MCC's affine predictions to the true coordinates on those rows again; version 2 (``mcc_strong``,
``mcc_weak`` now) chooses the matching and signs on the fit rows and pairs each coordinate with its own
prediction. Fits and data are those of ``ivae_comparison.py`` (level-3 settings, posterior means of a test
sample), scored by ``identifiability_report`` with the benchmark's split and seed.

Prints one JSON line per fit, a Markdown table (means over seeds, largest difference) and one JSON line.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/mcc_versions.py --dims 2 5 --methods pca fastica ivae vae --jobs 2
"""

from __future__ import annotations

import argparse
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from arguments import non_negative_int, positive_int
from ivae_comparison import METHODS, fit_and_encode, generator
from json_line import json_line
from scipy.optimize import linear_sum_assignment
from sklearn.linear_model import LinearRegression

from latentid.metrics import identifiability_report, split_indices


def _abs_matched_mean(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |Pearson| of the 1:1 matching of a's (n, m) and b's (n, m) columns that maximises it on these rows."""
    m = a.shape[1]
    corr = np.abs(np.corrcoef(a, b, rowvar=False)[:m, m:])
    return float(corr[linear_sum_assignment(-corr)].mean())


def version_1(z: np.ndarray, z_hat: np.ndarray, seed: int) -> tuple[float, float]:
    """(strong, weak) MCC as metrics version 1 scored them, on the report's split (0.5, ``seed``)."""
    fit, held = split_indices(len(z), 0.5, seed, 4)
    predicted = LinearRegression().fit(z_hat[fit], z[fit]).predict(z_hat[held])
    return _abs_matched_mean(z[held], z_hat[held]), _abs_matched_mean(z[held], predicted)


def run_one(job: tuple[int, int, str, int, int]) -> dict:
    m, seed, method, n_train, n_test = job
    torch.set_num_threads(1)
    gen = generator(m, seed)
    train = gen.sample(n_train, random_state=1000 + seed)
    test = gen.sample(n_test, random_state=2000 + seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z_hat = fit_and_encode(method, train, test, gen, m, seed, {})
        report = identifiability_report(test.z, z_hat, split=0.5, seed=seed)
    strong_1, weak_1 = version_1(test.z, z_hat, seed)
    return {
        "m": m,
        "seed": seed,
        "method": method,
        "strong_v1": strong_1,
        "strong_v2": report["mcc_strong"],
        "weak_v1": weak_1,
        "weak_v2": report["mcc_weak"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=positive_int, nargs="+", default=[2, 5])
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=["pca", "fastica", "ivae", "vae"], choices=METHODS)
    parser.add_argument("--n-train", type=positive_int, default=10_000)
    parser.add_argument("--n-test", type=positive_int, default=4_000)
    parser.add_argument("--jobs", type=positive_int, default=1, help="parallel processes (1 torch thread each)")
    args = parser.parse_args()
    jobs = [(m, s, meth, args.n_train, args.n_test) for m in args.dims for meth in args.methods for s in args.seeds]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(run_one, jobs):
            print(json_line(row), flush=True)
            rows.append(row)
    print("\n| m | method | strong v1 | strong v2 | max diff | weak v1 | weak v2 | max diff |")
    print("|---|---|---|---|---|---|---|---|")
    for m in args.dims:
        for method in args.methods:
            group = [r for r in rows if r["m"] == m and r["method"] == method]
            cells = []
            for kind in ("strong", "weak"):
                old, new = (np.array([r[f"{kind}_{v}"] for r in group]) for v in ("v1", "v2"))
                cells += [f"{old.mean():.3f}", f"{new.mean():.3f}", f"{np.abs(new - old).max():.1e}"]
            print(f"| {m} | {method} | " + " | ".join(cells) + " |")
    diffs = {kind: max(abs(r[f"{kind}_v2"] - r[f"{kind}_v1"]) for r in rows) for kind in ("strong", "weak")}
    print(
        json_line(
            {
                "benchmark": "mcc_versions",
                "max_diff_strong": diffs["strong"],
                "max_diff_weak": diffs["weak"],
                "fits": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
