"""Semi-amortised training: refine each sample's posterior, then importance-weight around it.

The amortised ELBO charges a model for its encoder's errors, so it prefers decoders that are easy
to invert over the true one (BRIEF.md: ~1 nat of amortisation gap at the true model against a
~0.15-nat likelihood margin). This objective takes the encoder out of the decoder's gradient:

1. the encoder proposes z0 = E_q[z|x];
2. ``refine_steps`` Levenberg-Marquardt steps on  -log p(x|z) - log p(z)  under the *current* model,
   each accepted only if it lowers the objective (damped: near a kink an undamped step overshoots),
   give a mode z* and a Gauss-Newton precision H (no gradient flows through them);
3. r(z|x) = N(z*, H^-1) proposes ``n_samples`` draws; the decoder, prior and noise maximise the
   importance-weighted bound  log (1/S) sum_s p(x, z_s) / r(z_s|x),  which tends to log p(x);
4. the encoder follows by reweighted wake-sleep: it maximises sum_s w~_s log q(z_s|x) with the
   normalised weights w~ held fixed, i.e. it moves towards the posterior, not the decoder towards it.

The per-sample loss returned has the value of the negative bound (so logs stay in nats), and the
gradient of both parts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from latentid.models.networks import LatentModule

LOG_2PI = math.log(2.0 * math.pi)
INITIAL_DAMPING = 1e-3


def _energy(module: LatentModule, x: Tensor, z: Tensor) -> Tensor:
    """-log p(x|z) - log p(z) per sample; x (b, d), z (b, m) -> (b,)."""
    return -module.likelihood.log_prob(x, module.decoder(z)) - module.prior.log_prob(z)


def decoder_with_jacobian(module: LatentModule, z: Tensor) -> tuple[Tensor, Tensor]:
    """f(z) (b, d) and df/dz (b, d, m), carried forward layer by layer (far cheaper than vmap(jacfwd))."""
    h = z
    jac = torch.eye(z.shape[1], device=z.device, dtype=z.dtype).expand(z.shape[0], -1, -1)
    for layer in module.decoder:
        if isinstance(layer, nn.Linear):
            h = layer(h)
            jac = torch.einsum("oi,bim->bom", layer.weight, jac)
        elif isinstance(layer, nn.LeakyReLU):
            slope = torch.where(h > 0, 1.0, layer.negative_slope)
            h, jac = h * slope, jac * slope.unsqueeze(-1)
        elif isinstance(layer, nn.ReLU):
            mask = (h > 0).to(h.dtype)
            h, jac = h * mask, jac * mask.unsqueeze(-1)
        else:  # a smooth activation: fall back to automatic differentiation for the whole decoder
            return module.decoder(z), torch.func.vmap(torch.func.jacfwd(module.decoder))(z)
    return h, jac


def _component_precisions(module: LatentModule) -> Tensor:
    """Sigma_c^-1 of every prior component, (K, m, m)."""
    tril = module.prior.scale_tril().detach()
    eye = torch.eye(tril.shape[-1], device=tril.device, dtype=tril.dtype).expand_as(tril)
    tril_inv = torch.linalg.solve_triangular(tril, eye, upper=False)
    return tril_inv.transpose(-1, -2) @ tril_inv


def _gauss_newton_system(module: LatentModule, x: Tensor, z: Tensor, precisions: Tensor) -> tuple[Tensor, Tensor]:
    """Gradient (b, m) and Gauss-Newton Hessian (b, m, m) of the energy at z; precisions (K, m, m)."""
    f, jac = decoder_with_jacobian(module, z)
    with torch.enable_grad():
        f_req = f.detach().requires_grad_(True)
        z_req = z.detach().requires_grad_(True)
        grad_f = torch.autograd.grad(module.likelihood.log_prob(x, f_req).sum(), f_req)[0]  # (b, d)
        grad_prior = torch.autograd.grad(module.prior.log_prob(z_req).sum(), z_req)[0]  # (b, m)
    grad = -torch.einsum("bdm,bd->bm", jac, grad_f) - grad_prior
    fisher = module.likelihood.fisher_diag(f)  # (b, d): E[-d^2 log p(x|f) / df^2]
    gamma = module.prior.log_responsibilities(z).exp()  # (b, K): the prior's curvature, component-weighted
    hess = torch.einsum("bdi,bd,bdj->bij", jac, fisher, jac) + torch.einsum("bk,kij->bij", gamma, precisions)
    return grad, hess


@torch.no_grad()
def refine_posterior_mode(module: LatentModule, x: Tensor, z0: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """``steps`` damped Gauss-Newton steps from z0 (b, m); returns the mode z* (b, m) and precision H (b, m, m).

    Each row keeps its own damping: a step is taken only where it lowers the energy (else the damping
    grows fourfold), so the energy never increases.
    """
    z = z0.detach()
    m = z.shape[1]
    eye = torch.eye(m, device=z.device, dtype=z.dtype)
    energy = _energy(module, x, z)
    damping = torch.full_like(energy, INITIAL_DAMPING)
    precisions = _component_precisions(module)
    grad, hess = _gauss_newton_system(module, x, z, precisions)
    for _ in range(steps):
        scale = torch.diagonal(hess, dim1=-2, dim2=-1)  # (b, m): Marquardt's scaling
        damped = hess + torch.diag_embed(damping[:, None] * scale) + 1e-9 * eye
        step = -torch.linalg.solve(damped, grad.unsqueeze(-1)).squeeze(-1)
        candidate = z + step
        new_energy = _energy(module, x, candidate)
        better = new_energy < energy
        z = torch.where(better[:, None], candidate, z)
        energy = torch.where(better, new_energy, energy)
        damping = torch.where(better, damping / 3.0, damping * 4.0).clamp(1e-9, 1e9)
        grad, hess = _gauss_newton_system(module, x, z, precisions)
    return z, hess


def refined_iw_loss(
    module: LatentModule, x: Tensor, generator: torch.Generator | None, n_samples: int, steps: int
) -> Tensor:
    """Per-sample loss: value = -(importance-weighted bound around the refined mode); x (b, d) -> (b,).

    Gradients: the bound's for the decoder, prior and likelihood; reweighted wake-sleep for the encoder.
    """
    mean, logvar = module.encoder(x)
    z_star, hess = refine_posterior_mode(module, x, mean, steps)
    b, m = z_star.shape
    eye = torch.eye(m, device=x.device, dtype=x.dtype)
    chol = torch.linalg.cholesky(hess + 1e-6 * eye)  # H = L L^T; draws z* + L^-T eps have covariance H^-1
    eps = torch.randn((n_samples, b, m), generator=generator, device=x.device, dtype=x.dtype)
    offsets = torch.linalg.solve_triangular(chol.transpose(-1, -2), eps.permute(1, 2, 0), upper=True)  # (b, m, S)
    z = (z_star.unsqueeze(-1) + offsets).permute(2, 0, 1).detach()  # (S, b, m)
    half_log_det = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # 1/2 log|H|, (b,)
    log_r = -0.5 * eps.pow(2).sum(-1) - 0.5 * m * LOG_2PI + half_log_det  # (S, b)
    flat = z.reshape(n_samples * b, m)
    f = module.decoder(flat).reshape(n_samples, b, -1)
    log_w = module.likelihood.log_prob(x, f) + module.prior.log_prob(flat).reshape(n_samples, b) - log_r
    bound = torch.logsumexp(log_w, dim=0) - math.log(n_samples)  # (b,)
    weights = torch.softmax(log_w.detach(), dim=0)  # (S, b)
    var = logvar.exp()
    log_q = -0.5 * ((z - mean).pow(2) / var + logvar + LOG_2PI).sum(-1)  # (S, b), grads to the encoder
    wake = (weights * log_q).sum(0)
    return -bound - (wake - wake.detach())


TRANSFORM_STEPS = 20  # Gauss-Newton steps from the encoder mean when transform(refine=True) looks for the mode
STUDENT_DF = 5.0  # heavy tails cover the neighbouring affine pieces of a piecewise-affine decoder


@torch.no_grad()
def laplace_posterior_mean(
    module: LatentModule,
    x: Tensor,
    generator: torch.Generator | None,
    n_samples: int = 256,
    steps: int = TRANSFORM_STEPS,
    max_elements: int = 2**22,
) -> Tensor:
    """E[z | x] under the fitted model: the mode refined from the encoder mean, then self-normalised
    importance sampling from a Student-t (``STUDENT_DF``) with the Gauss-Newton precision at the mode.

    The encoder only starts the search, so an imprecise encoder costs nothing here (the oracle does the
    same for the true model). Every row uses the same standard draws (common random numbers), so a row's
    estimate depends on that row alone, not on the rows beside it or their order. x (n, n_features) -> (n, latent_dim).
    """
    out, eps = [], None
    chunk = max(1, max_elements // (n_samples * max(x.shape[1], 1)))
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk]
        z_star, hess = refine_posterior_mode(module, xb, module.encoder(xb)[0], steps)
        b, m = z_star.shape
        if eps is None:  # drawn once, for every chunk
            eps = torch.randn((1, m, n_samples), generator=generator, device=x.device, dtype=x.dtype)
            scale = _chi2_scale(generator, (1, 1, n_samples), x)  # Student-t: a normal over sqrt(chi^2 / df)
            maha_all = (eps * scale).pow(2).sum(1).T  # (S, 1): delta^T H delta, the same for every row
        chol = torch.linalg.cholesky(hess + 1e-6 * torch.eye(m, device=x.device, dtype=x.dtype))
        delta = torch.linalg.solve_triangular(chol.transpose(-1, -2), eps.expand(b, m, n_samples), upper=True)
        z = (z_star.unsqueeze(-1) + delta * scale).permute(2, 0, 1)  # (S, b, m)
        maha = maha_all.expand(n_samples, b)
        log_r = -0.5 * (STUDENT_DF + m) * torch.log1p(maha / STUDENT_DF)  # up to a per-row constant
        flat = z.reshape(n_samples * b, m)
        f = module.decoder(flat).reshape(n_samples, b, -1)
        log_w = module.likelihood.log_prob(xb, f) + module.prior.log_prob(flat).reshape(n_samples, b) - log_r
        w = torch.softmax(log_w, dim=0)
        out.append((w.unsqueeze(-1) * z).sum(0))
    return torch.cat(out, dim=0)


def _chi2_scale(generator: torch.Generator, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """1 / sqrt(u / df) with u ~ chi^2(df) drawn from ``generator`` (df integer: a sum of squared normals)."""
    normals = torch.randn((*shape, int(STUDENT_DF)), generator=generator, device=like.device, dtype=like.dtype)
    return (normals.pow(2).sum(-1) / STUDENT_DF).rsqrt()
