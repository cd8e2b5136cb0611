"""Training speed against this machine's matmul ceiling, measured in one run.

Prints, for VaDE at MNIST size (784-500-500-2000 encoder, 10 latents, K = 10, Bernoulli, batch 256) and at
the default synthetic size (m = 2, 10 features, K = 4, batch 256):

- the machine's ceiling: the best median GFLOP/s of large fp32 matmuls (``--matmul-size``, all torch threads)
  among the libraries at hand: torch.mm (MKL in the CPU wheel), oneDNN (bundled with torch; what latentid's
  large CPU layers use) and numpy's BLAS (OpenBLAS), each also printed; on a GPU, torch.mm alone;
- a training step (forward, backward, Adam) of VaDE, and of the same networks trained as a plain
  autoencoder (the warm start's reconstruction loss): median seconds over ``--repeats`` timed steps of each,
  taken in turn, after ``--warmup`` untimed ones; samples/s; achieved GFLOP/s by a FLOP count of the linear
  layers (a training step costs 3 forward passes: forward, and backward for inputs and weights); the fraction
  of the ceiling; the prior's overhead (VaDE step / autoencoder step - 1);
- on the CPU, the same VaDE MNIST step with every layer on ``F.linear`` (torch's BLAS; ``LATENTID_ONEDNN=0``),
  against latentid's layers, whose large products go through oneDNN (``latentid.models.cpu_linear``), the
  three steps timed in turn;
- one full MNIST-size epoch (70,000 images, the training loop's own ``run_epoch``);
- ``identifiability_report`` on 1,000,000 x 50 latents and the simulator drawing 1,000,000 samples.

The last line is one JSON object with every figure (keys ``ceiling_gflops``, ``vade_mnist_gflops``,
``vade_mnist_fraction_of_ceiling``, ``prior_overhead``, ``mnist_epoch_seconds``, ...).

Usage::

    python benchmarks/speed.py                 # all torch threads (2 here)
    python benchmarks/speed.py --device cuda   # the same on a GPU
    python benchmarks/speed.py --skip-report --skip-simulator --repeats 10   # the training figures only
    python benchmarks/speed.py --compile --skip-epoch --skip-report --skip-simulator   # an inductor-compiled loss
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from arguments import positive_int
from json_line import json_line
from threadpoolctl import threadpool_limits

from latentid.models import VaDE
from latentid.models.cpu_linear import _product, onednn_available, onednn_enabled
from latentid.models.fitting import _autoencoder_loss
from latentid.training import make_adam, run_epoch

MNIST = {
    "latent_dim": 10,
    "n_components": 10,
    "hidden_dims": [2000, 500, 500],
    "encoder_dims": [500, 500, 2000],
    "likelihood": "bernoulli",
    "covariance": "full",
}
MNIST_FEATURES = 784
MNIST_EPOCH_ROWS = 70_000
SYNTHETIC = {"latent_dim": 2, "n_components": 4}
SYNTHETIC_FEATURES = 10
BATCH = 256


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved_median_seconds(
    fns: list[Callable[[], object]], repeats: int, warmup: int, device: torch.device
) -> list[float]:
    """Median wall time of each of ``fns`` over ``repeats`` rounds that call them in turn, after ``warmup``
    untimed rounds: a drift of the machine's speed during the run (another process, the clock) falls on all
    alike, so their ratio is fair."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times, strict=True):
            tic = time.perf_counter()
            fn()
            sync(device)
            spent.append(time.perf_counter() - tic)
    return [statistics.median(spent) for spent in times]


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    return interleaved_median_seconds([fn], repeats, warmup, device)[0]


def matmul_ceilings(size: int, repeats: int, device: torch.device) -> dict[str, float]:
    """GFLOP/s of (size x size) @ (size x size) fp32 products by each library, the median of ``repeats``."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device)
    b = torch.randn(size, size, generator=gen).to(device)
    out = torch.empty(size, size, device=device)
    products: dict[str, Callable[[], object]] = {"torch_mm": lambda: torch.mm(a, b, out=out)}
    if device.type == "cpu":
        if onednn_available():
            b_t = b.T.contiguous()
            products["onednn"] = lambda: _product(a, b_t)  # a @ b by the op latentid's layers call
        a_np, b_np, out_np = a.numpy(), b.numpy(), out.numpy()
        products["numpy"] = lambda: np.matmul(a_np, b_np, out=out_np)
    gflops = {}
    with threadpool_limits(limits=torch.get_num_threads(), user_api="blas"):  # numpy's BLAS: torch's threads
        for name, product in products.items():
            gflops[name] = 2 * size**3 / median_seconds(product, repeats, 2, device) / 1e9
    return gflops


def forward_flops(module) -> int:
    """FLOPs of one sample's forward pass through every Linear layer of the encoder and decoder (2 per MAC)."""
    layers = [m for part in (module.encoder, module.decoder) for m in part.modules() if isinstance(m, torch.nn.Linear)]
    return sum(2 * layer.in_features * layer.out_features for layer in layers)


def build(params: dict, n_features: int, device: torch.device):
    """A VaDE estimator and a fresh module on ``device`` (random weights, the prior at its built state)."""
    model = VaDE(**params, random_state=0)
    module = model._build(n_features, torch.Generator().manual_seed(0)).to(device)
    return model, module


def step_fn(module, loss_fn, x: torch.Tensor, generator: torch.Generator):
    """One training step (forward, backward, Adam) on the batch x, as the training loop takes it."""
    optimizer = make_adam([{"params": list(module.parameters()), "lr": 1e-3}])  # the training loop's Adam

    def step():
        loss = loss_fn(x, generator).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def on_f_linear(step: Callable[[], None]) -> Callable[[], None]:
    """``step`` with every layer on F.linear (``LATENTID_ONEDNN=0`` while it runs), for the oneDNN A/B."""

    def run() -> None:
        before = os.environ.get("LATENTID_ONEDNN")
        os.environ["LATENTID_ONEDNN"] = "0"
        try:
            step()
        finally:
            if before is None:
                del os.environ["LATENTID_ONEDNN"]
            else:
                os.environ["LATENTID_ONEDNN"] = before

    return run


def time_steps(params: dict, n_features: int, args, device: torch.device, binary: bool, f_linear: bool) -> dict:
    """Step times of VaDE and of the plain autoencoder on the same networks, and what follows from them;
    with ``f_linear``, also of VaDE with every layer on F.linear. The steps are timed in turn (interleaved)."""
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(BATCH, n_features, generator=gen, device=device)
    if binary:
        x = (x > 0.5).float()
    model, module = build(params, n_features, device)
    loss = lambda b, g: model._loss(module, b, g)  # noqa: E731
    if args.compile:  # inductor-compiled loss (forward and backward); the first call compiles, in the warm-up
        loss = torch.compile(loss, mode=args.compile_mode)
    _, ae_module = build(params, n_features, device)
    steps = [step_fn(module, loss, x, gen), step_fn(ae_module, _autoencoder_loss(ae_module), x, gen)]
    if f_linear:
        _, plain_module = build(params, n_features, device)
        plain_loss = lambda b, g: model._loss(plain_module, b, g)  # noqa: E731
        steps.append(on_f_linear(step_fn(plain_module, plain_loss, x, gen)))
    vade, plain, *rest = interleaved_median_seconds(steps, args.repeats, args.warmup, device)
    flops = 3 * forward_flops(module) * BATCH
    figures = {
        "step_seconds": vade,
        "autoencoder_step_seconds": plain,
        "samples_per_second": BATCH / vade,
        "gflops": flops / vade / 1e9,
        "autoencoder_gflops": flops / plain / 1e9,
        "prior_overhead": vade / plain - 1,
    }
    if f_linear:
        figures["step_seconds_f_linear"] = rest[0]
        figures["onednn_speedup"] = rest[0] / vade
    return figures


def mnist_epoch(args, device: torch.device) -> float:
    """Seconds of one training-loop epoch over 70,000 MNIST-size rows (random binary pixels)."""
    model, module = build(MNIST, MNIST_FEATURES, device)
    gen = torch.Generator(device=device).manual_seed(0)
    x = (torch.rand(MNIST_EPOCH_ROWS, MNIST_FEATURES, generator=gen, device=device) > 0.5).float()
    params = list(module.parameters())
    optimizer = make_adam([{"params": params, "lr": 1e-3}])
    loss = lambda b, g: model._loss(module, b, g)  # noqa: E731
    run_epoch(loss, optimizer, params, x[: BATCH * args.warmup], BATCH, gen)  # warm-up
    sync(device)
    tic = time.perf_counter()
    run_epoch(loss, optimizer, params, x, BATCH, gen)
    sync(device)
    return time.perf_counter() - tic


def report_seconds() -> float:
    from latentid.metrics import identifiability_report

    rng = np.random.default_rng(0)
    z_true = rng.normal(size=(1_000_000, 50)).astype(np.float32)
    z_hat = (z_true @ rng.normal(size=(50, 50)) + 0.1 * rng.normal(size=(1_000_000, 50))).astype(np.float32)
    tic = time.perf_counter()
    identifiability_report(z_true, z_hat)
    return time.perf_counter() - tic


def simulator_seconds() -> float:
    from latentid.data.synthetic import SyntheticSpec

    generator = SyntheticSpec.create(seed=0).build()
    tic = time.perf_counter()
    generator.sample(1_000_000)
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="torch threads [default: torch's, all cores]"
    )
    parser.add_argument("--repeats", type=positive_int, default=30, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--compile", action="store_true", help="torch.compile the VaDE loss (autoencoder stays eager)")
    parser.add_argument(
        "--compile-mode", default="default", help="torch.compile's mode with --compile (reduce-overhead: CUDA graphs)"
    )
    parser.add_argument("--skip-epoch", action="store_true", help="skip the full 70,000-row epoch")
    parser.add_argument("--skip-report", action="store_true", help="skip identifiability_report on 1e6 x 50")
    parser.add_argument("--skip-simulator", action="store_true", help="skip the simulator on 1e6 samples")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA device.")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"latentid speed benchmark on {name}, torch {torch.__version__}", flush=True)

    figures: dict[str, float | str] = {"device": name}
    ceilings = matmul_ceilings(args.matmul_size, max(5, args.repeats // 3), device)
    figures.update({f"ceiling_{name}_gflops": value for name, value in ceilings.items()})
    figures["ceiling_gflops"] = max(ceilings.values())
    by_library = ", ".join(f"{name} {value:.1f}" for name, value in ceilings.items())
    print(
        f"matmul ceiling ({args.matmul_size}^3 fp32): {figures['ceiling_gflops']:.1f} GFLOP/s, "
        f"the best of {by_library}",
        flush=True,
    )
    ab = device.type == "cpu" and onednn_enabled() and not args.compile  # oneDNN against F.linear at MNIST size
    for label, params, n_features, binary in (
        ("mnist", MNIST, MNIST_FEATURES, True),
        ("synthetic", SYNTHETIC, SYNTHETIC_FEATURES, False),
    ):
        measured = time_steps(params, n_features, args, device, binary, f_linear=ab and label == "mnist")
        speedup = measured.pop("onednn_speedup", None)
        for key, value in measured.items():
            figures[f"vade_{label}_{key}"] = value
        print(
            f"VaDE {label} step (batch {BATCH}): {measured['step_seconds'] * 1e3:.2f} ms, "
            f"{measured['samples_per_second']:,.0f} samples/s, {measured['gflops']:.1f} GFLOP/s "
            f"({measured['gflops'] / figures['ceiling_gflops']:.0%} of the ceiling); plain autoencoder "
            f"{measured['autoencoder_step_seconds'] * 1e3:.2f} ms ({measured['autoencoder_gflops']:.1f} GFLOP/s); "
            f"prior and ELBO overhead {measured['prior_overhead']:+.1%}",
            flush=True,
        )
        if speedup is not None:
            figures["onednn_speedup"] = speedup
            print(
                f"the same VaDE {label} step with every layer on F.linear (LATENTID_ONEDNN=0), timed in turn with "
                f"it: {measured['step_seconds_f_linear'] * 1e3:.2f} ms; oneDNN's layers are {speedup:.2f}x as fast",
                flush=True,
            )
    figures["vade_mnist_fraction_of_ceiling"] = figures["vade_mnist_gflops"] / figures["ceiling_gflops"]
    figures["prior_overhead"] = figures["vade_mnist_prior_overhead"]
    # the figures a --skip-* leaves out are null in the JSON line, so that every run has the same keys
    figures.update(mnist_epoch_seconds=None, report_1e6x50_seconds=None, simulator_1e6_seconds=None)
    if not args.skip_epoch:
        figures["mnist_epoch_seconds"] = mnist_epoch(args, device)
        print(f"one MNIST-size epoch ({MNIST_EPOCH_ROWS:,} rows): {figures['mnist_epoch_seconds']:.2f} s", flush=True)
    if not args.skip_report:
        figures["report_1e6x50_seconds"] = report_seconds()
        print(f"identifiability_report on 1,000,000 x 50: {figures['report_1e6x50_seconds']:.2f} s", flush=True)
    if not args.skip_simulator:
        figures["simulator_1e6_seconds"] = simulator_seconds()
        print(f"simulator, 1,000,000 samples: {figures['simulator_1e6_seconds']:.2f} s", flush=True)
    # 5 significant figures: a sub-millisecond step time kept one or two at 4 decimals
    print(
        json_line(
            {"benchmark": "speed", **{k: float(f"{v:.5g}") if isinstance(v, float) else v for k, v in figures.items()}}
        )
    )


if __name__ == "__main__":
    main()
