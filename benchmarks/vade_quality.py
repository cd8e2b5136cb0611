"""Identifiability quality of VaDE on simulated data, against the PCA floor and the oracle ceiling.

Draws one synthetic setting (``SyntheticSpec``; default: the BRIEF's informative setting, m=2, n=10,
K=4, depth-6 leaky-ReLU slope 0.2, noise 0.01), fits each method on a training sample and scores the
posterior means of an independent test sample against the true z with ``identifiability_report``
(affine and orthogonal maps fitted on one half of the test sample, scored on the other half).

Rows: PCA (floor), oracle E[z|x] under the true model (ceiling), VaDE (encoder mean), VaDE refined
(importance-sampled E[z|x] under the fitted model), and a vanilla N(0, I)-prior VAE. For the fitted
models the ``gap`` column is the likelihood gap on 1,000 test rows: true log p(x) minus the model's best
bound (ELBO or 256-draw importance-weighted), nats per sample (``latentid.gaps.likelihood_gaps``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/vade_quality.py --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/vade_quality.py --data-seed 3 --depth 4 --slope 0.4 --spec mean_scale=3
    python benchmarks/vade_quality.py --n-train 100000 --set epochs=300 --set lr=0.002
    python benchmarks/vade_quality.py --methods vade --set 'hidden_dims=[10,10,10,10,10]'

``--set key=value`` overrides a VaDE (and VAE) hyper-parameter; the value is parsed as JSON when it
can be (numbers, lists, null, true/false), else kept as a string, and checked against VaDE before any fit.
The last stdout line is one JSON object (``benchmark``, ``spec``, ``overrides``, ``rows``); ``--json PATH``
writes the same object to a file.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from arguments import check_overrides, non_negative_int, positive_int
from json_line import json_line
from sklearn.decomposition import PCA

from latentid.data.synthetic import SyntheticSpec
from latentid.gaps import likelihood_gaps
from latentid.metrics import identifiability_report
from latentid.models import VAE, VaDE

METHODS = ("pca", "oracle", "vade", "vade_refined", "vae")
GAP_ROWS = 1000  # test rows the likelihood gap is measured on (the true log p(x) costs an oracle run)
VAE_SHARED = set(VAE().get_params())


def parse_overrides(items: Sequence[str]) -> dict:
    """['lr=0.002', 'hidden_dims=[10,10]'] -> {'lr': 0.002, 'hidden_dims': [10, 10]}."""
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def score(z_true: np.ndarray, z_hat: np.ndarray, seed: int) -> tuple[float, float]:
    """(affine R^2, orthogonal R^2), aligned on one half of the test sample and scored on the other."""
    rep = identifiability_report(z_true, z_hat, split=0.5, seed=seed)
    return float(rep["affine_r2"]), float(rep["orthogonal_r2"])


def fitted_noise(model: VaDE | VAE) -> float:
    """The fitted Gaussian noise sd in data units."""
    module = model.module_
    return float((module.likelihood.scale() * module.x_scale).detach())


def run(
    spec: SyntheticSpec,
    n_train: int,
    n_test: int,
    seeds: Sequence[int],
    methods: Sequence[str],
    overrides: dict,
    threads: int,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Fit and score every method for every seed; returns one row dict per (method, seed)."""
    gen = spec.build()
    rows: list[dict] = []
    for seed in seeds:
        train = gen.sample(n_train, random_state=1000 + seed)
        test = gen.sample(n_test, random_state=123 + seed)
        vade, fit_seconds, model = None, 0.0, None
        for method in methods:
            tic = time.perf_counter()
            noise = None
            if method == "pca":
                z_hat = PCA(spec.latent_dim, random_state=seed).fit(train.x).transform(test.x)
            elif method == "oracle":
                z_hat = gen.posterior_mean(test.x)
                noise = gen.noise
            elif method in ("vade", "vade_refined"):
                if vade is None:  # one fit serves both rows; the refined row's time adds the refinement
                    vade = VaDE(spec.latent_dim, spec.components, random_state=seed, threads=threads, **overrides)
                    vade.fit(train.x)
                    fit_seconds = time.perf_counter() - tic
                else:
                    tic -= fit_seconds
                model = vade
                z_hat = model.transform(test.x, refine=method == "vade_refined")
                noise = fitted_noise(model)
            elif method == "vae":
                kept = {k: v for k, v in overrides.items() if k in VAE_SHARED}
                model = VAE(spec.latent_dim, random_state=seed, threads=threads, **kept).fit(train.x)
                z_hat = model.transform(test.x)
                noise = fitted_noise(model)
            else:
                raise SystemExit(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
            seconds = time.perf_counter() - tic
            affine, orth = score(test.z, z_hat, seed)
            row = {"method": method, "seed": seed, "affine_r2": affine, "orthogonal_r2": orth, "gap": None}
            if method in ("vade", "vae") and gen.noise > 0:
                row["gap"] = likelihood_gaps(model, gen, test.x[:GAP_ROWS], random_state=seed)["likelihood_gap"]
            row.update(noise=noise, seconds=seconds, epochs=getattr(model, "n_iter_", None) if noise else None)
            rows.append(row)
            log(format_row(row))
    return rows


def format_row(row: dict) -> str:
    noise = "-" if row["noise"] is None else f"{row['noise']:.4f}"
    epochs = "-" if row.get("epochs") is None else str(row["epochs"])
    gap = "-" if row.get("gap") is None else f"{row['gap']:.3f}"
    return (
        f"{row['method']:<13} {row['seed']:>4} {row['affine_r2']:>9.4f} {row['orthogonal_r2']:>9.4f} "
        f"{noise:>8} {gap:>8} {epochs:>6} {row['seconds']:>8.1f}"
    )


HEADER = f"{'method':<13} {'seed':>4} {'affine':>9} {'orthog':>9} {'noise':>8} {'gap':>8} {'epochs':>6} {'sec':>8}"


def summary(rows: list[dict]) -> str:
    lines = [
        f"{'method':<13} {'n':>4} {'affine mean+-sd':>16} {'median':>7} {'worst':>7} "
        f"{'orthog mean+-sd':>16} {'median':>7} {'worst':>7} {'gap med':>8} {'sec':>7}"
    ]
    for method in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == method]
        a = np.array([r["affine_r2"] for r in sel])
        o = np.array([r["orthogonal_r2"] for r in sel])
        s = np.mean([r["seconds"] for r in sel])
        gaps = [r["gap"] for r in sel if r.get("gap") is not None]
        gap = f"{np.median(gaps):>8.3f}" if gaps else f"{'-':>8}"
        lines.append(
            f"{method:<13} {len(sel):>4} {a.mean():>10.4f}+-{a.std():.3f} {np.median(a):>7.4f} {a.min():>7.4f} "
            f"{o.mean():>10.4f}+-{o.std():.3f} {np.median(o):>7.4f} {o.min():>7.4f} {gap} {s:>7.1f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-seed", type=int, default=0, help="SyntheticSpec seed (the mixing and prior draw)")
    parser.add_argument("--latent-dim", type=int, default=2, help="latent dimension m of the simulation")
    parser.add_argument("--obs-dim", type=int, default=10, help="observed dimension n of the simulation")
    parser.add_argument("--components", type=int, default=4, help="mixture components K of the simulation")
    parser.add_argument("--prior", choices=("gmm", "standard-normal"), default="gmm", help="true prior")
    parser.add_argument("--noise", type=float, default=0.01, help="observation noise sd of the simulation")
    parser.add_argument("--depth", type=int, default=6, help="affine layers of the true mixing")
    parser.add_argument("--slope", type=float, default=0.2, help="leaky-ReLU slope of the true mixing")
    parser.add_argument(
        "--spec",
        dest="spec_overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other SyntheticSpec field, e.g. mean_scale=3, hidden_width=6, weights=dirichlet",
    )
    parser.add_argument("--n-train", type=positive_int, default=20_000)
    parser.add_argument("--n-test", type=positive_int, default=4_000)
    parser.add_argument(
        "--seeds", type=non_negative_int, nargs="+", default=[0], help="model seeds (each also redraws data)"
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads per fit")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    spec = SyntheticSpec.create(
        seed=args.data_seed,
        noise=args.noise,
        depth=args.depth,
        latent_dim=args.latent_dim,
        obs_dim=args.obs_dim,
        components=args.components,
        prior=args.prior,
        slope=args.slope,
        **parse_overrides(args.spec_overrides),
    )
    overrides = parse_overrides(args.overrides)
    check_overrides(parser, VaDE, overrides)  # the overrides go to VaDE (and those it shares, to the VAE)
    if args.json and not Path(args.json).resolve().parent.is_dir():  # found before the fits, not after them
        parser.error(f"--json {args.json}: its folder does not exist")
    print(f"# {spec.model_dump_json()}")
    print(f"# n_train={args.n_train} n_test={args.n_test} overrides={overrides}")
    print("# R^2 on the held-out half of the test sample (alignment fitted on the other half)")
    print(HEADER)
    rows = run(spec, args.n_train, args.n_test, args.seeds, args.methods, overrides, args.threads)
    print()
    print(summary(rows))
    result = {"benchmark": "vade_quality", "spec": spec.model_dump(), "overrides": overrides, "rows": rows}
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(json_line(result) + "\n")
    print(json_line(result))


if __name__ == "__main__":
    main()
