"""Decoder-capacity check: can the model's decoder architecture and schedule even fit the true f?

Trains a decoder (a leaky-ReLU MLP with a linear output, as ``VaDE`` builds it) by plain regression of
x on the *true* z of simulated data: no encoder, no prior, no noise model. The residual rms on held-out
samples, against the true noise sd, tells whether a fit's likelihood gap can come from the decoder's
capacity or optimisation alone: an rms well above the noise means no latent-variable fit with this
decoder can reach the true likelihood, however good its inference.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/decoder_capacity.py --widths 10 64 --depths 5 4
    OMP_NUM_THREADS=1 python benchmarks/decoder_capacity.py --data-seed 3 --epochs 400 --lr 3e-3

Prints one line per architecture and ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from json_line import json_line

from latentid.data.synthetic import SyntheticSpec
from latentid.models.networks import build_decoder
from latentid.training import TrainConfig, train


def residual_rms(
    width: int, depth: int, z: np.ndarray, x: np.ndarray, z_test: np.ndarray, x_test: np.ndarray, args
) -> tuple[float, float]:
    """Held-out residual rms (data units) of a decoder with ``depth`` hidden layers of ``width``; and seconds."""
    gen = torch.Generator().manual_seed(args.seed)
    shift, scale = x.mean(0), float(np.sqrt(((x - x.mean(0)) ** 2).mean()))
    xs = torch.from_numpy(((x - shift) / scale).astype(np.float32))
    zt = torch.from_numpy(z.astype(np.float32))
    data = torch.cat([zt, xs], 1)  # the loop slices one tensor: [z | x]
    m = z.shape[1]
    decoder = build_decoder(m, x.shape[1], (width,) * depth, "leaky_relu", 0.2, gen)

    def loss(batch: torch.Tensor, _gen: torch.Generator) -> torch.Tensor:
        return (decoder(batch[:, :m]) - batch[:, m:]).pow(2).sum(-1)

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr_schedule="cosine", stage="regression")
    tic = time.perf_counter()
    train(decoder, loss, [{"params": list(decoder.parameters()), "lr": args.lr}], data, config, gen)
    seconds = time.perf_counter() - tic
    with torch.no_grad():
        pred = decoder(torch.from_numpy(z_test.astype(np.float32))).numpy() * scale + shift
    return float(np.sqrt(np.mean((pred - x_test) ** 2))), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--depth-true", type=int, default=6, help="affine layers of the true mixing")
    parser.add_argument("--slope", type=float, default=0.2)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--depths", type=int, nargs="+", default=[5, 4], help="hidden layers, paired with --widths")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if len(args.widths) != len(args.depths):
        raise SystemExit("--widths and --depths must have the same length (one architecture per pair)")
    torch.set_num_threads(1)
    spec = SyntheticSpec.create(seed=args.data_seed, depth=args.depth_true, slope=args.slope, noise=args.noise)
    gen = spec.build()
    train_set, test_set = gen.sample(args.n_train, random_state=1), gen.sample(4000, random_state=2)
    figures = {"noise": args.noise, "epochs": args.epochs, "lr": args.lr, "rms": {}}
    for width, depth in zip(args.widths, args.depths, strict=True):
        rms, seconds = residual_rms(width, depth, train_set.z, train_set.x, test_set.z, test_set.x, args)
        figures["rms"][f"{width}x{depth}"] = rms
        print(f"decoder {width:>4} wide x {depth} hidden: rms {rms:.4f} (noise {args.noise}) in {seconds:.0f} s")
    print(json_line({"benchmark": "decoder_capacity", **figures}))


if __name__ == "__main__":
    main()
