"""Does the likelihood, or the agreement between seeds, pick the starting mixture that clusters best?

Encodes a published data set with a saved VaDE (any folder ``load_model`` reads, e.g. a study's
``vade/seed-0/model``), fits ``--fits`` GaussianMixtures to the train-split encoder means from different
seeds, and scores each on the test split (accuracy, 1:1 Hungarian; labels read only here). Then it says
which fit each label-free criterion would keep: the highest likelihood (``init_selection='likelihood'``)
or the highest mean ARI to the other fits (``'consensus'``, ``latentid.models.mixture_init``).

Usage::

    python benchmarks/mixture_selection.py --model study/vade/seed-0/model --dataset fashion-mnist --fits 12

Ends with one JSON line per covariance type: per-fit accuracies, the mean, the best, and each pick's.
"""

from __future__ import annotations

import argparse

import numpy as np
from json_line import json_line
from sklearn.mixture import GaussianMixture

from latentid.data.real import load_real
from latentid.metrics.clustering import cluster_report
from latentid.models import load_model
from latentid.models.mixture_init import CONSENSUS_MAX_POINTS, consensus_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--fits", type=int, default=12)
    parser.add_argument("--n-fit", type=int, default=20_000, help="train rows each mixture is fitted on")
    parser.add_argument("--covariances", default="diag,full")
    args = parser.parse_args()
    train, test = load_real(args.dataset, "train", args.data_dir), load_real(args.dataset, "test", args.data_dir)
    model = load_model(args.model)
    z_train, z_test = model.transform(train.x), model.transform(test.x)
    rng = np.random.default_rng(0)
    z_fit = z_train[rng.permutation(len(z_train))[: args.n_fit]]
    rows = z_train[rng.permutation(len(z_train))[:CONSENSUS_MAX_POINTS]]
    for covariance in args.covariances.split(","):
        fits = [
            GaussianMixture(model.n_components, covariance_type=covariance, random_state=s).fit(z_fit)
            for s in range(args.fits)
        ]
        acc = np.array([cluster_report(test.c, g.predict(z_test))["cluster_acc"] for g in fits])
        loglik = np.array([g.score(z_train) for g in fits])
        consensus = consensus_index([g.predict(rows) for g in fits], loglik)
        print(
            json_line(
                {
                    "dataset": args.dataset,
                    "model": args.model,
                    "covariance": covariance,
                    "fits": args.fits,
                    "test_acc": [round(float(a), 4) for a in acc],
                    "mean_acc": round(float(acc.mean()), 4),
                    "best_acc": round(float(acc.max()), 4),
                    "likelihood_pick_acc": round(float(acc[np.argmax(loglik)]), 4),
                    "consensus_pick_acc": round(float(acc[consensus]), 4),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
