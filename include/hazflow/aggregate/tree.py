"""The composite-branch structure of a model, as axes and terms rather than a list of branches.

A composite branch picks one choice on every *axis*: one per source group (a correlated set of
fault systems, or one fault system) and one per tectonic region (its GMM branch). Its weight is
the product of the chosen weights (so a GMM branch shared by two fault systems of one region
counts once) and its rate is the sum over fault systems of the chosen component realization's
rate. NSHM_v1.0.4: axes of 9 (HIK+PUY), 36 (CRU), 1 (SLAB), 21, 12, 12 choices: 979,776 composites.

*Terms* group the fault systems by (source axis, GMM axis); *blocks* are sets of axes linked by
terms. Blocks are statistically independent, which is what makes exact means and variances cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from math import prod

import numpy as np

from hazflow.exceptions import BadRequest
from hazflow.model.logic_tree import HazardModel


@dataclass(frozen=True)
class Axis:
    name: str  # "source:HIK+PUY" or "gmm:Subduction Interface"
    labels: tuple[str, ...]  # the choices (leaf ids joined by '+', or GMM branch ids)
    weights: np.ndarray  # (n,) normalised to sum 1


@dataclass(frozen=True)
class Term:
    """Fault systems that vary along one source axis and one GMM axis; their rates add."""

    source_axis: int
    gmm_axis: int
    fault_systems: tuple[str, ...]
    rows: np.ndarray  # (n_fault_systems, n_source_choices, n_gmm_choices) rows of the component array


@dataclass(frozen=True)
class CompositeTree:
    """Axes, terms and the component realizations (rows) that the values array must hold."""

    axes: tuple[Axis, ...]
    terms: tuple[Term, ...]
    components: tuple[tuple[str, str], ...]  # (leaf id, GMM branch id) of each row
    renormalised: bool  # True when a subset of leaves or GMM branches was asked for

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.labels) for a in self.axes)

    @property
    def n_composites(self) -> int:
        return prod(self.shape)

    def blocks(self) -> list[tuple[int, ...]]:
        """Sets of axes linked by terms (each axis in exactly one block), in axis order."""
        parent = list(range(len(self.axes)))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        for term in self.terms:
            parent[root(term.source_axis)] = root(term.gmm_axis)
        groups: dict[int, list[int]] = {}
        for axis in range(len(self.axes)):
            groups.setdefault(root(axis), []).append(axis)
        return sorted((tuple(v) for v in groups.values()), key=lambda b: b[0])

    @cached_property
    def _layout(self) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray]:
        return self._compute_layout()

    def block_layout(self) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray]:
        """Blocks from smallest to largest, and for that layout (C order over the blocks' axes in
        turn, the largest block innermost) each position's canonical index and weight. Cached."""
        return self._layout

    def _compute_layout(self) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray]:
        blocks = sorted(self.blocks(), key=lambda b: (prod(len(self.axes[a].labels) for a in b), b))
        perm = [a for block in blocks for a in block]
        canonical = np.arange(self.n_composites).reshape(self.shape).transpose(perm).ravel()
        weights = self.composite_weights().reshape(self.shape).transpose(perm).ravel()
        return blocks, canonical, weights

    def composite_weights(self) -> np.ndarray:
        """(n_composites,) weights in canonical order (C order over the axes)."""
        weights = np.ones(())
        for axis in self.axes:
            weights = np.multiply.outer(weights, axis.weights)
        return weights.reshape(-1)


def _normalised(weights: Sequence[float], name: str) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if not total > 0:
        raise BadRequest("leaves", f"no weight left on {name} after the subset")
    return w / total


def build_tree(model: HazardModel, leaves: Iterable[str] | None = None, gmms: Iterable[str] | None = None) -> CompositeTree:
    """The composite tree of `model`, optionally restricted to some leaves and/or GMM branch ids.

    A subset keeps the choices whose leaves are all kept and renormalises the weights on each axis.
    A fault system left with no leaf is an error naming it.
    """
    keep_leaves = set(leaves) if leaves is not None else set(model.leaf_ids)
    unknown = sorted(keep_leaves - set(model.leaf_ids))
    if unknown:
        raise BadRequest("leaves", f"unknown leaf id(s) {unknown} of {model.name}")
    all_gmms = {g.id for g in model.gmm_branches}
    keep_gmms = set(gmms) if gmms is not None else all_gmms
    if keep_gmms - all_gmms:
        raise BadRequest("gmms", f"unknown GMM branch id(s) {sorted(keep_gmms - all_gmms)} of {model.name}")
    trt_of = {leaf.fault_system: leaf.trt for leaf in model.leaves}

    axes: list[Axis] = []
    source_axis_of: dict[str, int] = {}
    kept_choices: dict[int, list[tuple[str, ...]]] = {}
    for group in model.source_groups:
        pairs = [(c, w) for c, w in zip(group.choices, group.weights, strict=True) if set(c) <= keep_leaves]
        if not pairs:
            raise BadRequest("leaves", f"the subset leaves no branch of fault system(s) {'+'.join(group.fault_systems)}")
        kept_choices[len(axes)] = [c for c, _ in pairs]
        for fs in group.fault_systems:
            source_axis_of[fs] = len(axes)
        axes.append(
            Axis(
                f"source:{'+'.join(group.fault_systems)}",
                tuple("+".join(c) for c, _ in pairs),
                _normalised([w for _, w in pairs], "+".join(group.fault_systems)),
            )
        )
    gmm_axis_of: dict[str, int] = {}
    for trt in dict.fromkeys(trt_of.values()):
        branches = [g for g in model.gmms_for(trt) if g.id in keep_gmms]
        if not branches:
            raise BadRequest("gmms", f"the subset leaves no GMM branch for {trt}")
        gmm_axis_of[trt] = len(axes)
        axes.append(Axis(f"gmm:{trt}", tuple(g.id for g in branches), _normalised([g.weight for g in branches], trt)))

    components: dict[tuple[str, str], int] = {}
    terms: dict[tuple[int, int], list[tuple[str, np.ndarray]]] = {}
    for group in model.source_groups:
        s_axis = source_axis_of[group.fault_systems[0]]
        for position, fs in enumerate(group.fault_systems):
            g_axis = gmm_axis_of[trt_of[fs]]
            gmm_ids = axes[g_axis].labels
            rows = np.empty((len(kept_choices[s_axis]), len(gmm_ids)), dtype=np.int64)
            for c, choice in enumerate(kept_choices[s_axis]):
                for g, gmm in enumerate(gmm_ids):
                    rows[c, g] = components.setdefault((choice[position], gmm), len(components))
            terms.setdefault((s_axis, g_axis), []).append((fs, rows))
    term_list = tuple(
        Term(s, g, tuple(fs for fs, _ in members), np.stack([rows for _, rows in members])) for (s, g), members in terms.items()
    )
    renormalised = keep_leaves != set(model.leaf_ids) or keep_gmms != all_gmms
    return CompositeTree(tuple(axes), term_list, tuple(components), renormalised)


def block_values_of(tree: CompositeTree, block: tuple[int, ...], rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All values (n_block, B) and weights (n_block,) of one block of linked axes, C order over its axes."""
    shape = [len(tree.axes[a].labels) for a in block]
    values = np.zeros(shape + [rates.shape[1]])
    for term in tree.terms:
        if term.source_axis not in block:
            continue
        part = rates[term.rows].sum(axis=0)  # (n_source, n_gmm, B)
        index: list[slice | None] = [None] * len(block)  # new axes, but for the term's source and GMM axes
        index[block.index(term.source_axis)] = slice(None)
        index[block.index(term.gmm_axis)] = slice(None)
        if block.index(term.source_axis) > block.index(term.gmm_axis):
            part = part.swapaxes(0, 1)
        values += part[tuple(index) + (slice(None),)]
    weights = np.ones(())
    for a in block:
        weights = np.multiply.outer(weights, tree.axes[a].weights)
    return values.reshape(-1, rates.shape[1]), weights.reshape(-1)
