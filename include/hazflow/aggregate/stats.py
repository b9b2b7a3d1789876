"""Pure numpy statistics used by the aggregation engine. Shapes are in the names' docstrings."""

from __future__ import annotations

import numpy as np

DEFAULT_QUANTILES: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.975,
    0.99,
    0.995,
)


def prob_to_rate(prob: np.ndarray, investigation_time: float) -> np.ndarray:
    """Poissonian rate (per year) from a probability of exceedance within `investigation_time` years.

    >>> float(prob_to_rate(np.array(0.1), 50.0).round(8))
    0.00210721
    """
    return -np.log1p(-np.asarray(prob, dtype=float)) / investigation_time


def rate_to_prob(rate: np.ndarray, investigation_time: float) -> np.ndarray:
    """Probability of at least one exceedance within `investigation_time` years."""
    return -np.expm1(-np.asarray(rate, dtype=float) * investigation_time)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Weighted quantiles of each row of `values` (B, N) with `weights` (N,): returns (Q, B).

    NSHM's convention: stable sort; the i-th sorted value sits at q_i = (cumsum(w)_i - w_i / 2) / sum(w);
    linear interpolation at q, clamped to the smallest and largest value. (OpenQuake's
    `weighted_quantiles` uses cumsum(w) / sum(w): a different answer; see the tests.)
    """
    values = np.atleast_2d(values)
    out = np.empty((len(quantiles), values.shape[0]))
    total = weights.sum()
    for b, row in enumerate(values):
        order = np.argsort(row, kind="stable")
        w = weights[order]
        positions = (np.cumsum(w) - 0.5 * w) / total
        out[:, b] = np.interp(quantiles, positions, row[order])
    return out


def equal_weight_quantiles(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Quantiles of each column of `values` (K, B) whose K rows weigh the same: returns (Q, B).

    The same midpoint convention as `weighted_quantiles` with w_i = 1 / K: the i-th sorted value
    sits at (i + 0.5) / K. Only the order statistics needed are selected (np.partition), not a full sort.
    """
    k = values.shape[0]
    position = np.clip(np.asarray(quantiles) * k - 0.5, 0.0, k - 1.0)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, k - 1)
    needed = np.unique(np.concatenate([lower, upper]))
    part = np.partition(values, needed, axis=0)
    frac = (position - lower)[:, None]
    return part[lower] * (1.0 - frac) + part[upper] * frac


def weighted_mean_std(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and population std over axis 0 of `values` (N, B) with `weights` (N,) summing to 1."""
    mean = weights @ values
    var = weights @ (values - mean) ** 2
    return mean, np.sqrt(var)
