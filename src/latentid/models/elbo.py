"""The evidence lower bound of a latent-variable model with a (mixture) prior, and the
importance-weighted bound.

With q(z|x) = N(m, diag v) from the encoder and a prior with components c,

    ELBO(x) = E_q[log p(x|z)]  +  P(x)  +  H[q(z|x)],

- E_q[log p(x|z)]: Monte Carlo, reparameterised z = m + sqrt(v) * eps (1 draw per step in training).
- H[q(z|x)] = 1/2 sum_j log(2 pi e v_j): exact.
- P(x), the prior part, by one of three estimators (``PRIOR_TERMS``):

  'mean_field' (exact, the default): q(z, c|x) = q(z|x) q(c|x) with the q(c|x) that maximises the bound,
      q(c|x) = softmax_c(a_c), a_c = log pi_c + E_q[log N(z; mu_c, Sigma_c)], so that
      P = max_q(c) sum_c q(c)(a_c - log q(c)) = logsumexp_c a_c.  a_c is closed form:
      E_q[log N] = -1/2 [m log 2pi + log|Sigma_c| + (m - mu_c)^T Sigma_c^-1 (m - mu_c) + tr(Sigma_c^-1 diag v)].
      No sampling at all in this term.
  'vade' (Jiang et al. 2017): q(c|x) = gamma = p(c | z_s) at the reparameterised sample z_s (MC), then
      P = sum_c gamma_c (a_c - log gamma_c), exact given gamma. Never above 'mean_field'.
  'marginal': c marginalised inside the expectation, P = E_q[log p(z)], estimated by log p(z_s) (MC).
      The tightest of the three (Jensen: E[logsumexp] >= logsumexp E), but noisier.

For one standard-normal component 'mean_field' and 'vade' are both the analytic KL of a vanilla VAE.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from latentid.models.networks import LatentModule
from latentid.models.priors import Prior

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_entropy(logvar: Tensor) -> Tensor:
    """H[N(m, diag exp(logvar))], exact; logvar (n, m) -> (n,)."""
    return 0.5 * (logvar + 1.0 + LOG_2PI).sum(-1)


def _mean_field(prior: Prior, mean: Tensor, var: Tensor, z: Tensor) -> Tensor:
    return prior.expected_log_marginal(mean, var)  # exact: z is not used


def _vade(prior: Prior, mean: Tensor, var: Tensor, z: Tensor) -> Tensor:
    a = prior.expected_log_joint(mean, var)  # (n, K), exact
    s, n, m = z.shape
    log_gamma = prior.log_responsibilities(z.reshape(s * n, m)).reshape(s, n, -1)  # MC through z_s
    return (log_gamma.exp() * (a - log_gamma)).sum(-1).mean(0)


def _marginal(prior: Prior, mean: Tensor, var: Tensor, z: Tensor) -> Tensor:
    s, n, m = z.shape
    return prior.log_prob(z.reshape(s * n, m)).reshape(s, n).mean(0)


# name -> P(prior, mean (n, m), var (n, m), z samples (S, n, m)) of shape (n,)
PRIOR_TERMS: dict[str, Callable[[Prior, Tensor, Tensor, Tensor], Tensor]] = {
    "mean_field": _mean_field,
    "vade": _vade,
    "marginal": _marginal,
}


def elbo(
    module: LatentModule,
    x: Tensor,
    generator: torch.Generator | None,
    estimator: str = "mean_field",
    n_samples: int = 1,
    *,
    kl_weight: float = 1.0,
    decoder_gate: Tensor | None = None,
) -> Tensor:
    """Per-sample ELBO in model space (standardised x); x (n, n_features [+ n_aux]) -> (n,).

    The reconstruction term averages ``n_samples`` reparameterised draws; see the module docstring.
    Training schedules only (both leave the bound itself unchanged at their defaults):
    ``kl_weight`` scales the prior and entropy terms (KL warm-up); ``decoder_gate`` (latent_dim,)
    multiplies z before the decoder (MFC-VAE's progressive training fades facets in with it).
    """
    x_obs, prior = module.observed_and_prior(x)
    mean, logvar = module.encoder(x)
    var = logvar.exp()
    eps = torch.randn((n_samples, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
    z = mean + var.sqrt() * eps  # (S, n, m)
    z_in = z if decoder_gate is None else z * decoder_gate
    f = module.decoder(z_in.reshape(-1, z.shape[-1])).reshape(n_samples, x.shape[0], -1)
    recon = module.likelihood.log_prob(x_obs, f).mean(0)
    return recon + kl_weight * (PRIOR_TERMS[estimator](prior, mean, var, z) + gaussian_entropy(logvar))


def q_c_log_probs(module: LatentModule, x: Tensor) -> Tensor:
    """log p(c | z = E_q[z|x]): component posteriors at the encoder mean; (n, n_features) -> (n, K)."""
    mean, _ = module.encoder(x)
    return module.observed_and_prior(x)[1].log_responsibilities(mean)


def iw_bound(
    module: LatentModule,
    x: Tensor,
    generator: torch.Generator | None,
    n_samples: int = 256,
    max_elements: int = 2**22,
) -> Tensor:
    """The importance-weighted bound (Burda et al. 2016) with the encoder as proposal, model space.

    log (1/S) sum_s p(x|z_s) p(z_s) / q(z_s|x), z_s ~ q(z|x): a lower bound on log p(x) whose expectation
    does not decrease with S and tends to log p(x); S = 1 is the ELBO with c marginalised ('marginal'),
    which is at least the 'mean_field' ELBO. x (n, n_features) -> (n,).
    """
    out = []
    chunk = max(1, max_elements // (n_samples * max(x.shape[1], 1)))
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk]
        x_obs, prior = module.observed_and_prior(xb)
        mean, logvar = module.encoder(xb)
        std = (0.5 * logvar).exp()
        eps = torch.randn((n_samples, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + std * eps  # (S, b, m)
        s, b, m = z.shape
        log_q = (-0.5 * eps.pow(2) - std.log() - 0.5 * LOG_2PI).sum(-1)  # (S, b)
        f = module.decoder(z.reshape(s * b, m)).reshape(s, b, -1)
        log_w = module.likelihood.log_prob(x_obs, f) + prior.log_prob(z.reshape(s * b, m)).reshape(s, b) - log_q
        out.append(torch.logsumexp(log_w, dim=0) - math.log(s))
    return torch.cat(out, dim=0)
