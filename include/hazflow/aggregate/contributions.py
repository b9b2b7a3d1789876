"""How a target's hazard splits over the logic tree: by leaf (source branch) and by fault system.

A composite branch's rate at the target level is the sum over fault systems of the chosen
component's rate (`hazflow.aggregate.tree`). So the mean rate is linear in the component rates and
its split is exact:
- a fault system's part of the mean is sum over its source and GMM choices of w_s * w_g * rate;
- a leaf's part is the same sum restricted to the choices that pick it.
Both sum to the mean total.

The *share* of a fault system in one composite branch, r_f(c) / R(c), is not linear: its
distribution over the composite branches (mean and quantiles, NSHM's midpoint convention) is
computed by enumerating every composite where the tree fits `ENUMERATION_BUDGET` (NSHM_v1.0.4:
979,776 composites, 4 fault systems), else from `n_samples` composites drawn by weight.
A composite with no rate at all has no share: it is left out, and its weight is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hazflow import limits
from hazflow.aggregate.engine import marginal_weights
from hazflow.aggregate.stats import weighted_quantiles
from hazflow.aggregate.tree import CompositeTree

DEFAULT_SHARE_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class FaultSystemShare:
    """One fault system's part of a target: of the mean rate, and over the composite branches."""

    rate: float  # its part of the mean rate (per year)
    percent_of_mean: float  # 100 * rate / mean total: exact, these add to 100
    mean_percent: float  # the weighted mean over composite branches of 100 * r_f(c) / R(c)
    percentiles: dict[str, float]  # quantile ("0.1") -> 100 * r_f(c) / R(c) at that quantile


@dataclass(frozen=True)
class Contributions:
    """A target's split over the logic tree (rates per year)."""

    total_rate: float  # the mean over composite branches of the total rate
    by_leaf: dict[str, float]  # leaf id -> percent of the mean total (add to 100)
    by_fault_system: dict[str, FaultSystemShare]
    method: str  # how the share distribution was computed: "enumeration" or "sampling"
    composites: int  # composite branches enumerated or sampled
    empty_weight: float  # weight of composites with no rate (left out of the share distribution)
    leaf_fault_system: dict[str, str] = field(default_factory=dict)  # leaf id -> its fault system

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contributions:
        fs = {k: FaultSystemShare(**v) for k, v in data["by_fault_system"].items()}
        return cls(**{**data, "by_fault_system": fs, "leaf_fault_system": dict(data.get("leaf_fault_system", {}))})


def component_rates(probs: np.ndarray, investigation_time: float = 1.0) -> np.ndarray:
    """(n_components,) rate of each component realization at the target: its bins' rates summed
    (`probs` (n_components, n_bins), probabilities over `investigation_time`)."""
    from hazflow.aggregate.stats import prob_to_rate

    return prob_to_rate(np.asarray(probs, dtype=float), investigation_time).sum(axis=1)


def _term_weights(tree: CompositeTree, source_axis: int, gmm_axis: int) -> np.ndarray:
    """(n_source_choices, n_gmm_choices) weight of each (source, GMM) choice of a term."""
    return np.multiply.outer(tree.axes[source_axis].weights, tree.axes[gmm_axis].weights)


def _fault_system_tensors(tree: CompositeTree, rates: np.ndarray) -> dict[str, tuple[int, int, np.ndarray]]:
    """Per fault system: its term's (source axis, GMM axis) and its rate per choice (n_source, n_gmm)."""
    return {
        fs: (term.source_axis, term.gmm_axis, rates[term.rows[i]])
        for term in tree.terms
        for i, fs in enumerate(term.fault_systems)
    }


def on_composites(
    tree: CompositeTree, table: np.ndarray, source_axis: int, gmm_axis: int, picks: Sequence[np.ndarray] | None
) -> np.ndarray:
    """The rate of each composite considered, from a term's (source, GMM) table: every composite in
    canonical order (`picks` None), or those whose choice on each axis `picks` holds."""
    if picks is not None:
        return table[picks[source_axis], picks[gmm_axis]]
    shape = [1] * len(tree.axes)
    shape[source_axis], shape[gmm_axis] = table.shape
    t = table if source_axis < gmm_axis else table.T
    return np.broadcast_to(t.reshape(shape), tree.shape).ravel()


def on_composites_rows(
    tree: CompositeTree, table: np.ndarray, source_axis: int, gmm_axis: int, picks: Sequence[np.ndarray] | None
) -> np.ndarray:
    """`on_composites` for B tables at once: `table` (n_source, n_gmm, B) -> (composites, B)."""
    if picks is not None:
        return table[picks[source_axis], picks[gmm_axis]]
    return np.stack([on_composites(tree, table[..., b], source_axis, gmm_axis, None) for b in range(table.shape[-1])], axis=1)


def composites_considered(
    tree: CompositeTree, rows: int, n_samples: int, seed: int, budget: int | None = None
) -> tuple[str, list[np.ndarray] | None, np.ndarray]:
    """Which composite branches a distribution of `rows` shares is taken over: every one ("enumeration",
    picks None, their weights) where composites x rows fit the enumeration budget, else `n_samples`
    drawn by weight with `seed` ("sampling", each axis's picks, equal weights)."""
    if tree.n_composites * rows <= (limits.current().enumeration_budget if budget is None else budget):
        return "enumeration", None, tree.composite_weights()
    rng = np.random.default_rng(seed)
    picks = [rng.choice(len(a.labels), size=n_samples, p=a.weights) for a in tree.axes]
    return "sampling", picks, np.full(n_samples, 1.0 / n_samples)


def contributions(
    tree: CompositeTree,
    rates: np.ndarray,
    quantiles: Sequence[float] = DEFAULT_SHARE_QUANTILES,
    n_samples: int = 100_000,
    seed: int = 42,
    budget: int | None = None,
) -> Contributions:
    """The split of a target over `tree` from each component's rate (`rates` (n_components,), in
    the tree's component order, per year)."""
    rates = np.asarray(rates, dtype=float)
    if rates.shape != (len(tree.components),):
        raise ValueError(f"rates has shape {rates.shape}, the tree has {len(tree.components)} components")
    by_fs = _fault_system_tensors(tree, rates)
    fs_rate = {fs: float((_term_weights(tree, s, g) * t).sum()) for fs, (s, g, t) in by_fs.items()}
    total = sum(fs_rate.values())

    leaf_rate: dict[str, float] = {}
    for (leaf, _), part in zip(tree.components, marginal_weights(tree) * rates, strict=True):
        leaf_rate[leaf] = leaf_rate.get(leaf, 0.0) + float(part)

    method, picks, weights = composites_considered(tree, len(by_fs), n_samples, seed, budget)
    count = len(weights)
    parts = {fs: on_composites(tree, t, s, g, picks) for fs, (s, g, t) in by_fs.items()}
    whole = np.sum(list(parts.values()), axis=0) if parts else np.zeros(len(weights))
    live = whole > 0
    w_live = weights[live]
    qs = np.asarray(quantiles, dtype=float)
    shares: dict[str, FaultSystemShare] = {}
    for fs, part in parts.items():
        share = 100.0 * part[live] / whole[live]
        if share.size:
            mean_share = float(w_live @ share / w_live.sum())
            pct = weighted_quantiles(share[None, :], w_live, qs)[:, 0]
        else:
            mean_share, pct = float("nan"), np.full(len(qs), np.nan)
        shares[fs] = FaultSystemShare(
            rate=fs_rate[fs],
            percent_of_mean=100.0 * fs_rate[fs] / total if total > 0 else float("nan"),
            mean_percent=mean_share,
            percentiles={f"{q:g}": float(v) for q, v in zip(qs, pct, strict=True)},
        )
    leaf_fs = {
        tree.components[row][0]: fs
        for term in tree.terms
        for i, fs in enumerate(term.fault_systems)
        for row in term.rows[i].ravel()
    }
    return Contributions(
        total_rate=total,
        by_leaf={leaf: 100.0 * r / total if total > 0 else float("nan") for leaf, r in sorted(leaf_rate.items())},
        by_fault_system=shares,
        method=method,
        composites=count,
        empty_weight=float(weights[~live].sum()),
        leaf_fault_system=dict(sorted(leaf_fs.items())),
    )
