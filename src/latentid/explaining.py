"""Glue between data/models and ``latentid.theory``: describe a setting, a dataset or a fitted
model to the theory and collect its verdict (the command line only renders it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentid.data.io import read_dataset
from latentid.data.mixing import normalise_activation
from latentid.data.mixture import GaussianMixture
from latentid.data.synthetic import SyntheticGenerator, SyntheticSpec, _draw_prior
from latentid.errors import InvalidParameterError
from latentid.theory import Check, DecoderDescription, PriorDescription, Verdict, assess, recoverability

RECOVERABILITY_POINTS = 2000
JACOBIAN_POINTS = 2000  # latent points drawn from a fitted prior to check the decoder's Jacobian rank


def describe_generator(generator: SyntheticGenerator) -> tuple[PriorDescription, DecoderDescription]:
    """The true generator as ``assess`` reads it: its mixture prior (with its facets) and its mixing network f.
    ``assess(*describe_generator(gen))`` is the level the theory gives data of this generator."""
    prior = PriorDescription(
        generator.prior.weights, generator.prior.means, generator.prior.covariances, generator.spec.facets
    )
    mixing = generator.mixing
    decoder = DecoderDescription(widths=mixing.widths, activation=mixing.activation, weights=list(mixing.weights))
    return prior, decoder


def explain_spec(options: dict, *, activation: str, output_activation: str = "linear") -> Verdict:
    """Verdict for a setting given as simulate-style options, including settings that leave
    the theory (smooth activations, a squashing output, n < m), which simulate would refuse.
    With ``facets`` in the options, a missing or None latent_dim means the sum of the facets'."""
    activation = normalise_activation(activation)
    output_activation = normalise_activation(output_activation)
    if activation == "leaky-relu" and not options.get("slope", 0.2) > 0:
        raise InvalidParameterError(f"--slope must be > 0 with leaky-relu. Got {options['slope']} instead.")
    if options.get("facets") is not None and options.get("latent_dim") is None:
        options = {**options, "latent_dim": sum(m for m, _ in options["facets"])}
    drawable = options["obs_dim"] >= options["latent_dim"] and activation in {"leaky-relu", "relu", "tanh"}
    if drawable:
        spec = SyntheticSpec.create(**options, activation=activation)
        prior, decoder = describe_generator(spec.build())
        decoder = DecoderDescription(decoder.widths, decoder.activation, output_activation, decoder.weights)
    else:
        # Only the structure can be judged: draw the prior, describe f by its widths.
        prior_spec = SyntheticSpec.create(**{**options, "obs_dim": max(options["obs_dim"], options["latent_dim"])})
        mixture = _draw_prior(prior_spec, np.random.default_rng(options.get("seed", 0)))
        prior = PriorDescription(mixture.weights, mixture.means, mixture.covariances, prior_spec.facets)
        hidden = options.get("hidden_width") or options["obs_dim"]
        widths = [options["latent_dim"]] + [hidden] * (options["depth"] - 1) + [options["obs_dim"]]
        decoder = DecoderDescription(widths, activation, output_activation, None)
    return assess(prior, decoder)


def explain_dataset(path: str | Path) -> Verdict:
    """Verdict for a dataset written by ``latentid simulate``, plus a recoverability check:
    the smallest singular value of f's Jacobian over the data against the noise level."""
    data = read_dataset(path)
    if "spec_json" not in data.extras:  # the user's own data: no generator to judge, but two other ways in
        raise InvalidParameterError(
            f"{path}: no generator is recorded in this file; it was not written by 'latentid simulate'. For your "
            "own data, judge a model fitted to it (latentid explain --run RUN) or the setting you drew it from, "
            "by its flags (e.g. latentid explain --latent-dim 2 --components 4 --activation tanh)."
        )
    generator = SyntheticGenerator.from_arrays(data.extras, source=str(path))
    prior, decoder = describe_generator(generator)
    verdict = assess(prior, decoder)
    z = data.z if data.z is not None else generator.posterior_mean(data.x[:RECOVERABILITY_POINTS])
    jac = generator.mixing.jacobian(z[:RECOVERABILITY_POINTS])
    within_std = float(np.sqrt(np.linalg.eigvalsh(generator.prior.covariances).min()))
    check = recoverability(jac, generator.noise, within_std)
    notes = list(verdict.notes)
    if check.warning:
        figures = check.figures
        notes.append(
            f"Warning: for part of the data the noise blurs z along f's weakest direction by about "
            f"{figures['blur']:.3g}, more than a tenth of the smallest component sd ({figures['prior_min_std']:.3g}): "
            "structure finer than that may not be recoverable, though z as a whole can be (the oracle's scores in "
            "'latentid evaluate' say how well)."
        )
    return Verdict(verdict.level, verdict.equivalence, verdict.checks + [check], notes)


def describe_model(model) -> tuple[PriorDescription, DecoderDescription]:
    """The fitted prior and decoder of a latentid estimator, as the theory sees them."""
    import torch

    from latentid.models.refined import decoder_with_jacobian

    linears = [layer for layer in model.decoder_ if isinstance(layer, torch.nn.Linear)]
    weights = [layer.weight.detach().cpu().double().numpy() for layer in linears]
    widths = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    output = "linear" if isinstance(model.decoder_[-1], torch.nn.Linear) else type(model.decoder_[-1]).__name__
    device = model.module_.x_shift.device
    if getattr(model, "aux_dim_", None) is not None:  # iVAE: the prior given each observed category
        prior = _ivae_prior(model)
        draws, _ = GaussianMixture(prior.weights, prior.means, prior.covariances).sample(JACOBIAN_POINTS, 0)
        z = torch.as_tensor(draws, dtype=torch.float32, device=device)
    else:
        facets = getattr(model, "facets", None)
        facets = None if facets is None else tuple((int(m), int(k)) for m, k in facets)
        prior = PriorDescription(model.weights_, model.means_, model.covariances_, facets)
        with torch.no_grad():
            z, _ = model.prior_.sample(JACOBIAN_POINTS, torch.Generator(device=device).manual_seed(0))
    jac = decoder_with_jacobian(model.module_, z)[1].detach().cpu().double().numpy()  # (N, n, m)
    singular = np.linalg.svd(jac, compute_uv=False)  # (N, m), descending
    smallest = float(np.min(singular[:, -1] / np.maximum(singular[:, 0], 1e-300)))
    activation = normalise_activation(model.activation)
    if activation == "leaky-relu" and not getattr(model, "slope", 0.2) > 0:  # slope 0: a plain ReLU, not injective
        activation = "relu"
    decoder = DecoderDescription(
        widths,
        activation,
        normalise_activation(output),
        weights,
        jacobian_rank=(smallest, JACOBIAN_POINTS),
    )
    return prior, decoder


def _ivae_prior(model) -> PriorDescription:
    """A fitted iVAE's p(z | u) over the categories of u seen at fit, read as a mixture whose component
    is observed (equal weights). A continuous u has no such finite description: an InvalidParameterError."""
    categories = getattr(model, "aux_categories_", None)
    if categories is None:
        raise InvalidParameterError(
            "explain reads an iVAE's prior over the categories of u; this one was fitted with a continuous u, "
            "for which the theory's checks (Khemakhem et al. 2020: 2m+1 values of u of varied natural parameters) "
            "cannot be read off a finite table."
        )
    means, variances = model.prior_parameters(np.asarray(categories))
    k = len(categories)
    return PriorDescription(np.full(k, 1.0 / k), means, np.stack([np.diag(v) for v in variances]))


LINEAR_NOTES = {
    "PCA": "PCA is a linear floor outside this theory: for x linear in z it finds the principal subspace, "
    "its axes fixed only up to rotations within tied variances.",
    "FastICA": "FastICA is a linear floor outside this theory: for x linear in independent non-Gaussian sources "
    "it recovers them up to permutation and scaling; mixture-distributed latents are not independent.",
    "GMMBaseline": "The GMM baseline clusters x itself and reports PCA's latents: a linear floor outside this theory.",
}


def explain_model(model) -> Verdict:
    """Verdict for a fitted model: which level its fitted decoder and prior reach."""
    name = type(model).__name__
    if name in LINEAR_NOTES:
        return Verdict("none", "no guarantee from this theory", [], [LINEAR_NOTES[name]])
    check_fitted = getattr(model, "_check_fitted", None)
    if check_fitted is not None:
        check_fitted()  # NotFittedError (scikit-learn's too), not an AttributeError from inside
    prior, decoder = describe_model(model)
    verdict = assess(prior, decoder)
    if getattr(model, "aux_dim_", None) is not None:
        verdict = Verdict(
            verdict.level,
            verdict.equivalence,
            verdict.checks,
            [
                *verdict.notes,
                "iVAE: u is observed, so each sample's component is given rather than recovered from x; the prior "
                "checks read p(z | u) over the categories of u (Khemakhem et al. 2020's conditions).",
            ],
        )
    if getattr(model, "likelihood", "gaussian") == "bernoulli":
        notes = verdict.notes + [
            "A Bernoulli likelihood squashes f through a sigmoid: outside the noise model of the theory."
        ]
        likelihood = Check(  # the verdict's reason among the checks, where a reader of the JSON looks for a cross
            "Gaussian noise on f(z)",
            False,
            "Bernoulli likelihood: x is drawn from sigmoid(f(z)), outside the theory's noise model",
        )
        return Verdict("none", "no guarantee from this theory", [*verdict.checks, likelihood], notes)
    return verdict
