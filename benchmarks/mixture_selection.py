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
from arguments import positive_int
from json_line import json_line
from sklearn.mixture import GaussianMixture

from latentid.data.real import load_real
from latentid.errors import LatentIDError
from latentid.metrics.clustering import cluster_report
from latentid.models import load_model
from latentid.models.mixture_init import CONSENSUS_MAX_POINTS, consensus_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--fits", type=positive_int, default=12)
    parser.add_argument("--n-fit", type=positive_int, default=20_000, help="train rows each mixture is fitted on")
    parser.add_argument("--covariances", default="diag,full", help="comma-separated: full, diag, tied, spherical")
    args = parser.parse_args()
    unknown = [c for c in args.covariances.split(",") if c not in ("full", "diag", "tied", "spherical")]
    if unknown:
        parser.error(f"--covariances: {unknown[0]!r} is not one of full, diag, tied, spherical")
    try:  # the model first: a wrong path is named before the data are read
        model = load_model(args.model)
        train, test = load_real(args.dataset, "train", args.data_dir), load_real(args.dataset, "test", args.data_dir)
    except LatentIDError as exc:
        parser.error(str(exc))
    z_train, z_test = model.transform(train.x), model.transform(test.x)
    rng = np.random.default_rng(0)
    z_fit = z_train[rng.permutation(len(z_train))[: args.n_fit]]
    rows = z_train[rng.permutation(len(z_train))[:CONSENSUS_MAX_POINTS]]
    results = []
    for covariance in args.covariances.split(","):
        fits = [
            GaussianMixture(model.n_components, covariance_type=covariance, random_state=s).fit(z_fit)
            for s in range(args.fits)
        ]
        acc = np.array([cluster_report(test.c, g.predict(z_test))["cluster_acc"] for g in fits])
        loglik = np.array([g.score(z_train) for g in fits])
        consensus = consensus_index([g.predict(rows) for g in fits], loglik)
        results.append(
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
        )
        print(json_line(results[-1]), flush=True)  # each covariance as it ends; the last line holds them all
    print(json_line({"benchmark": "mixture_selection", "rows": results}))


if __name__ == "__main__":
    main()
