"""Where a GPU starts to pay: VaDE training steps on the CPU and on a GPU over network sizes.

For each hidden width w (encoder and decoder [w, w, w]; 784 features for w >= 500, else 20; 10 latents for
w >= 128, else 2; K = 10; batch 256; Gaussian likelihood), times one training step (forward, backward, Adam) as
``benchmarks/speed.py`` does, on the CPU with ``--threads`` torch threads and on ``cuda`` where torch sees one,
and prints the networks' weight count beside the two step times. ``device="auto"`` takes the GPU for networks
above the size at which the two were tied here (``latentid.models.base.AUTO_GPU_MIN_WEIGHTS``).

Usage::

    python benchmarks/device_crossover.py --threads 2            # on a machine with a GPU
"""

from __future__ import annotations

import argparse

import torch
from json_line import json_line
from speed import build, median_seconds, step_fn

WIDTHS = (10, 32, 64, 128, 256, 512, 1024, 2000)


def weight_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def step_seconds(width: int, device: torch.device, repeats: int) -> tuple[int, float]:
    n_features = 784 if width >= 500 else 20
    params = {
        "latent_dim": 10 if width >= 128 else 2,
        "n_components": 10,
        "hidden_dims": [width] * 3,
        "encoder_dims": [width] * 3,
    }
    model, module = build(params, n_features, device)
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(256, n_features, generator=gen, device=device)
    loss = lambda b, g: model._loss(module, b, g)  # noqa: E731
    return weight_count(module), median_seconds(step_fn(module, loss, x, gen), repeats, 5, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads [default: 2]")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gpu = torch.cuda.is_available()
    rows = []
    for width in WIDTHS:
        weights, cpu = step_seconds(width, torch.device("cpu"), args.repeats)
        cuda = step_seconds(width, torch.device("cuda"), args.repeats)[1] if gpu else float("nan")
        rows.append({"width": width, "weights": weights, "cpu_ms": cpu * 1e3, "cuda_ms": cuda * 1e3})
        print(
            f"width {width:5d}: {weights:>9,} weights, CPU ({args.threads} threads) {cpu * 1e3:7.2f} ms, "
            f"GPU {cuda * 1e3:7.2f} ms a step",
            flush=True,
        )
    name = torch.cuda.get_device_name() if gpu else "none"
    print(json_line({"benchmark": "device_crossover", "gpu": name, "threads": args.threads, "rows": rows}))


if __name__ == "__main__":
    main()
