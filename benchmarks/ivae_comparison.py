"""The paper's central comparison: VaDE without u against iVAE given the true labels u, on level-3 data.

For each latent dimension m and seed, one simulated setting that meets level 3 of the hierarchy
(diagonal component covariances, K = 2m + 2 components with random means and variances, so the
iVAE-type variability condition holds: ``latentid explain`` says level 3), noise 0.01 so that the
oracle's ceiling is near 1. Each method is fitted on a training sample; its posterior means of an
independent test sample are scored by strong MCC (Pearson, no alignment beyond a 1:1 matching and signs chosen on
half the rows) and affine R^2
against the true z. Methods: the oracle E[z|x] under the true model (ceiling), iVAE given u = the true
component labels, VaDE with diagonal covariances (no u), the vanilla VAE, PCA and FastICA (floors).

Prints one Markdown table (mean +- sd over seeds, per m and method) and one JSON line with every figure.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/ivae_comparison.py --dims 2 5 --seeds 0 1 2 3 4 --jobs 2
    python benchmarks/ivae_comparison.py --dims 2 --seeds 0 --n-train 5000 --set epochs=50   # a quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from arguments import check_overrides, non_negative_int, positive_int
from json_line import json_line
from vade_quality import parse_overrides

from latentid.data.mixture import GaussianMixture
from latentid.data.synthetic import SyntheticSpec
from latentid.explaining import describe_generator
from latentid.metrics import identifiability_report
from latentid.models import IVAE, PCA, VAE, FastICA, VaDE
from latentid.theory import assess, axis_margin

METHODS = ("oracle", "ivae", "vade", "vae", "pca", "fastica")


def setting(m: int, seed: int, components: int | None = None) -> SyntheticSpec:
    """A level-3 setting of latent dim m: diag covariances, K = ``components`` (default 2m + 2), n = 5m observed,
    depth 3, noise 0.01."""
    k = 2 * m + 2 if components is None else components
    return SyntheticSpec(latent_dim=m, obs_dim=5 * m, components=k, covariance="diag", depth=3, noise=0.01, seed=seed)


def generator(m: int, seed: int, variance_power: float = 1.0, components: int | None = None):
    """The setting's generator; ``variance_power`` p != 1 spreads each component's variances around their
    geometric mean (log v -> mean + p (log v - mean)), which raises the axis margin (``theory.axis_margin``)
    and leaves means, scale and mixing as drawn: does a likelihood that pins the axes harder help the fits?"""
    gen = setting(m, seed, components).build()
    if variance_power == 1.0:
        return gen
    log_var = np.log(np.einsum("kii->ki", gen.prior.covariances))
    centre = log_var.mean(axis=1, keepdims=True)
    var = np.exp(centre + variance_power * (log_var - centre))
    prior = GaussianMixture(gen.prior.weights, gen.prior.means, np.stack([np.diag(v) for v in var]))
    return dataclasses.replace(gen, prior=prior)


def fit_and_encode(method: str, train, test, gen, m: int, seed: int, overrides: dict) -> np.ndarray:
    """Posterior means of the test sample, (n_test, m), from ``method`` fitted on ``train``."""
    deep = {"random_state": seed, "device": "cpu", **overrides}
    if method == "oracle":
        return gen.posterior_mean(test.x)
    if method == "ivae":
        model = IVAE(latent_dim=m, **deep).fit(train.x, u=train.c)
        return model.transform(test.x, u=test.c)
    if method == "vade":
        model = VaDE(latent_dim=m, n_components=gen.prior.n_components, covariance="diag", **deep).fit(train.x)
    elif method == "vae":
        model = VAE(latent_dim=m, **deep).fit(train.x)
    elif method == "pca":
        model = PCA(latent_dim=m, random_state=seed).fit(train.x)
    else:
        model = FastICA(latent_dim=m, random_state=seed).fit(train.x)
    return model.transform(test.x)


def run_one(job: tuple[int, int, str, int, int, dict, float, int | None]) -> dict:
    m, seed, method, n_train, n_test, overrides, variance_power, components = job
    torch.set_num_threads(1)
    gen = generator(m, seed, variance_power, components)
    train = gen.sample(n_train, random_state=1000 + seed)
    test = gen.sample(n_test, random_state=2000 + seed)
    start = time.perf_counter()
    z_hat = fit_and_encode(method, train, test, gen, m, seed, overrides)
    seconds = time.perf_counter() - start
    report = identifiability_report(test.z, z_hat, split=0.5, seed=seed)
    return {
        "m": m,
        "seed": seed,
        "method": method,
        "mcc_strong": report["mcc_strong"],
        "affine_r2": report["affine_r2"],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=positive_int, nargs="+", default=[2, 5])
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--n-train", type=positive_int, default=10_000)
    parser.add_argument("--n-test", type=positive_int, default=4_000)
    parser.add_argument("--jobs", type=positive_int, default=1, help="parallel processes (1 torch thread each)")
    parser.add_argument("--set", action="append", default=[], help="deep-model override key=value (JSON value)")
    parser.add_argument("--variance-power", type=float, default=1.0, help="spread component variances (generator)")
    parser.add_argument("--components", type=positive_int, default=None, help="mixture components K (default 2m + 2)")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    for method, estimator in (("ivae", IVAE), ("vade", VaDE), ("vae", VAE)):  # the models the overrides go to
        if method in args.methods:
            check_overrides(parser, estimator, overrides)
    for m in args.dims:
        verdict = assess(*describe_generator(setting(m, args.seeds[0], args.components).build()))
        print(f"m={m}: explain says level {verdict.level} (identifiable up to {verdict.equivalence})", flush=True)
        margins = []
        for seed in args.seeds:  # how much likelihood pins the axes that strong MCC asks a fit to find
            prior = generator(m, seed, args.variance_power, args.components).prior
            margins.append(f"{axis_margin(prior.weights, np.einsum('kii->ki', prior.covariances))[0]:.3f}")
        print(f"m={m}: axis margin (nat per sample) by seed: {', '.join(margins)}", flush=True)
    jobs = [
        (m, s, meth, args.n_train, args.n_test, overrides, args.variance_power, args.components)
        for m in args.dims
        for s in args.seeds
        for meth in args.methods
    ]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(run_one, jobs):
            print(json_line(row), flush=True)
            rows.append(row)
    print("\n| m | method | strong MCC | affine R^2 | fit s |\n|---|---|---|---|---|")
    summary = {}
    for m in args.dims:
        for method in args.methods:
            sel = [r for r in rows if r["m"] == m and r["method"] == method]
            mcc = np.array([r["mcc_strong"] for r in sel])
            r2 = np.array([r["affine_r2"] for r in sel])
            secs = np.mean([r["seconds"] for r in sel])
            summary[f"m{m}_{method}_mcc_strong"] = float(mcc.mean())
            cells = [f"{mcc.mean():.3f} +- {mcc.std():.3f}", f"{r2.mean():.3f} +- {r2.std():.3f}", f"{secs:.0f}"]
            print(f"| {m} | {method} | " + " | ".join(cells) + " |")
    print(
        json_line(
            {
                "benchmark": "ivae_comparison",
                "n_train": args.n_train,
                "variance_power": args.variance_power,
                "components": args.components,
                **summary,
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
