"""VaDE on small data: the minibatch size 'auto' (at least 20 steps an epoch) against a fixed 256.

With a fixed batch of 256, 600 rows make 2-3 Adam steps an epoch and a few hundred in a whole fit, and the
fits left latent dimensions collapsed (a new user's report). Each data set here is fitted twice with
VaDE's defaults but for ``batch_size``, and scored by clustering accuracy against the true components,
affine R^2 against the true z (held-out half of the rows) and the smallest signal-to-noise of a latent
dimension (``metrics.activity``; below 1: inactive).

Data sets, each with K = 3 or 4 components and a 2-D z:
- ``tanh``: z from three unit Gaussians 4 apart, x = tanh(z W) + noise 0.05, W (2, 6) Gaussian;
- ``linear``: the same z, x = 50 z W + 170 + unit noise (raw measurements, as from a lab);
- ``sim``: ``latentid simulate``'s default generator (depth 3), seeds 0-2.

Prints a Markdown table and one JSON line.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/small_data.py --jobs 2
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from arguments import non_negative_int, positive_int
from json_line import json_line

from latentid.data.synthetic import SyntheticSpec
from latentid.metrics import cluster_report, identifiability_report
from latentid.metrics.activity import latent_signal_to_noise
from latentid.models import VaDE

BATCHES = (256, "auto")


def own_data(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (n, 6), z (n, 2), c (n,) of a 'tanh' or 'linear' data set."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, n)
    z = rng.normal(size=(n, 2)) + np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])[c]
    w = rng.normal(size=(2, 6))
    if kind == "tanh":
        x = np.tanh(z @ w) + 0.05 * rng.normal(size=(n, 6))
    else:
        x = 50.0 * (z @ w) + 170.0 + rng.normal(size=(n, 6))
    return x.astype(np.float32), z, c


def data_set(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    if name == "sim":
        data = SyntheticSpec(seed=seed, depth=3).build().sample(n, random_state=seed)
        return data.x, data.z, data.c, 4
    return (*own_data(name, n, seed), 3)


def run_one(job: tuple[str, int, int, int | str]) -> dict:
    name, n, seed, batch = job
    torch.set_num_threads(1)
    x, z, c, k = data_set(name, n, seed)
    start = time.perf_counter()
    model = VaDE(latent_dim=2, n_components=k, batch_size=batch, random_state=0, threads=1).fit(x)
    seconds = time.perf_counter() - start
    z_hat = model.transform(x)
    snr = latent_signal_to_noise(z_hat, model.posterior_sd(x))
    return {
        "data": name,
        "n": n,
        "seed": seed,
        "batch_size": batch,
        "batch_used": model.batch_size_,
        "cluster_acc": round(cluster_report(c, model.predict(x))["cluster_acc"], 3),
        "affine_r2": round(identifiability_report(z, z_hat, split=0.5, seed=seed)["affine_r2"], 3),
        "min_snr": round(float(np.min(snr)), 2),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=positive_int, default=1, help="parallel processes, 1 torch thread each")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    sets = [("tanh", 600), ("tanh", 3000), ("linear", 600), ("linear", 3000), ("sim", 600), ("sim", 2000)]
    jobs = [(name, n, seed, batch) for name, n in sets for seed in args.seeds for batch in BATCHES]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_one, jobs))
    print("| data | n | batch | cluster acc | affine R^2 | smallest SNR | dims inactive (fits) | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n in sets:
        for batch in BATCHES:
            cell = [r for r in rows if r["data"] == name and r["n"] == n and r["batch_size"] == batch]
            used = sorted({r["batch_used"] for r in cell})
            print(
                f"| {name} | {n} | {batch} ({', '.join(map(str, used))}) "
                f"| {np.mean([r['cluster_acc'] for r in cell]):.3f} | {np.mean([r['affine_r2'] for r in cell]):.3f} "
                f"| {np.median([r['min_snr'] for r in cell]):.2f} "
                f"| {sum(r['min_snr'] < 1 for r in cell)} of {len(cell)} "
                f"| {np.mean([r['seconds'] for r in cell]):.0f} |"
            )
    for batch in BATCHES:
        cell = [r for r in rows if r["batch_size"] == batch]
        print(
            f"| all | | {batch} | {np.mean([r['cluster_acc'] for r in cell]):.3f} "
            f"| {np.mean([r['affine_r2'] for r in cell]):.3f} | {np.median([r['min_snr'] for r in cell]):.2f} "
            f"| {sum(r['min_snr'] < 1 for r in cell)} of {len(cell)} | |"
        )
    print(json_line({"benchmark": "small_data", "runs": rows}))


if __name__ == "__main__":
    main()
