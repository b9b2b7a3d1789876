"""Pure numpy statistics used by the aggregation engine. Shapes are in the names' docstrings."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hazflow.exceptions import BadRequest


def prob_to_rate(prob: np.ndarray, investigation_time: float) -> np.ndarray:
    """Poissonian rate (per year) from a probability of exceedance within `investigation_time` years.

    -ln(1 - p) is evaluated by its series p + p^2/2 + p^3/3 + p^4/4 below p = 1e-3 (relative error
    < p^4/5 = 2e-13; numpy's log1p is not vectorised and disaggregations hold millions of tiny
    probabilities) and by log1p above.

    >>> float(prob_to_rate(np.array(0.1), 50.0).round(8))
    0.00210721
    """
    p = np.asarray(prob, dtype=float)
    # Horner's scheme in place: one allocation for millions of bins (`out=` keeps a 0-d input an array)
    rate = np.multiply(p, 0.25, out=np.empty_like(p))
    rate += 1.0 / 3.0
    rate *= p
    rate += 0.5
    rate *= p
    rate += 1.0
    rate *= p
    large = p >= 1e-3
    if large.any():
        rate[large] = -np.log1p(-p[large])
    if investigation_time != 1.0:
        rate /= investigation_time
    return rate


def rate_to_prob(rate: np.ndarray, investigation_time: float) -> np.ndarray:
    """Probability of at least one exceedance within `investigation_time` years."""
    return -np.expm1(-np.asarray(rate, dtype=float) * investigation_time)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Weighted quantiles of each row of non-negative `values` (B, N) with `weights` (N,): returns (Q, B).

    NSHM's convention: stable sort; the i-th sorted value sits at q_i = (cumsum(w)_i - w_i / 2) / sum(w);
    linear interpolation at q, clamped to the smallest and largest value. (OpenQuake's
    `weighted_quantiles` uses cumsum(w) / sum(w): a different answer; see the tests.)

    Each row goes through `row_quantiles`, the function the engine calls; rows of 100,000 values
    or more avoid a full sort (see `_window_quantiles`) with the same answer as the stable sort's.
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if values.size and values.min() < 0:
        raise ValueError("weighted_quantiles takes non-negative values (rates)")
    qs = np.asarray(quantiles, dtype=float)
    out = np.empty((len(qs), values.shape[0]))
    ties = np.arange(values.shape[1])
    total = float(weights.sum())
    for b, row in enumerate(values):
        out[:, b] = row_quantiles(np.ascontiguousarray(row), weights, qs, total, ties)
    return out


def in_threads(work: Callable[[int], object], count: int, threads: int | None = None) -> None:
    """Call work(i) for i < count on up to `threads` threads (default: one per core)."""
    workers = min(threads or os.cpu_count() or 1, count)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, range(count)))
    else:
        for i in range(count):
            work(i)


def row_quantiles(row: np.ndarray, weights: np.ndarray, qs: np.ndarray, total: float, ties: np.ndarray) -> np.ndarray:
    """Midpoint-convention quantiles (Q,) of one row of non-negative values; equal values ordered by
    `ties` (the position in the stable sort's input)."""
    if len(row) < 100_000:
        order = np.lexsort((ties, row))
        w = weights[order]
        return np.interp(qs, (np.cumsum(w) - 0.5 * w) / total, row[order])
    return _window_quantiles(row, weights, qs, total, ties)


_SHIFT = np.uint64(40)  # keep the exponent and the top 12 mantissa bits: bins 2**-12 wide, relatively


def _window_quantiles(row: np.ndarray, weights: np.ndarray, qs: np.ndarray, total: float, ties: np.ndarray) -> np.ndarray:
    """Exact midpoint-convention quantiles of one row without sorting it whole.

    A non-negative float's bits are monotonic in its value, so `bits >> 40` is an order-preserving
    bin index. A weighted histogram over those bins finds, for each q, the bin where the cumulative
    weight crosses q; only the atoms of that bin and of the nearest non-empty bins on either side
    are sorted (by value, then `ties`, as a stable sort orders ties), with the exact weight of all
    atoms before the window. The neighbours on both sides of q are always inside the window.
    """
    coarse = row.view(np.uint64) >> _SHIFT
    positive = coarse > 0
    base = coarse[positive].min() if positive.any() else np.uint64(1)
    bins = np.where(positive, coarse - base + np.uint64(1), np.uint64(0)).astype(np.intp)  # bin 0: zeros (and denormals)
    counts = np.bincount(bins)
    cumulative = np.cumsum(np.bincount(bins, weights=weights, minlength=len(counts)))
    occupied = np.flatnonzero(counts)
    crossing = np.minimum(np.searchsorted(cumulative, qs * total, side="left"), len(counts) - 1)
    at = np.minimum(np.searchsorted(occupied, crossing), len(occupied) - 1)
    lows = occupied[np.maximum(at - 1, 0)]
    highs = occupied[np.minimum(at + 1, len(occupied) - 1)]
    wanted = np.zeros(len(counts), dtype=bool)
    for lo, hi in zip(lows, highs, strict=True):
        wanted[lo : hi + 1] = True
    candidates = np.flatnonzero(wanted[bins])
    out = np.empty(len(qs))
    for i, (q, lo, hi) in enumerate(zip(qs, lows, highs, strict=True)):
        in_window = candidates[(bins[candidates] >= lo) & (bins[candidates] <= hi)]
        idx = in_window[np.lexsort((ties[in_window], row[in_window]))]
        w = weights[idx]
        before = cumulative[lo - 1] if lo > 0 else 0.0
        out[i] = np.interp(q, (before + np.cumsum(w) - 0.5 * w) / total, row[idx])
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


def annual_poe(poe: float, years: float = 50.0) -> float:
    """Annual probability equivalent to `poe` within `years` (Poissonian).

    >>> round(annual_poe(0.1), 8)
    0.00210499
    """
    if not 0.0 < poe < 1.0:
        raise BadRequest("poes", f"a PoE must lie in (0, 1), got {poe}")
    return float(-np.expm1(np.log1p(-poe) / years))
