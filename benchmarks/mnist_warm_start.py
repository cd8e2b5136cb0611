"""Which warm start lets VaDE cluster MNIST? Autoencoder pretraining (Jiang et al.) against a VAE one.

For each pretraining objective, VaDE with the settings of ``latentid experiment mnist`` (``MNIST_VADE``:
the paper's MLP 784-500-500-2000, latent 10, K = 10, full covariances, Bernoulli likelihood) is
pretrained once; the mixture fitted to the pretrained codes is scored as is (one VaDE epoch, the "init"
row), then VaDE trains from the same pretrained weights. Nothing in a fit looks at labels; the test-split
accuracy (1:1 Hungarian), NMI and ARI are read afterwards.

Usage::

    python benchmarks/mnist_warm_start.py --dataset mnist --pretrain-epochs 20 --epochs 40
    python benchmarks/mnist_warm_start.py --objectives autoencoder --keep pre/ --set lr=0.002

``--keep DIR`` keeps the pretrained weights in DIR/<objective>/ and reuses them on the next call, so
training variants (``--set``) start from the same warm start.

Ends with one JSON line per fit (objective, stage, test/train accuracy, NMI, ARI, held-out ELBO, seconds).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from arguments import check_overrides, positive_int
from json_line import json_line
from vade_quality import parse_overrides

from latentid.data.real import load_real
from latentid.errors import LatentIDError
from latentid.experiments.mnist import MNIST_VADE
from latentid.metrics.clustering import cluster_report
from latentid.models import VaDE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--objectives", default="autoencoder,vae")
    parser.add_argument("--pretrain-epochs", type=positive_int, default=20)
    parser.add_argument("--epochs", type=positive_int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--keep", default=None, help="Folder of pretrained weights per objective, reused when there.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    objectives = ("vae", "autoencoder", "annealed_vae", "alternate")
    unknown = [o for o in args.objectives.split(",") if o not in objectives]
    if unknown:
        parser.error(f"--objectives: {unknown[0]!r} is not one of {', '.join(objectives)}")
    check_overrides(parser, VaDE, parse_overrides(args.overrides))
    try:
        train, test = load_real(args.dataset, "train", args.data_dir), load_real(args.dataset, "test", args.data_dir)
    except LatentIDError as exc:
        parser.error(str(exc))
    # The study's defaults (experiments/mnist.py), less what this benchmark varies, then --set overrides.
    varied = ("epochs", "pretrain_epochs", "pretrain_objective")
    base = {
        **{k: v for k, v in MNIST_VADE.items() if k not in varied},
        "n_restarts": 1,
        "patience": None,
        "threads": args.threads,
        "random_state": args.seed,
        **parse_overrides(args.overrides),
    }

    rows: list[dict] = []

    def score(model, objective, stage, seconds):
        test_pred, train_pred = model.predict(test.x), model.predict(train.x)
        test_rep, train_rep = cluster_report(test.c, test_pred), cluster_report(train.c, train_pred)
        row = {
            "dataset": args.dataset,
            "objective": objective,
            "stage": stage,
            "test_acc": round(test_rep["cluster_acc"], 4),
            "test_nmi": round(test_rep["nmi"], 4),
            "test_ari": round(test_rep["ari"], 4),
            "train_acc": round(train_rep["cluster_acc"], 4),
            "val_elbo": round(float(model.val_elbo_history_[-1]), 2) if model.val_elbo_history_ else None,
            "seconds": round(seconds, 1),
            "settings": {k: v for k, v in base.items() if k not in ("threads",)},
        }
        rows.append(row)
        print(json_line(row), flush=True)  # each fit as it ends; the last line holds them all

    with tempfile.TemporaryDirectory() as tmp:
        for objective in args.objectives.split(","):
            folder = Path(args.keep or tmp) / objective
            weights = folder / "pretrained-1.pt"
            if not weights.exists():
                tic = time.perf_counter()
                init = VaDE(
                    **base,
                    pretrain_objective=objective,
                    pretrain_epochs=args.pretrain_epochs,
                    epochs=1,
                    checkpoint_dir=folder,
                ).fit(train.x)
                score(init, objective, "init", time.perf_counter() - tic)
            tic = time.perf_counter()
            full = VaDE(**base, pretrain_objective=objective, pretrained=weights, epochs=args.epochs).fit(train.x)
            score(full, objective, f"trained {args.epochs} epochs", time.perf_counter() - tic)
    print(json_line({"benchmark": "mnist_warm_start", "rows": rows}))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
