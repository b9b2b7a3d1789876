"""Statistics of the composite-branch rates, computed from component realizations.

Inputs are component probabilities (n_components, n_bins) over the investigation time: hazard
curve levels or disaggregation bins, the same engine for both. The mean rate is exact and linear
(marginal weights, never the composite product). The std is exact too: blocks of linked axes are
independent, so the variance is the sum of the blocks' variances, each enumerated (a few hundred
values). Quantiles need the whole distribution, and are exact too: the blocks are split into two
sides, each enumerated, and each quantile is selected from the pairs without building them
(`hazflow.aggregate.quantiles`, "meet-in-the-middle"). Full enumeration of the composites remains
the reference, and the fallback for a tree that does not split; seeded weighted sampling (each
axis drawn independently by its weights, with a convergence report on the mean) is the last
resort for a tree that neither splits nor fits the enumeration budget, or when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hazflow import limits
from hazflow.aggregate.methods import DEFAULT_QUANTILE_METHOD, QUANTILE_METHODS
from hazflow.aggregate.quantiles import Search, choose_split, mitm_quantiles
from hazflow.aggregate.stats import (
    equal_weight_quantiles,
    in_threads,
    prob_to_rate,
    rate_to_prob,
    row_quantiles,
    weighted_mean_std,
)
from hazflow.aggregate.tree import CompositeTree, block_values_of
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.limits import Limits
from hazflow.model.nshm import DEFAULT_QUANTILES

# Composites x bins enumerated at most, by default (NSHM hazard curves: 979,776 x 44 = 2**25.4); a
# deployment sets its own (HAZFLOW_LIMIT_ENUMERATION_BUDGET).
ENUMERATION_BUDGET = Limits.enumeration_budget
CHUNK_ELEMENTS = 2**24  # sampled composite values held at once (128 MB)


@dataclass(frozen=True)
class Aggregate:
    """Statistics per bin: `mean` and quantiles as probabilities over the investigation time,
    `std` as a rate (per year) and `cov` = std / mean of the rate (0 where the mean is 0)."""

    stats: dict[str, np.ndarray] = field(repr=False)
    method: str  # how the quantiles were computed: "meet-in-the-middle", "enumeration" or "sampling"
    n_composites: int
    n_samples: int = 0
    convergence: float | None = None  # sampling: max relative |sampled - exact| mean over bins with >= 1 % of the total
    renormalised: bool = False


def marginal_weights(tree: CompositeTree) -> np.ndarray:
    """(n_components,) each component's total weight over the composites that use it.

    The mean is linear: mean composite rate = sum over components of marginal weight x rate.
    """
    marginal = np.zeros(len(tree.components))
    for term in tree.terms:
        ws, wg = tree.axes[term.source_axis].weights, tree.axes[term.gmm_axis].weights
        for rows in term.rows:  # one fault system of the term: rows (n_source, n_gmm)
            np.add.at(marginal, rows.ravel(), np.outer(ws, wg).ravel())
    return marginal


def exact_mean_rate(tree: CompositeTree, probs: np.ndarray, investigation_time: float = 1.0) -> np.ndarray:
    """Exact weighted mean of the composite rates (n_bins,), from component probabilities.

    Linear, so each component's marginal weight times its rate, summed over the non-zero entries
    only (a disaggregation's are a few per cent): never the composite product.
    """
    rows, cols = np.nonzero(probs)
    contributions = marginal_weights(tree)[rows] * prob_to_rate(probs[rows, cols], investigation_time)
    return np.bincount(cols, weights=contributions, minlength=probs.shape[1]).astype(float)  # int when empty


def std_rate(tree: CompositeTree, rates: np.ndarray) -> np.ndarray:
    """Exact population std of composite rates: independent blocks' variances add."""
    var = np.zeros(rates.shape[1:])
    for block in tree.blocks():
        values, weights = block_values_of(tree, block, rates)
        _, std = weighted_mean_std(values, weights)
        var += std**2
    return np.sqrt(var)


def composite_rates(tree: CompositeTree, rates: np.ndarray) -> np.ndarray:
    """Every composite's rate: (B, n_composites), bins first, canonical (C) order over the axes."""
    shape = tree.shape
    out = np.zeros((rates.shape[1],) + shape)
    for term in tree.terms:
        part = np.moveaxis(rates[term.rows].sum(axis=0), -1, 0)  # (B, n_source, n_gmm)
        index = [slice(None)] + [None] * len(shape)
        index[1 + term.source_axis] = slice(None)
        index[1 + term.gmm_axis] = slice(None)
        out += part[tuple(index)]
    return out.reshape(rates.shape[1], -1)


def blocked_row(block_values: list[np.ndarray], b: int) -> np.ndarray:
    """Every composite's rate at bin b, in `tree.block_layout()` order, from the blocks' values.

    Independent blocks are added as outer sums, the largest block innermost, so numpy's inner
    loops run over hundreds of values (the canonical 7-axis broadcast ran over 12).
    """
    row = block_values[0][:, b]
    for values in block_values[1:]:
        row = (row[:, None] + values[None, :, b]).ravel()
    return row


def enumerated_quantiles(tree: CompositeTree, rates: np.ndarray, qs: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Exact weighted quantiles (Q, B) of the composite rates, every composite enumerated.

    Each bin's composite values (n_composites,) are built in its worker thread from the small
    per-block arrays (`blocked_row`), so memory stays at a few rows.
    """
    blocks, canonical, weights = tree.block_layout()
    block_values = [block_values_of(tree, block, rates)[0] for block in blocks]  # (n_block, B) each
    total = float(weights.sum())
    out = np.empty((len(qs), rates.shape[1]))

    def one(b: int) -> None:
        out[:, b] = row_quantiles(blocked_row(block_values, b), weights, qs, total, canonical)

    in_threads(one, rates.shape[1], threads if tree.n_composites >= 100_000 else 1)
    return out


def sample_composites(tree: CompositeTree, n_samples: int, seed: int) -> np.ndarray:
    """(n_samples, n_axes) choices: each axis drawn by its weights, so composites are drawn by theirs."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(len(a.labels), size=n_samples, p=a.weights) for a in tree.axes], axis=1)


def sampled_rates(tree: CompositeTree, rates: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """(n_samples, B) rates of the sampled composites: one gather per term, not per fault system."""
    out = np.zeros((choices.shape[0], rates.shape[1]))
    for term in tree.terms:
        n_source, n_gmm = term.rows.shape[1:]
        summed = rates[term.rows].sum(axis=0).reshape(n_source * n_gmm, -1)  # (n_source * n_gmm, B)
        out += summed[choices[:, term.source_axis] * n_gmm + choices[:, term.gmm_axis]]
    return out


def quantile_method(
    tree: CompositeTree, n_bins: int, n_quantiles: int, asked: str = DEFAULT_QUANTILE_METHOD, budget: int | None = None
) -> str:
    """The method that computes the quantiles: the one asked for, or for `auto` meet-in-the-middle
    when the tree's blocks split, else enumeration within the budget, else sampling. Enumeration
    asked for by name is held to the budget too (composites x bins values; by default the deployment's
    `Limits.enumeration_budget`)."""
    budget = limits.current().enumeration_budget if budget is None else budget
    if asked not in QUANTILE_METHODS:
        raise BadRequest("quantile_method", f"unknown quantile method {asked!r}; one of {', '.join(QUANTILE_METHODS)}")
    sizes = [int(np.prod([tree.shape[a] for a in block])) for block in tree.blocks()]
    splits = choose_split(sizes, n_quantiles) is not None
    if asked == "meet-in-the-middle" and not splits:
        raise BadRequest(
            "quantile_method",
            f"the tree's blocks (sizes {sizes}) do not split into two modest sides; use enumeration or sampling",
        )
    if asked == "enumeration" and tree.n_composites * n_bins > budget:  # the budget holds whatever method is named
        raise BadRequest(
            "quantile_method",
            f"enumeration of {tree.n_composites:,} composite branches x {n_bins:,} bins is over the budget of "
            f"{budget:,} values ({limits.ENV_PREFIX}ENUMERATION_BUDGET): use meet-in-the-middle, sampling or auto, "
            "or aggregate fewer bins at a time",
        )
    if asked != "auto":
        return asked
    if splits:
        return "meet-in-the-middle"
    return "enumeration" if tree.n_composites * n_bins <= budget else "sampling"


def aggregate(
    tree: CompositeTree,
    probs: np.ndarray,
    investigation_time: float = 1.0,
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
    budget: int | None = None,
    n_samples: int = 10_000,
    seed: int = 42,
    method: str = DEFAULT_QUANTILE_METHOD,
    threads: int | None = None,
    search: Search = "compiled",
) -> Aggregate:
    """Mean, std, cov and quantiles of the composite rates from component probabilities
    (n_components, n_bins); `method` chooses how the quantiles are computed (`quantile_method`),
    on up to `threads` threads (default: one per core). `search`: meet-in-the-middle's compiled
    search (the default) or its numpy steps (the method before, kept as a reference for the
    benchmark's `--compare`)."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[0] != len(tree.components):
        raise BadRequest("values", f"expected ({len(tree.components)}, n_bins) component values, got {probs.shape}")
    if probs.size and not (probs.min() >= 0.0 and probs.max() < 1.0):  # also catches NaN
        raise DataIntegrityError(f"component probabilities must lie in [0, 1), found [{probs.min()}, {probs.max()}]")
    qs = np.asarray(quantiles, dtype=float)
    if np.any((qs < 0) | (qs > 1)):
        raise BadRequest("quantiles", f"quantiles must lie in [0, 1], got {list(quantiles)}")
    n_bins = probs.shape[1]
    method = quantile_method(tree, n_bins, len(qs), method, budget)  # checked before any compute
    mean = exact_mean_rate(tree, probs, investigation_time)
    live = np.flatnonzero(probs.any(axis=0))  # bins where some component is non-zero; the rest are 0
    rates = prob_to_rate(probs[:, live], investigation_time)  # (n_components, n_live): non-negative
    std = np.zeros(n_bins)
    if len(live):
        std[live] = std_rate(tree, rates)
    # cov is 0 where the mean is 0 (no hazard: nothing varies)
    cov = np.divide(std, mean, out=np.zeros_like(mean), where=mean > 0)
    stats = {"mean": rate_to_prob(mean, investigation_time), "std": std, "cov": cov}
    q_rates = np.zeros((len(qs), n_bins))
    n = tree.n_composites
    used, convergence = 0, None
    if method == "meet-in-the-middle":
        if len(live) and len(qs):
            q_rates[:, live] = mitm_quantiles(tree, rates, qs, threads=threads, search=search)
    elif method == "enumeration":
        if len(live):
            q_rates[:, live] = enumerated_quantiles(tree, rates, qs, threads)
    else:
        used = n_samples
        choices = sample_composites(tree, n_samples, seed)
        step = max(1, CHUNK_ELEMENTS // n_samples)
        sampled_mean = np.zeros(n_bins)
        for start in range(0, len(live), step):
            cols = slice(start, start + step)
            values = sampled_rates(tree, rates[:, cols], choices)
            sampled_mean[live[cols]] = values.mean(axis=0)
            q_rates[:, live[cols]] = equal_weight_quantiles(values, qs)
        carrying = mean >= 0.01 * mean.sum()
        convergence = float(np.max(np.abs(sampled_mean[carrying] - mean[carrying]) / mean[carrying])) if carrying.any() else 0.0
    for q, row in zip(quantiles, q_rates, strict=True):
        stats[f"{q:g}"] = rate_to_prob(row, investigation_time)
    return Aggregate(stats, method, n, used, convergence, tree.renormalised)
