"""A deep model's memory need, estimated before its networks are built, so that a fit that cannot fit in memory
is refused in one line rather than killed by the system midway (``latentid._memory``).

The default networks are as wide as the data (every hidden width is ``n_features``), so their weights grow with
the square of the feature count: 20 rows of 5,000 features made 250 million weights, and the fit took 17 GB.
"""

from __future__ import annotations

from collections.abc import Sequence

from latentid._memory import check_memory

# Peak resident memory per byte of network weights during a fit: the weights, their gradients and Adam's two
# moments, the best state kept for early stopping, the warm start's copies and the checkpoints written.
# Measured: 18x (VaDE, 2,000 features, default widths, one restart: 3.3 GB peak for 160 MB of weights).
WEIGHT_COPIES = 20
# Bytes kept per hidden unit and row of a batch: the layer's output and activation, and their gradients (fp32).
BYTES_PER_UNIT = 16
# Bytes per value of X (n_samples x n_features) a fit holds beside X itself, at its peak: the standardisation's
# copy of the training rows and its float64 deviations (12), or the standardised X's training and validation rows
# (4). Measured 3.6 copies of a float32 X in all (2.66 GB at 200,000 x 784); a 5 GB X was not refused.
DATA_BYTES_PER_VALUE = 12


def mlp_weights(widths: Sequence[int]) -> int:
    """Weights and biases of an MLP through ``widths`` (input first)."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip(widths[:-1], widths[1:], strict=True))


def fit_memory_need(
    n_features: int,
    n_aux: int,
    latent_dim: int,
    decoder_hidden: Sequence[int],
    encoder_hidden: Sequence[int],
    batch_rows: int,
    samples: int,
) -> tuple[int, float]:
    """(the networks' weights and biases, bytes for one batch's activations) of a fit whose batches have
    ``batch_rows`` rows and whose decoder runs ``samples`` draws of z per row."""
    encoder = (n_features + n_aux, *encoder_hidden)
    weights = mlp_weights(encoder) + 2 * mlp_weights((encoder[-1], latent_dim))  # the trunk, the two heads
    weights += mlp_weights((latent_dim, *decoder_hidden, n_features))
    decoder_units = latent_dim + sum(decoder_hidden) + n_features  # run once per draw of z
    activations = batch_rows * BYTES_PER_UNIT * (sum(encoder) + samples * decoder_units)
    return weights, float(activations)


def check_fit_memory(name: str, weights: int, activation_bytes: float, data_values: int = 0) -> None:
    """InvalidParameterError naming the fix when a fit of networks with ``weights`` fp32 weights (their
    ``WEIGHT_COPIES``), one batch's ``activation_bytes`` and the working copies of ``data_values`` values of X
    needs more memory than is available."""
    weight_bytes = 4.0 * WEIGHT_COPIES * weights
    data_bytes = float(DATA_BYTES_PER_VALUE * data_values)
    if data_bytes >= max(weight_bytes, activation_bytes):
        what = f"{name} on {data_values:,} values of X (its working copies of them)"
        fix = "Fit on fewer rows (a random subset), or on a machine with more memory."
    elif weight_bytes >= activation_bytes:
        what = f"{name}'s networks ({weights:,} weights)"
        fix = "Use narrower networks (hidden_dims, encoder_dims): by default every hidden layer is as wide as the data."
    else:
        what = f"{name}'s batches of activations"
        fix = "Lower batch_size or iw_samples, or use narrower networks (hidden_dims)."
    check_memory(weight_bytes + activation_bytes + data_bytes, f"Fitting {what}", fix)
