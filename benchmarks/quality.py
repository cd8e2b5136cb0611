"""Quality suite: every method on a fixed list of synthetic settings, against the oracle, with the likelihood gap.

Each named setting is one ``SyntheticSpec`` (its data seed fixed): a base setting (m=2, n=10, K=4, depth 3,
leaky-ReLU slope 0.2, noise 0.01, full covariances) and one-factor variations of it. For every setting
and seed the generator draws a training sample and an independent test sample (seeded by the seed, the
same samples for every method); each method is fitted on the training sample and its posterior means of
the test sample are scored against the true z with ``identifiability_report`` (alignments fitted on one
half of the test sample, scored on the other half).

Methods: ``oracle`` (E[z|x] under the true model), ``pca``, ``fastica``, ``vade`` (the setting's K and
covariance type), ``vae``, ``ivae`` (given the true component labels u; the joint label on facet
settings; not on the standard-normal setting), ``mfcvae`` (only on facet settings, with the true
facets). Every estimator runs with its defaults.

Columns: affine R^2 (mean over seeds, worst in brackets), weak MCC (Pearson MCC after the affine
alignment), strong MCC (no alignment), the gap to the oracle (the oracle's affine R^2 minus the
method's, per seed, averaged), the likelihood gap (true log p(x) minus the fit's best bound, nats per
sample, on up to 1,000 test rows: deep models without u, noise > 0), fit seconds (for the oracle: the
time of E[z|x] on the test sample).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/quality.py --jobs 2                  # the full suite (about 25 minutes here)
    OMP_NUM_THREADS=1 python benchmarks/quality.py --quick --jobs 2          # about 5 minutes
    OMP_NUM_THREADS=1 python benchmarks/quality.py --settings base depth6 --methods oracle pca vade --seeds 0

Progress goes to stderr; stdout gets a Markdown table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
from arguments import check_overrides, non_negative_int, positive_int
from json_line import json_line

from latentid.data.synthetic import SyntheticSpec

METHODS = ("oracle", "pca", "fastica", "vade", "vae", "ivae", "mfcvae")
DEEP_CLASSES = {"vade": "VaDE", "vae": "VAE", "ivae": "IVAE", "mfcvae": "MFCVAE"}  # the methods --set reaches
DEEP_WITHOUT_U = ("vade", "vae", "mfcvae")  # the likelihood gap is measured for these
GAP_ROWS = 1000

BASE = {
    "latent_dim": 2,
    "obs_dim": 10,
    "components": 4,
    "depth": 3,
    "slope": 0.2,
    "noise": 0.01,
    "covariance": "full",
    "seed": 0,
}

# name -> (changes to BASE, short description); the order is the table's
SETTINGS: dict[str, tuple[dict, str]] = {
    "base": ({}, "m=2, n=10, K=4, depth 3, slope 0.2, noise 0.01, full"),
    "m5": ({"latent_dim": 5}, "m=5 (n=10)"),
    "m10": ({"latent_dim": 10, "obs_dim": 20}, "m=10, n=20"),
    "depth1": ({"depth": 1}, "depth 1 (affine mixing)"),
    "depth6": ({"depth": 6}, "depth 6"),
    "slope0.5": ({"slope": 0.5}, "slope 0.5"),
    "noise0.05": ({"noise": 0.05}, "noise 0.05"),
    "K10": ({"components": 10}, "K=10"),
    "diag": ({"covariance": "diag"}, "diagonal covariances"),
    "std-normal": ({"prior": "standard-normal", "components": 1}, "standard-normal prior"),
    "facets": ({"facets": ((2, 3), (2, 4)), "components": 12, "latent_dim": 4}, "two facets 2:3, 2:4 (m=4)"),
}

N_TRAIN, N_TEST, SEEDS = 10_000, 4_000, (0, 1, 2)

# --quick: 6 of the settings, seed 0, 5,000 training / 2,000 test samples, the gap on 500 test rows;
# QUICK_DEEP (empty: the defaults) would override the deep models' hyper-parameters
QUICK_SETTINGS = ("base", "m5", "depth6", "noise0.05", "std-normal", "facets")
QUICK_N_TRAIN, QUICK_N_TEST, QUICK_GAP_ROWS = 5_000, 2_000, 500
QUICK_DEEP: dict = {}


def spec_of(name: str) -> SyntheticSpec:
    return SyntheticSpec.create(**{**BASE, **SETTINGS[name][0]})


def methods_for(name: str, methods: list[str]) -> list[str]:
    spec = spec_of(name)
    keep = []
    for method in methods:
        if method == "mfcvae" and spec.facets is None:
            continue
        if method == "ivae" and spec.prior == "standard-normal":
            continue
        keep.append(method)
    return keep


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fit_and_encode(
    method: str, spec: SyntheticSpec, gen, train, test, seed: int, quick: bool, overrides: dict | None = None
):
    """(posterior means of the test sample, fitted model or None, seconds); ``overrides`` are hyper-parameters
    of this (deep) method, from ``--set``."""
    from latentid.models import IVAE, MFCVAE, PCA, VAE, FastICA, VaDE

    deep = {"random_state": seed, "device": "cpu", "threads": 1}
    if quick:
        deep.update(QUICK_DEEP)
    deep.update(overrides or {})
    start = time.perf_counter()
    model = None
    if method == "oracle":
        z_hat = gen.posterior_mean(test.x)
        return z_hat, None, time.perf_counter() - start
    if method == "pca":
        model = PCA(spec.latent_dim, random_state=seed).fit(train.x)
    elif method == "fastica":
        model = FastICA(spec.latent_dim, random_state=seed).fit(train.x)
    elif method == "vae":
        model = VAE(spec.latent_dim, **deep).fit(train.x)
    elif method == "vade":
        model = VaDE(spec.latent_dim, spec.components, covariance=spec.covariance, **deep).fit(train.x)
    elif method == "mfcvae":
        model = MFCVAE(spec.facets, covariance=spec.covariance, **deep).fit(train.x)
    elif method == "ivae":
        model = IVAE(spec.latent_dim, **deep).fit(train.x, u=joint_labels(spec, train.c))
        seconds = time.perf_counter() - start
        return model.transform(test.x, u=joint_labels(spec, test.c)), model, seconds
    else:
        raise ValueError(f"unknown method {method!r}")
    seconds = time.perf_counter() - start
    return model.transform(test.x), model, seconds


def joint_labels(spec: SyntheticSpec, c: np.ndarray) -> np.ndarray:
    """The component label; on facet settings the joint index of (c_1, ..., c_J)."""
    if spec.facets is None:
        return c
    return np.ravel_multi_index(tuple(c.T), tuple(k for _, k in spec.facets))


def run_task(task: tuple) -> list[dict]:
    """Every method on one (setting, seed): one row per method."""
    name, seed, methods, n_train, n_test, gap_rows, quick, overrides = task
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    from latentid.gaps import likelihood_gaps
    from latentid.metrics import identifiability_report

    torch.set_num_threads(1)
    spec = spec_of(name)
    gen = spec.build()
    train = gen.sample(n_train, random_state=1000 + seed)
    test = gen.sample(n_test, random_state=123 + seed)
    rows = []
    for method in methods:
        row = {"setting": name, "seed": seed, "method": method}
        try:
            z_hat, model, seconds = fit_and_encode(method, spec, gen, train, test, seed, quick, overrides.get(method))
            rep = identifiability_report(test.z, z_hat, split=0.5, seed=seed)
            row.update(
                affine_r2=float(rep["affine_r2"]),
                mcc_weak=float(rep["mcc_weak"]),
                mcc_strong=float(rep["mcc_strong"]),
                fit_seconds=round(seconds, 2),
                likelihood_gap=None,
            )
            if method in DEEP_WITHOUT_U and gen.noise > 0:
                gaps = likelihood_gaps(model, gen, test.x[:gap_rows], random_state=seed)
                row["likelihood_gap"] = float(gaps["likelihood_gap"])
        except Exception as exc:  # a failed fit is a result too; the suite goes on
            row["error"] = f"{type(exc).__name__}: {exc}"
            log(traceback.format_exc())
        rows.append(row)
        if "error" in row:
            log(f"{name:<11} seed {seed} {method:<8} ERROR {row['error']}")
        else:
            gap = "-" if row["likelihood_gap"] is None else f"{row['likelihood_gap']:.2f}"
            log(
                f"{name:<11} seed {seed} {method:<8} affine {row['affine_r2']:.3f} weak {row['mcc_weak']:.3f} "
                f"strong {row['mcc_strong']:.3f} gap {gap} {row['fit_seconds']:.1f}s"
            )
    return rows


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarise(rows: list[dict], settings: list[str], methods: list[str]) -> dict:
    """settings -> method -> figures (means over seeds, worst affine R^2, gaps to the oracle per seed)."""
    out: dict = {}
    for name in settings:
        oracle = {r["seed"]: r for r in rows if r["setting"] == name and r["method"] == "oracle" and "error" not in r}
        per_method = {}
        for method in methods_for(name, methods):
            sel = [r for r in rows if r["setting"] == name and r["method"] == method]
            ok = [r for r in sel if "error" not in r]
            entry: dict = {"n_seeds": len(ok), "errors": len(sel) - len(ok)}
            if ok:
                r2 = [r["affine_r2"] for r in ok]
                entry.update(
                    affine_r2=_mean(r2),
                    affine_r2_worst=float(min(r2)),
                    mcc_weak=_mean([r["mcc_weak"] for r in ok]),
                    mcc_strong=_mean([r["mcc_strong"] for r in ok]),
                    oracle_gap_affine_r2=_mean(
                        [oracle[r["seed"]]["affine_r2"] - r["affine_r2"] for r in ok if r["seed"] in oracle]
                    ),
                    oracle_gap_mcc_strong=_mean(
                        [oracle[r["seed"]]["mcc_strong"] - r["mcc_strong"] for r in ok if r["seed"] in oracle]
                    ),
                    likelihood_gap=_mean([r["likelihood_gap"] for r in ok]),
                    fit_seconds=_mean([r["fit_seconds"] for r in ok]),
                    affine_r2_seeds=[round(v, 4) for v in r2],
                )
            per_method[method] = entry
        out[name] = per_method
    return out


def fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(summary: dict) -> str:
    lines = [
        "| setting | method | affine R^2 mean (worst) | weak MCC | strong MCC | oracle - method, affine R^2 "
        "| likelihood gap (nats) | fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, per_method in summary.items():
        for method, e in per_method.items():
            if not e["n_seeds"]:
                lines.append(f"| {name} | {method} | error | | | | | |")
                continue
            worst = f" ({e['affine_r2_worst']:.3f})" if e["n_seeds"] > 1 else ""
            gap_oracle = "" if method == "oracle" else fmt(e["oracle_gap_affine_r2"])
            cells = [
                name,
                method,
                f"{e['affine_r2']:.3f}{worst}",
                fmt(e["mcc_weak"]),
                fmt(e["mcc_strong"]),
                gap_oracle,
                fmt(e["likelihood_gap"], 2),
                fmt(e["fit_seconds"], 1),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the ~5-minute subset (see QUICK_* in the source)")
    parser.add_argument(
        "--settings", nargs="+", choices=list(SETTINGS), help=f"default: all (--quick: {len(QUICK_SETTINGS)})"
    )
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", help="default 0 1 2 (--quick: 0)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--n-train", type=positive_int, help=f"default {N_TRAIN} (--quick: {QUICK_N_TRAIN})")
    parser.add_argument("--n-test", type=positive_int, help=f"default {N_TEST} (--quick: {QUICK_N_TEST})")
    parser.add_argument(
        "--jobs", type=positive_int, default=1, help="parallel processes over (setting, seed), 1 thread each"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="METHOD.KEY=VALUE", help="a deep method's hyper-parameter (JSON)"
    )
    args = parser.parse_args(argv)
    overrides: dict[str, dict] = {}
    for item in args.set:
        target, _, value = item.partition("=")
        method, _, key = target.partition(".")
        if method not in METHODS or not key or not value:
            parser.error(f"--set {item}: expected METHOD.KEY=VALUE with METHOD one of {', '.join(METHODS)}")
        try:
            overrides.setdefault(method, {})[key] = json.loads(value)
        except json.JSONDecodeError:
            parser.error(f"--set {item}: the value must be JSON (a number, true/false, a list, or a quoted string)")
    if overrides:  # checked now, not found as an error row at the end of the suite
        import latentid.models

        for method, given in overrides.items():
            if method not in DEEP_CLASSES:
                parser.error(f"--set {method}.*: {method} takes no --set (only {', '.join(DEEP_CLASSES)} do)")
            check_overrides(parser, getattr(latentid.models, DEEP_CLASSES[method]), given, prefix=f"{method}.")

    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
    quick = args.quick
    settings = args.settings or list(QUICK_SETTINGS if quick else SETTINGS)
    seeds = args.seeds or ([0] if quick else list(SEEDS))
    n_train = args.n_train if args.n_train is not None else (QUICK_N_TRAIN if quick else N_TRAIN)
    n_test = args.n_test if args.n_test is not None else (QUICK_N_TEST if quick else N_TEST)
    gap_rows = QUICK_GAP_ROWS if quick else GAP_ROWS
    methods = list(args.methods)
    tasks = [
        (name, seed, methods_for(name, methods), n_train, n_test, gap_rows, quick, overrides)
        for name in settings
        for seed in seeds
    ]
    # the slowest settings first, so that the pool is not left waiting on one at the end
    cost = {"m10": 4, "facets": 3, "m5": 3, "K10": 2, "depth6": 2}
    tasks.sort(key=lambda t: -cost.get(t[0], 1))

    start = time.perf_counter()
    log(f"quality suite: {len(settings)} settings x {len(seeds)} seeds, {len(tasks)} tasks, --jobs {args.jobs}")
    rows: list[dict] = []
    if args.jobs <= 1:
        for task in tasks:
            rows.extend(run_task(task))
    else:
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
            for result in pool.map(run_task, tasks):
                rows.extend(result)
    seconds = time.perf_counter() - start

    summary = summarise(rows, settings, methods)
    print(f"Quality suite{' (--quick)' if quick else ''}: {n_train} training / {n_test} test samples, seeds {seeds}.")
    deep = f"deep models with {QUICK_DEEP}" if quick and QUICK_DEEP else "every estimator with its defaults"
    deep += " but the overrides below" if overrides else ""
    print(f"{deep[0].upper()}{deep[1:]}; likelihood gap on up to {gap_rows} test rows.")
    if overrides:
        print(f"Overrides (--set): {json.dumps(overrides)}.")
    for name in settings:
        print(f"- {name}: {SETTINGS[name][1]}")
    print()
    print(markdown(summary))
    print()
    print(f"Total {seconds:.0f} s with --jobs {args.jobs}.")
    record = {
        "benchmark": "quality",
        "quick": quick,
        "overrides": overrides,
        "n_train": n_train,
        "n_test": n_test,
        "seeds": seeds,
        "jobs": args.jobs,
        "settings": summary,
        "seconds": round(seconds, 1),
    }
    print(json_line(record))


if __name__ == "__main__":
    main()
