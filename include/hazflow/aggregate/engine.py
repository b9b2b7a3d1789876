"""Statistics of the composite-branch rates, computed from component realizations.

Inputs are component probabilities (n_components, n_bins) over the investigation time: hazard
curve levels or disaggregation bins, the same engine for both. The mean rate is exact and linear
(marginal weights, never the composite product). The std is exact too: blocks of linked axes are
independent, so the variance is the sum of the blocks' variances, each enumerated (a few hundred
values). Quantiles need the whole distribution: full enumeration of the composites when
n_composites x n_bins fits the budget, otherwise seeded weighted sampling of composites (each
axis drawn independently by its weights), with a convergence report on the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hazflow.aggregate.stats import (
    DEFAULT_QUANTILES,
    equal_weight_quantiles,
    prob_to_rate,
    rate_to_prob,
    weighted_mean_std,
    weighted_quantiles,
)
from hazflow.aggregate.tree import CompositeTree
from hazflow.exceptions import BadRequest

ENUMERATION_BUDGET = 2**26  # composites x bins enumerated at most (about 0.5 GB of float64 per chunk pass)
CHUNK_ELEMENTS = 2**24  # composite values held at once while enumerating (128 MB)


@dataclass(frozen=True)
class Aggregate:
    """Statistics per bin: `mean` and quantiles as probabilities over the investigation time,
    `std` as a rate (per year) and `cov` = std / mean of the rate (0 where the mean is 0)."""

    stats: dict[str, np.ndarray] = field(repr=False)
    method: str  # "enumeration" or "sampling"
    n_composites: int
    n_samples: int = 0
    convergence: float | None = None  # sampling: max relative |sampled - exact| mean over bins with >= 1 % of the total
    renormalised: bool = False


def mean_rate(tree: CompositeTree, rates: np.ndarray) -> np.ndarray:
    """Exact weighted mean of composite rates (n_bins,), through marginal weights."""
    total = np.zeros(rates.shape[1:])
    for term in tree.terms:
        ws, wg = tree.axes[term.source_axis].weights, tree.axes[term.gmm_axis].weights
        total += np.einsum("fcgb,c,g->b", rates[term.rows], ws, wg)
    return total


def _block_values(tree: CompositeTree, block: tuple[int, ...], rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All values (n_block, B) and weights (n_block,) of one block of linked axes, C order over its axes."""
    shape = [len(tree.axes[a].labels) for a in block]
    values = np.zeros(shape + [rates.shape[1]])
    for term in tree.terms:
        if term.source_axis not in block:
            continue
        part = rates[term.rows].sum(axis=0)  # (n_source, n_gmm, B)
        index = [None] * len(block)
        index[block.index(term.source_axis)] = slice(None)
        index[block.index(term.gmm_axis)] = slice(None)
        if block.index(term.source_axis) > block.index(term.gmm_axis):
            part = part.swapaxes(0, 1)
        values += part[tuple(index) + (slice(None),)]
    weights = np.ones(())
    for a in block:
        weights = np.multiply.outer(weights, tree.axes[a].weights)
    return values.reshape(-1, rates.shape[1]), weights.reshape(-1)


def std_rate(tree: CompositeTree, rates: np.ndarray) -> np.ndarray:
    """Exact population std of composite rates: independent blocks' variances add."""
    var = np.zeros(rates.shape[1:])
    for block in tree.blocks():
        values, weights = _block_values(tree, block, rates)
        _, std = weighted_mean_std(values, weights)
        var += std**2
    return np.sqrt(var)


def composite_rates(tree: CompositeTree, rates: np.ndarray) -> np.ndarray:
    """Every composite's rate: (n_composites, B), canonical (C) order over the axes."""
    shape = tree.shape
    out = np.zeros(shape + (rates.shape[1],))
    for term in tree.terms:
        part = rates[term.rows].sum(axis=0)  # (n_source, n_gmm, B)
        index = [None] * len(shape)
        index[term.source_axis] = slice(None)
        index[term.gmm_axis] = slice(None)
        out += part[tuple(index) + (slice(None),)]
    return out.reshape(-1, rates.shape[1])


def sample_composites(tree: CompositeTree, n_samples: int, seed: int) -> np.ndarray:
    """(n_samples, n_axes) choices: each axis drawn by its weights, so composites are drawn by theirs."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(len(a.labels), size=n_samples, p=a.weights) for a in tree.axes], axis=1)


def sampled_rates(tree: CompositeTree, rates: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """(n_samples, B) rates of the sampled composites."""
    out = np.zeros((choices.shape[0], rates.shape[1]))
    for term in tree.terms:
        rows = term.rows[:, choices[:, term.source_axis], choices[:, term.gmm_axis]]  # (n_fs, n_samples)
        for fs_rows in rows:
            out += rates[fs_rows]
    return out


def aggregate(
    tree: CompositeTree,
    probs: np.ndarray,
    investigation_time: float = 1.0,
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
    budget: int = ENUMERATION_BUDGET,
    n_samples: int = 10_000,
    seed: int = 42,
) -> Aggregate:
    """Mean, std, cov and quantiles of the composite rates from component probabilities (n_components, n_bins)."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[0] != len(tree.components):
        raise BadRequest("values", f"expected ({len(tree.components)}, n_bins) component values, got {probs.shape}")
    qs = np.asarray(quantiles, dtype=float)
    if np.any((qs < 0) | (qs > 1)):
        raise BadRequest("quantiles", f"quantiles must lie in [0, 1], got {list(quantiles)}")
    rates = prob_to_rate(probs, investigation_time)
    mean = mean_rate(tree, rates)
    std = std_rate(tree, rates)
    # cov is 0 where the mean is 0 (no hazard: nothing varies)
    cov = np.divide(std, mean, out=np.zeros_like(mean), where=mean > 0)
    stats = {"mean": rate_to_prob(mean, investigation_time), "std": std, "cov": cov}
    live = np.flatnonzero(rates.any(axis=0))  # bins where some component is non-zero
    q_rates = np.zeros((len(qs), rates.shape[1]))
    n = tree.n_composites
    if n * rates.shape[1] <= budget:
        method, used, convergence = "enumeration", 0, None
        weights = tree.composite_weights()
        step = max(1, CHUNK_ELEMENTS // n)
        for start in range(0, len(live), step):
            bins = live[start : start + step]
            q_rates[:, bins] = weighted_quantiles(composite_rates(tree, rates[:, bins]).T, weights, qs)
    else:
        method, used = "sampling", n_samples
        choices = sample_composites(tree, n_samples, seed)
        step = max(1, CHUNK_ELEMENTS // n_samples)
        sampled_mean = np.zeros(rates.shape[1])
        for start in range(0, len(live), step):
            bins = live[start : start + step]
            values = sampled_rates(tree, rates[:, bins], choices)
            sampled_mean[bins] = values.mean(axis=0)
            q_rates[:, bins] = equal_weight_quantiles(values, qs)
        carrying = mean >= 0.01 * mean.sum()
        convergence = float(np.max(np.abs(sampled_mean[carrying] - mean[carrying]) / mean[carrying])) if carrying.any() else 0.0
    for q, row in zip(quantiles, q_rates, strict=True):
        stats[f"{q:g}"] = rate_to_prob(row, investigation_time)
    return Aggregate(stats, method, n, used, convergence, tree.renormalised)
