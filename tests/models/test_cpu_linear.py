"""The oneDNN-backed Linear: the same numbers and gradients as F.linear, and taken only where it should be."""

import pytest
import torch
from torch.nn import functional as F

from latentid.models import cpu_linear
from latentid.models.cpu_linear import ONEDNN_MIN_WORK, Linear, onednn_available

pytestmark = pytest.mark.skipif(
    not (onednn_available() and cpu_linear._X86_64), reason="no oneDNN linear op, or not an x86-64 CPU"
)

# (rows, in, out): square, wide at the output (the decoder's first layer: the other weight-gradient branch),
# narrow at the output (the encoder's heads), and one with no bias.
SHAPES = [(256, 160, 120), (256, 10, 2000), (256, 2000, 10)]


def layer(n_in: int, n_out: int, bias: bool = True) -> Linear:
    gen = torch.Generator().manual_seed(n_in * 7 + n_out)
    module = torch.nn.utils.skip_init(Linear, n_in, n_out, bias=bias)
    with torch.no_grad():
        module.weight.copy_(torch.randn(n_out, n_in, generator=gen) / n_in**0.5)
        if bias:
            module.bias.copy_(torch.randn(n_out, generator=gen))
    return module


@pytest.fixture
def counted(monkeypatch):
    """Counts the calls of oneDNN's op (the fast path is taken iff the count grows)."""
    calls = []
    op = cpu_linear._ONEDNN

    def counting(*args):
        calls.append(args[0].shape)
        return op(*args)

    monkeypatch.setattr(cpu_linear, "_ONEDNN", counting)
    monkeypatch.delenv("LATENTID_ONEDNN", raising=False)
    return calls


def reference_and_fast(module: Linear, x: torch.Tensor):
    """Output, and gradients of x, weight and bias, of F.linear and of the module on the same loss."""
    results = []
    for forward in (lambda t: F.linear(t, module.weight, module.bias), module):
        module.zero_grad(set_to_none=True)
        xg = x.detach().clone().requires_grad_(True)
        out = forward(xg)
        (out * torch.linspace(-1, 1, out.shape[1])).square().sum().backward()
        grads = [xg.grad, module.weight.grad] + ([module.bias.grad] if module.bias is not None else [])
        results.append((out.detach(), [g.clone() for g in grads]))
    return results


@pytest.mark.parametrize(("rows", "n_in", "n_out"), SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_outputs_and_gradients_match_f_linear(counted, rows, n_in, n_out, bias):
    module = layer(n_in, n_out, bias)
    x = torch.randn(rows, n_in, generator=torch.Generator().manual_seed(1))
    (ref_out, ref_grads), (out, grads) = reference_and_fast(module, x)
    assert counted, "a layer this large should go through oneDNN"
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_repeated_calls_give_identical_numbers(counted):
    module = layer(300, 200)
    x = torch.randn(256, 300, generator=torch.Generator().manual_seed(2))
    first, second = (reference_and_fast(module, x)[1] for _ in range(2))
    assert counted, "a layer this large should go through oneDNN"
    assert torch.equal(first[0], second[0])
    assert all(torch.equal(a, b) for a, b in zip(first[1], second[1], strict=True))


def test_small_layers_and_other_inputs_take_f_linear(counted):
    small = layer(10, 10)
    small(torch.randn(256, 10))
    assert 256 * 10 * 10 < ONEDNN_MIN_WORK and not counted

    large = layer(300, 200)
    large(torch.randn(4, 256, 300))  # batched 3-D input
    large(torch.randn(1, 300))  # one row: too little work
    large.double()(torch.randn(256, 300, dtype=torch.float64))  # float64
    assert not counted


@pytest.mark.parametrize("off", ["0", "false", "Off", "no"])
def test_the_environment_switch_turns_it_off(counted, monkeypatch, off):
    module = layer(300, 200)
    monkeypatch.setenv("LATENTID_ONEDNN", off)
    module(torch.randn(256, 300))
    assert not counted
    monkeypatch.setenv("LATENTID_ONEDNN", "1")
    module(torch.randn(256, 300))
    assert counted


def test_second_derivatives_work(counted):
    """create_graph=True (a gradient penalty, a Hessian-vector product) needs a differentiable backward."""
    module = layer(300, 200)
    x = torch.randn(256, 300, generator=torch.Generator().manual_seed(3))
    grads = []
    for forward in (lambda t: F.linear(t, module.weight, module.bias), module):
        xg = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(forward(xg).tanh().sum(), xg, create_graph=True)
        grads.append(torch.autograd.grad(gx.square().sum(), module.weight)[0])
    assert counted
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-4)


def test_torch_func_transforms_and_forward_mode_fall_back(counted):
    """vmap, jvp and dual tensors (smooth decoders' Jacobians) cannot see inside the oneDNN op: F.linear."""
    module = layer(300, 200)
    gen = torch.Generator().manual_seed(4)
    x, v = torch.randn(256, 300, generator=gen), torch.randn(256, 300, generator=gen)
    expected = F.linear(x, module.weight, module.bias).detach()
    tangent = F.linear(v, module.weight).detach()

    torch.testing.assert_close(torch.func.vmap(module)(torch.stack([x, x])), torch.stack([expected, expected]))
    out, out_tangent = torch.func.jvp(module, (x,), (v,))
    torch.testing.assert_close(out_tangent, tangent)
    with torch.autograd.forward_ad.dual_level():
        dual = module(torch.autograd.forward_ad.make_dual(x, v))
        torch.testing.assert_close(torch.autograd.forward_ad.unpack_dual(dual).tangent, tangent)
    assert not counted


def test_a_wide_vade_trains_through_onednn_and_reloads_to_the_same_latents(counted, tmp_path):
    from latentid.models import VaDE, load_model

    x = torch.randn(600, 12, generator=torch.Generator().manual_seed(5)).numpy()
    model = VaDE(
        latent_dim=2,
        n_components=3,
        hidden_dims=[256, 256],
        epochs=2,
        pretrain_epochs=1,
        n_init=1,
        batch_size=256,
        random_state=0,
    ).fit(x)
    assert counted, "256 x 256 layers at batch 256 should have gone through oneDNN"
    model.save(tmp_path / "m")
    assert (load_model(tmp_path / "m").transform(x) == model.transform(x)).all()


def test_compile_tracing_autocast_and_torchs_own_switch_fall_back(counted):
    """torch.compile (inductor cannot lower the op in a training graph), jit tracing, autocast (its dtype) and
    torch.backends.mkldnn.flags(enabled=False) all see F.linear."""
    module = layer(300, 200)
    x = torch.randn(256, 300, generator=torch.Generator().manual_seed(6))
    expected = F.linear(x, module.weight, module.bias).detach()

    compiled = torch.compile(module, backend="eager")  # dynamo traces forward: the op would be in its graph
    torch.testing.assert_close(compiled(x), expected)
    traced = torch.jit.trace(module, x, check_trace=False)  # the check would run forward again, untraced
    torch.testing.assert_close(traced(x), expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert module(x).dtype == torch.bfloat16
    with torch.backends.mkldnn.flags(enabled=False):
        module(x)
    assert not counted
    torch._dynamo.reset()


def test_a_wrong_width_gets_torchs_own_message(counted):
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        layer(300, 200)(torch.randn(256 * 4, 299))
    assert not counted


def test_a_frozen_weight_keeps_the_input_gradient_right(counted):
    module = layer(300, 200)
    module.weight.requires_grad_(False)
    x = torch.randn(256, 300, generator=torch.Generator().manual_seed(7), requires_grad=True)
    module(x).square().sum().backward()
    xr = x.detach().clone().requires_grad_(True)
    F.linear(xr, module.weight, module.bias).square().sum().backward()
    assert counted
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-4)
