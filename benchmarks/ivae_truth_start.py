"""Does iVAE's objective keep the true model, or does it prefer a warped one? Start a fit at the truth.

On the level-3 data of ``ivae_comparison.py`` (m = 2), three fits with a decoder as deep as the
generator (two hidden layers of width n):

- ``truth, encoder only``: decoder, prior table p(z | u) and noise set to the true generator's and held
  fixed; only the encoder trains, by the ELBO. Its latents are what an amortised encoder makes of the
  true model; its bound is what the objective thinks of the truth.
- ``truth, then all``: the same start, then every part trains. Whether strong MCC stays near 1 while the
  bound rises says whether the objective moves away from the truth (an objective bias) or not.
- ``random start``: the same architecture and epochs from random weights, as a user fits it.

Each is scored on an independent test sample: strong MCC and affine R^2 of the encoder means against the
true z; strong MCC of the fitted model inverted per row (the most probable z under the fitted decoder,
prior and noise, found from the encoder's means and, with ``--starts S``, from S draws of the fitted p(z | u)
per row as well: is the encoder or the model what falls short?); and the
held-out ELBO per sample (``IVAE.score``), beside the true log p(x | u) of the same rows.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/ivae_truth_start.py --seeds 0 1 2 3 4 --jobs 2
    OMP_NUM_THREADS=1 python benchmarks/ivae_truth_start.py --fits "random start" --starts 32 --jobs 2

Prints one line per fit and ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from arguments import non_negative_int, positive_int
from ivae_comparison import generator
from json_line import json_line

from latentid.metrics import identifiability_report
from latentid.models import IVAE
from latentid.models.likelihoods import SCALE_FLOOR
from latentid.models.priors import VAR_FLOOR

FITS = ("truth, encoder only", "truth, then all", "random start")


class TruthStartIVAE(IVAE):
    """An iVAE whose decoder, prior table and noise start at a generator's (``truth``); decoder, prior and
    noise stay fixed for the first ``freeze_epochs`` epochs, so that only the encoder trains."""

    truth = None
    freeze_epochs = 0

    def _build(self, n_features, generator, noise_scale=None, n_aux=0):
        self._module = super()._build(n_features, generator, noise_scale, n_aux)
        return self._module

    @torch.no_grad()
    def _set_truth(self) -> None:
        module, gen = self._module, self.truth
        shift, scale = module.x_shift.double().cpu().numpy(), float(module.x_scale)
        layers = [layer for layer in module.decoder if isinstance(layer, torch.nn.Linear)]
        weights, biases = list(gen.mixing.weights), list(gen.mixing.biases)
        weights[-1], biases[-1] = weights[-1] / scale, (biases[-1] - shift) / scale  # the model's units
        for layer, w, b in zip(layers, weights, biases, strict=True):
            layer.weight.copy_(torch.as_tensor(w, dtype=layer.weight.dtype))
            layer.bias.copy_(torch.as_tensor(b, dtype=layer.bias.dtype))
        table = module.prior.net[0]  # one-hot u -> [mean, log variance]: a lookup table, column k = label k
        log_var = np.log(np.einsum("kii->ki", gen.prior.covariances) - VAR_FLOOR)
        table.weight.copy_(torch.as_tensor(np.concatenate([gen.prior.means, log_var], axis=1).T))
        table.bias.zero_()
        sigma = gen.noise / scale  # sigma = SCALE_FLOOR + softplus(raw), in the model's units
        module.likelihood.raw_scale.fill_(math.log(math.expm1(sigma - SCALE_FLOOR)))

    def _epoch_start(self, epoch: int, n_epochs: int) -> None:
        if epoch == 0 and self.truth is not None:
            self._set_truth()
        frozen = epoch < self.freeze_epochs
        for part in (self._module.decoder, self._module.prior, self._module.likelihood):
            for p in part.parameters():
                p.requires_grad_(not frozen)


def true_conditional_log_likelihood(gen, x: np.ndarray, c: np.ndarray) -> float:
    """Mean log p(x | u = c) per sample under the truth: log p(x, c) - log p(c), from the oracle's draws."""
    post = gen.posterior(x, n_samples=256, random_state=0)
    rows = np.arange(len(c))
    log_pc_x = np.log(np.clip(post.component_probs[rows, c], 1e-300, None))
    return float(np.mean(post.log_likelihood + log_pc_x - np.log(gen.prior.weights[c])))


def inverted_latents(model: IVAE, x: np.ndarray, u: np.ndarray, steps: int = 3000, starts: int = 0) -> np.ndarray:
    """argmin_z -log p(x | z) - log p(z | u) under the *fitted* decoder, prior and noise, per row, by Adam from
    the encoder's means and, with ``starts`` > 0, from that many draws of the fitted p(z | u) as well, keeping
    each row's best end (a global search, like the oracle's): what the fitted model says z is, whatever its
    encoder makes of it. (n, m)"""
    module = model.module_
    with torch.no_grad():
        x_model = module.standardize(torch.from_numpy(np.asarray(x, dtype=np.float32)))
        prior = module.prior.given(torch.from_numpy(model._aux_matrix(u, len(u), fitting=False)))
        loc, var = prior.loc.detach(), prior.var.detach()
        draws = loc + var.sqrt() * torch.randn((starts, *loc.shape), generator=torch.Generator().manual_seed(0))
    start = torch.from_numpy(model.transform(x, u=u))
    z = torch.cat([start[None], draws]).requires_grad_(True)  # (1 + starts, n, m)
    optimizer = torch.optim.Adam([z], lr=1e-2)

    def energy() -> torch.Tensor:
        return -module.likelihood.log_prob(x_model, module.decoder(z)) + 0.5 * ((z - loc).pow(2) / var).sum(-1)

    for step in range(steps):
        if step == steps // 2:
            optimizer.param_groups[0]["lr"] = 1e-3
        optimizer.zero_grad()
        energy().sum().backward()
        optimizer.step()
    with torch.no_grad():
        best = energy().argmin(0)
    return z.detach()[best, torch.arange(z.shape[1])].numpy()


def run_one(job: tuple[int, str, int, int, int, int, int]) -> dict:
    seed, fit, n_train, n_test, encoder_epochs, joint_epochs, starts = job
    torch.set_num_threads(1)
    gen = generator(2, seed)
    train = gen.sample(n_train, random_state=1000 + seed)
    test = gen.sample(n_test, random_state=2000 + seed)
    n = gen.mixing.widths[-1]
    hidden = list(gen.mixing.widths[1:-1])
    common = dict(
        latent_dim=2,
        hidden_dims=hidden,
        encoder_dims=[4 * n, 4 * n],
        slope=gen.spec.slope,
        patience=None,
        random_state=seed,
        device="cpu",
    )
    start = time.perf_counter()
    if fit == "random start":
        model = IVAE(epochs=encoder_epochs + joint_epochs, **common)
    else:
        model = TruthStartIVAE(epochs=encoder_epochs + (joint_epochs if fit == "truth, then all" else 0), **common)
        model.truth, model.freeze_epochs = gen, encoder_epochs
    model.fit(train.x, u=train.c)
    z_hat = model.transform(test.x, u=test.c)
    seconds = time.perf_counter() - start
    report = identifiability_report(test.z, z_hat, split=0.5, seed=seed)
    for p in model.module_.parameters():
        p.requires_grad_(False)
    z_inverted = inverted_latents(model, test.x, test.c, starts=starts)
    inverted = identifiability_report(test.z, z_inverted, split=0.5, seed=seed)
    return {
        "seed": seed,
        "fit": fit,
        "mcc_strong": round(report["mcc_strong"], 4),
        "affine_r2": round(report["affine_r2"], 4),
        "mcc_strong_inverted": round(inverted["mcc_strong"], 4),
        "test_elbo": round(float(model.score(test.x, u=test.c)), 3),
        "noise_scale": round(float(model.noise_scale_), 4),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-train", type=positive_int, default=10_000)
    parser.add_argument("--n-test", type=positive_int, default=4_000)
    parser.add_argument("--encoder-epochs", type=int, default=200, help="epochs with decoder and prior fixed")
    parser.add_argument("--joint-epochs", type=int, default=300, help="epochs of everything after those")
    parser.add_argument("--jobs", type=positive_int, default=1, help="parallel processes (1 torch thread each)")
    parser.add_argument("--fits", nargs="+", default=list(FITS), choices=FITS, help="which fits to run")
    parser.add_argument(
        "--starts", type=int, default=0, help="inversion: also start from this many draws of p(z|u) per row"
    )
    args = parser.parse_args()
    truth = {}
    for seed in args.seeds:
        gen = generator(2, seed)
        test = gen.sample(args.n_test, random_state=2000 + seed)
        rows = slice(0, min(1000, args.n_test))
        truth[seed] = true_conditional_log_likelihood(gen, test.x[rows], test.c[rows])
        print(f"seed {seed}: true log p(x | u) on {rows.stop} test rows: {truth[seed]:.3f}", flush=True)
    jobs = [
        (s, fit, args.n_train, args.n_test, args.encoder_epochs, args.joint_epochs, args.starts)
        for s in args.seeds
        for fit in args.fits
    ]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(run_one, jobs):
            row["true_log_likelihood"] = round(truth[row["seed"]], 3)
            print(json_line(row), flush=True)
            rows.append(row)
    print(
        "\n| fit | strong MCC | affine R^2 | strong MCC, fitted model inverted | test ELBO - true log p(x|u) | noise |"
        "\n|---|---|---|---|---|---|"
    )
    summary = {}
    for fit in args.fits:
        sel = [r for r in rows if r["fit"] == fit]
        mcc = np.array([r["mcc_strong"] for r in sel])
        r2 = np.array([r["affine_r2"] for r in sel])
        gap = np.array([r["test_elbo"] - r["true_log_likelihood"] for r in sel])
        noise = np.array([r["noise_scale"] for r in sel])
        inv = np.array([r["mcc_strong_inverted"] for r in sel])
        summary[fit] = {
            "mcc_strong": float(mcc.mean()),
            "affine_r2": float(r2.mean()),
            "elbo_minus_truth": float(gap.mean()),
            "mcc_strong_inverted": float(inv.mean()),
        }
        print(
            f"| {fit} | {mcc.mean():.3f} +- {mcc.std():.3f} | {r2.mean():.3f} +- {r2.std():.3f} | "
            f"{inv.mean():.3f} +- {inv.std():.3f} | "
            f"{gap.mean():.2f} +- {gap.std():.2f} | {noise.mean():.4f} |"
        )
    print(json_line({"benchmark": "ivae_truth_start", "summary": summary, "rows": rows}))


if __name__ == "__main__":
    main()
