"""Affine layers on the CPU through oneDNN, which PyTorch ships but does not use for fp32 ``linear``.

PyTorch's CPU ``linear`` calls MKL's sgemm. On AMD processors MKL takes a slower code path than the
processor allows: on a 2-core AMD EPYC with AVX-512 (benchmarks/README), MKL ran this project's layer
shapes at 210-218 GFLOP/s where oneDNN, bundled in the same wheel, ran them at 430-470 in fp32
(the same IEEE fp32 arithmetic: no bf16 or TF32 rounding). ``Linear`` is an ``nn.Linear`` (same
parameters, same state dict) whose forward and backward products go through oneDNN when that helps:
a float32 input on an x86-64 CPU, with plain autograd (no ``torch.func`` transform, forward-mode AD,
``torch.compile``, ``torch.jit`` tracing or autocast; oneDNN not switched off by
``torch.backends.mkldnn.flags``), on a PyTorch that has the op, and a product large enough
(``ONEDNN_MIN_WORK``) to repay oneDNN's fixed cost of about 40 microseconds a layer (forward and
backward). Everything else, and ``LATENTID_ONEDNN=0`` (or false, off, no) in the environment, takes
``F.linear``.
"""

from __future__ import annotations

import os
import platform

import torch
from torch import Tensor, nn
from torch.nn import functional as F

_ONEDNN = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
# Measured on x86-64 only; elsewhere (ARM) the platform's own BLAS is likely the better choice.
_X86_64 = platform.machine().lower() in ("x86_64", "amd64")
_OFF = ("0", "false", "off", "no")
# torch >= 2.1 is supported: is_compiling came in 2.3 and is_autocast_enabled(device) in 2.4.
_is_compiling = getattr(torch.compiler, "is_compiling", None) or (lambda: torch._dynamo.is_compiling())
try:
    torch.is_autocast_enabled("cpu")
    _autocast_on_cpu = lambda: torch.is_autocast_enabled("cpu")  # noqa: E731
except TypeError:
    _autocast_on_cpu = torch.is_autocast_cpu_enabled

# Rows x in_features x out_features from which oneDNN is taken. On the AMD machine above, forward and
# backward of a layer tie near 4 million (256 x 128 x 128: 0.96 of MKL's time), oneDNN takes 0.45-0.76 of
# MKL's time at 5.1 million (256 rows, 2000 -> 10 and 10 -> 2000), 0.51 at 64 million, and 1.1-2.3 times it
# below 2.6 million, where its fixed cost dominates; the paper's 10-unit networks stay on F.linear.
ONEDNN_MIN_WORK = 4_000_000


def onednn_available() -> bool:
    """Whether this PyTorch has oneDNN's linear op."""
    return _ONEDNN is not None and torch.backends.mkldnn.is_available()


def onednn_enabled() -> bool:
    """Whether large CPU float32 layers go through oneDNN: it is available, the CPU is x86-64, oneDNN is not
    switched off in torch, and ``LATENTID_ONEDNN`` is not 0 (false, off, no)."""
    return (
        onednn_available()
        and _X86_64
        and torch.backends.mkldnn.enabled
        and os.environ.get("LATENTID_ONEDNN", "").strip().lower() not in _OFF
    )


def _product(a: Tensor, b_t: Tensor) -> Tensor:
    """a (r, k) @ b_t.T with b_t (c, k) -> (r, c), by oneDNN (strided views accepted)."""
    return _ONEDNN(a, b_t, None, "none", [], "")


def _weight_gradient(grad: Tensor, x: Tensor) -> Tensor:
    """grad.T @ x, (out, in), from grad (n, out) and x (n, in).

    oneDNN copies its first operand into row-major order, so the transposed operand given first should be
    the cheaper one to copy: grad.T, unless x.T plus transposing the (in, out) result is less to move (a
    layer much wider at its output than its input, such as the decoder's first).
    """
    n, n_out = grad.shape
    n_in = x.shape[1]
    if n_in * (n + n_out) < n_out * n:
        return _product(x.T, grad.T).T.contiguous()
    return _product(grad.T, x.T)


class _OneDNNLinear(torch.autograd.Function):
    """y = x W^T + b with x (n, in), W (out, in), b (out,) or None; both passes by oneDNN."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        needs_x_grad, needs_w_grad = ctx.needs_input_grad[:2]
        ctx.save_for_backward(x if needs_w_grad else None, weight if needs_x_grad else None)  # only what is used
        ctx.has_bias = bias is not None
        return _ONEDNN(x, weight, bias, "none", [], "")

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        if torch.is_grad_enabled():  # create_graph: differentiable products, so a second backward works
            grad_x = grad @ weight if ctx.needs_input_grad[0] else None
            grad_w = grad.T @ x if ctx.needs_input_grad[1] else None
        else:
            grad_x = _product(grad, weight.T) if ctx.needs_input_grad[0] else None
            grad_w = _weight_gradient(grad, x) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def _takes_fast_path(x: Tensor, weight: Tensor) -> bool:
    return (
        x.dim() == 2
        and x.shape[1] == weight.shape[1]  # else F.linear, for its error message
        and x.shape[0] * weight.numel() >= ONEDNN_MIN_WORK
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.device.type == "cpu"
        and not torch._C._are_functorch_transforms_active()
        and getattr(torch.autograd.forward_ad, "_current_level", -1) < 0  # no dual tensors in flight
        and not _is_compiling()  # inductor cannot lower the op in a training graph
        and not torch.jit.is_tracing()
        and not _autocast_on_cpu()
        and onednn_enabled()
    )


class Linear(nn.Linear):
    """``nn.Linear`` whose CPU float32 products run through oneDNN (module docstring); x (n, in) -> (n, out)."""

    def forward(self, x: Tensor) -> Tensor:
        if _takes_fast_path(x, self.weight):
            return _OneDNNLinear.apply(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)
