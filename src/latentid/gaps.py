"""Why a fit falls short of the truth: the likelihood gap of a fitted model on simulated data.

On data whose generator is known, three numbers per sample (nats, the data's own units) place a fit:

- ``true_log_likelihood``: log p(x) under the generator (``latentid.oracle.true_log_likelihood``);
- ``elbo``: the fitted model's training objective (``LatentModel.score_samples``);
- ``iw_bound``: its importance-weighted bound (``LatentModel.iw_bound_samples``), which removes most of
  the encoder's amortisation gap and approaches the fitted model's own log p(x).

``likelihood_gap = true_log_likelihood - max(elbo, iw_bound)``: near 0, the fit explains the data as well
as the truth does (any warping left is one the likelihood cannot see at this sample size); clearly
positive, the fit is a worse model of x than the truth, and better optimisation can still pay.
``amortisation_gap = iw_bound - elbo`` says how much the encoder alone costs the fitted model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from latentid.data.mixing import PIECEWISE_AFFINE
from latentid.data.synthetic import SyntheticGenerator
from latentid.errors import InvalidParameterError
from latentid.models.base import LatentModel
from latentid.models.elbo import elbo, iw_bound
from latentid.models.fitting import own_torch_defaults
from latentid.models.likelihoods import GaussianLikelihood
from latentid.models.networks import GaussianEncoder, LatentModule
from latentid.models.priors import MixturePrior
from latentid.models.refined import refined_iw_loss
from latentid.training import TrainConfig, train

GAP_IW_SAMPLES = 256


def likelihood_gaps(
    model: LatentModel,
    generator: SyntheticGenerator,
    x: np.ndarray,
    *,
    iw_samples: int = GAP_IW_SAMPLES,
    oracle_samples: int = 512,
    random_state: int = 0,
) -> dict[str, float]:
    """Mean per-sample bounds of a fitted ``model`` and the true log p(x) on x (n, n_features).

    Returns a dict with ``true_log_likelihood``, ``true_log_likelihood_se`` (Monte Carlo), ``elbo``,
    ``iw_bound``, ``iw_samples``, ``likelihood_gap`` and ``amortisation_gap`` (see the module docstring).
    """
    _check_model_of_x(model)
    truth = generator.log_likelihood(x, n_samples=oracle_samples, random_state=random_state)
    fit_elbo = float(np.mean(model.score_samples(x, random_state=random_state)))
    iw = float(np.mean(model.iw_bound_samples(x, n_samples=iw_samples, random_state=random_state)))
    return {
        "true_log_likelihood": truth.mean,
        "true_log_likelihood_se": truth.se,
        "elbo": fit_elbo,
        "iw_bound": iw,
        "iw_samples": int(iw_samples),
        "likelihood_gap": truth.mean - max(fit_elbo, iw),
        "amortisation_gap": iw - fit_elbo,
    }


def _check_model_of_x(model) -> None:
    """Refuse, in one line, a model whose bounds are not bounds on log p(x): a linear floor has none, and
    iVAE's are of p(x | u)."""
    name = type(model).__name__
    if not isinstance(model, LatentModel):
        raise InvalidParameterError(
            f"likelihood_gaps needs a deep model of x (VaDE, VAE, MFCVAE); a {name} has no ELBO or "
            "importance-weighted bound to set against the true log p(x)."
        )
    if getattr(model, "aux_dim_", None) is not None:
        raise InvalidParameterError(
            f"likelihood_gaps compares bounds on log p(x) with the true log p(x); the bounds of {name} are of "
            "log p(x | u), so there is no gap to read."
        )


def _check_noise(generator: SyntheticGenerator) -> None:
    if not generator.noise > 0:
        raise InvalidParameterError(
            "the gaps at the truth need noise > 0: with noise 0, x lies on the m-dimensional image of f and has "
            "no density in R^n (no likelihood to bound). Simulate with --noise > 0."
        )


def true_model_module(generator: SyntheticGenerator, encoder_dims=(128, 128), seed: int = 0) -> LatentModule:
    """A ``LatentModule`` holding the *true* decoder, prior and noise of ``generator`` (frozen), with a
    fresh leaky-ReLU encoder of hidden widths ``encoder_dims``. Data space = model space (no standardising).
    """
    mixing = generator.mixing
    if mixing.activation not in PIECEWISE_AFFINE:
        raise InvalidParameterError(
            "the true decoder must be piecewise affine to rebuild it in torch; "
            f"this generator uses {mixing.activation}."
        )
    torch_gen = torch.Generator().manual_seed(seed)
    m, n = mixing.widths[0], mixing.widths[-1]
    layers: list[nn.Module] = []
    for i, (w, b) in enumerate(zip(mixing.weights, mixing.biases, strict=True)):
        linear = nn.utils.skip_init(nn.Linear, w.shape[1], w.shape[0])  # no draw from the global RNG
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < mixing.depth - 1 and mixing.activation != "linear":
            layers.append(nn.LeakyReLU(mixing.slope) if mixing.activation == "leaky-relu" else nn.ReLU())
    decoder = nn.Sequential(*layers)
    prior = MixturePrior(m, generator.prior.n_components, "full")
    prior.set_parameters(generator.prior.weights, generator.prior.means, generator.prior.covariances)
    encoder = GaussianEncoder(n, m, tuple(encoder_dims), "leaky_relu", 0.2, torch_gen)
    module = LatentModule(encoder, decoder, prior, GaussianLikelihood(generator.noise))
    for part in (decoder, prior):
        part.requires_grad_(False)
    return module


def amortisation_gap_at_truth(
    generator: SyntheticGenerator,
    x_train: np.ndarray,
    x_eval: np.ndarray,
    *,
    encoder_dims=(128, 128),
    epochs: int = 100,
    batch_size: int = 256,
    lr: float = 1e-3,
    refine_steps: int = 3,
    iw_samples: int = 8,
    seed: int = 0,
    callback=None,
) -> dict[str, float]:
    """How much an encoder costs at the *true* model: train only an encoder, by the ELBO, against the
    true decoder, prior and noise on x_train (n, d); score on x_eval (n', d), per sample in nats.

    Returns ``true_log_likelihood``, ``elbo`` (amortised), ``iw_bound`` (256 encoder draws),
    ``refined_bound`` (the ``models.refined`` bound: ``refine_steps`` Gauss-Newton steps from the encoder
    mean, ``iw_samples`` draws), and the gaps ``amortisation_gap_at_truth = true - elbo`` and
    ``refined_gap_at_truth = true - refined_bound``. A gap at the truth that is large against the fitted
    model's ``likelihood_gap`` means the training objective, not the data, prefers a warped model.
    """
    with own_torch_defaults(gradients=True):  # trains an encoder, whatever the caller's grad mode and dtype
        return _gap_at_truth(
            generator, x_train, x_eval, encoder_dims, epochs, batch_size, lr, refine_steps, iw_samples, seed, callback
        )


def _gap_at_truth(
    generator, x_train, x_eval, encoder_dims, epochs, batch_size, lr, refine_steps, iw_samples, seed, callback
) -> dict[str, float]:
    """``amortisation_gap_at_truth``'s work, under latentid's torch defaults."""
    _check_noise(generator)
    module = true_model_module(generator, encoder_dims, seed)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(np.asarray(x_train, dtype=np.float32))
    xe = torch.from_numpy(np.asarray(x_eval, dtype=np.float32))
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr_schedule="cosine", stage="encoder-at-truth")
    params = list(module.encoder.parameters())
    loss = lambda xb, g: -elbo(module, xb, g)  # noqa: E731
    train(module, loss, [{"params": params, "lr": lr}], xt, config, gen, callback=callback)
    module.eval()
    truth = generator.log_likelihood(x_eval, random_state=seed)
    with torch.no_grad():
        amortised = float(elbo(module, xe, gen, n_samples=10).mean())
        iw = float(iw_bound(module, xe, gen, GAP_IW_SAMPLES).mean())
        refined = float(-refined_iw_loss(module, xe, gen, iw_samples, refine_steps).mean())
    return {
        "true_log_likelihood": truth.mean,
        "elbo": amortised,
        "iw_bound": iw,
        "refined_bound": refined,
        "amortisation_gap_at_truth": truth.mean - amortised,
        "refined_gap_at_truth": truth.mean - refined,
    }
