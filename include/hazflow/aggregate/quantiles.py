"""Exact weighted quantiles of the composite rates without enumerating the composites.

A composite's rate is the sum of one value from each independent block of linked axes
(`CompositeTree.blocks()`). Split the blocks into two groups and enumerate each: the small group's
values X (n_x) and the large group's Y (n_y); every composite is one pair, rate x + y, weight
w_x w_y (NSHM_v1.0.4: X 108, Y 9,072 for 979,776 composites). With Y sorted, the weight of the
pairs at or below a rate v is sum_i w_x[i] W_y(v - x[i]): n_x binary searches instead of 979,776
sums (meet in the middle). For each quantile, a search on v (exact counts at a grid around the
mean, then estimate steps, and weighted-median pivot steps that always discard a quarter of the
candidates) narrows a bracket (L, H] until at most `WINDOW` pairs lie in it, or only pairs of one
rate. Those pairs, with the
last pair at or below L and the first above H, are sorted as a stable sort of every composite
orders them (by rate, then canonical index), placed at their midpoint positions from the exact
weight at or below L, and interpolated as `np.interp` interpolates the whole sorted list
(`hazflow.aggregate.stats.weighted_quantiles`). The answer is full enumeration's, up to the
rounding of the sums (x + y here, the blocks in another order there).

Y is built as runs: its largest block sorted, shifted by each value of its other blocks, so its
stable sort is a merge of runs (`hazflow.aggregate.compiled.merge_runs`).

Two searches do this, with the same steps and answers (`SEARCHES`). `compiled` (the default):
numba kernels, a bin at a time, one problem at a time (`hazflow.aggregate.compiled`), with a
window of `COMPILED_WINDOW` pairs; the bins where some quantile sits beside a long run of ties
are redone with their brackets kept, and numpy interpolates those. `numpy`: the steps below,
vectorised over every problem of a chunk of bins, the method before (22.8 against 65.0 ms per
NSHM hazard target, `bench/aggregate_nshm.py --compare`), kept as a reference for tests and the benchmark's `--compare`. Its counts
use the searches only as a first guess and are then corrected with the sums themselves, so
`count(v)` is exactly the number of pairs whose computed x + y is <= v (or < v).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import log2, prod
from typing import Literal

import numpy as np

from hazflow.aggregate.stats import in_threads
from hazflow.aggregate.tree import CompositeTree, block_values_of

logger = logging.getLogger(__name__)

Search = Literal["compiled", "numpy"]
SEARCHES: tuple[Search, ...] = (
    "compiled",
    "numpy",
)  # compiled: hazflow.aggregate.compiled; numpy: the steps below, vectorised over problems
WINDOW = 128  # pairs sorted at the end of a quantile's search (numpy search)
COMPILED_WINDOW = 16  # the same for the compiled search, whose extra steps cost less than sorting the pairs
MAX_SIDE = 2**17  # Y values per bin at most (sorted per bin); a tree needing more is not split


@dataclass(frozen=True)
class Split:
    """Blocks (indices into `tree.blocks()`) of the small side X and of the large side Y."""

    small: tuple[int, ...]
    large: tuple[int, ...]
    n_small: int
    n_large: int


def choose_split(sizes: Sequence[int], n_quantiles: int = 17) -> Split | None:
    """The split of blocks of these sizes with the least estimated work per bin, or None when the
    tree has fewer than two blocks or every split needs more than `MAX_SIDE` values on one side.

    Work per bin: sorting Y (about n_y) plus, per quantile and search step, n_x binary searches in Y
    (about 8 steps of log2 n_y each).
    """
    if len(sizes) < 2:
        return None
    total = prod(sizes)
    best: tuple[float, Split] | None = None
    for mask in range(1, 2 ** len(sizes) - 1):
        small = tuple(k for k in range(len(sizes)) if mask >> k & 1)
        n_x = prod(sizes[k] for k in small)
        n_y = total // n_x
        if n_x > n_y or n_y > MAX_SIDE:
            continue
        cost = 4.0 * n_y + 8.0 * n_quantiles * n_x * log2(n_y + 1)
        if best is None or cost < best[0]:
            large = tuple(k for k in range(len(sizes)) if k not in small)
            best = (cost, Split(small, large, n_x, n_y))
    return None if best is None else best[1]


@dataclass(frozen=True)
class Side:
    """Every combination of some blocks' axes: rates (n, B), weights (n,), canonical index parts (n,)."""

    values: np.ndarray
    weights: np.ndarray
    canonical: np.ndarray

    @classmethod
    def unit(cls, n_bins: int) -> Side:
        return cls(np.zeros((1, n_bins)), np.ones(1), np.zeros(1, dtype=np.int64))


def side_of(tree: CompositeTree, axes: Sequence[int], rates: np.ndarray) -> Side:
    """The combinations of `axes` (a union of blocks), C order over them: rates, weights and each
    one's part of the composite's canonical (C order over all axes) index."""
    axes = tuple(sorted(axes))
    values, weights = block_values_of(tree, axes, rates)
    strides = np.array([prod(tree.shape[a + 1 :]) for a in range(len(tree.shape))], dtype=np.int64)
    choices = np.indices([tree.shape[a] for a in axes]).reshape(len(axes), -1)
    canonical = (strides[list(axes)][:, None] * choices).sum(axis=0)
    return Side(values, weights, canonical)


def _moments(*sides: Side) -> tuple[np.ndarray, np.ndarray]:
    """(B,) weighted mean and variance of the sum of independent sides: the sums of theirs."""
    mean, var = 0.0, 0.0
    for side in sides:
        w = side.weights / side.weights.sum()
        m = w @ side.values
        mean, var = mean + m, var + w @ (side.values - m) ** 2
    return np.asarray(mean), np.asarray(var)


@dataclass(frozen=True)
class _Sorted:
    """Some bins' sides, sorted per bin: X (B, n_x) by rate descending (so each quantile's
    searches go up Y), with weights and canonical index parts; Y's other blocks' combinations
    (B, n_other) as they come, with weights (n_other,) and canonical parts; Y's big block
    (B, n_big) by rate, with weights in that order, its sort order `ob` and canonical parts
    (n_big,) in its own order; Y's mean and variance per bin (B,)."""

    x: np.ndarray
    wx: np.ndarray
    cx: np.ndarray
    other: np.ndarray
    w_other: np.ndarray
    c_other: np.ndarray
    big: np.ndarray
    w_big: np.ndarray
    ob: np.ndarray
    c_big: np.ndarray
    moments_y: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, x: Side, y_other: Side, y_big: Side) -> _Sorted:
        xv = np.ascontiguousarray(x.values.T)
        ox = np.argsort(-xv, axis=1, kind="stable")
        big = np.ascontiguousarray(y_big.values.T)
        ob = np.argsort(big, axis=1, kind="stable")
        return cls(
            np.take_along_axis(xv, ox, axis=1),
            x.weights[ox],
            x.canonical[ox],
            np.ascontiguousarray(y_other.values.T),
            y_other.weights,
            y_other.canonical,
            np.take_along_axis(big, ob, axis=1),
            y_big.weights[ob],
            ob,
            y_big.canonical,
            _moments(y_other, y_big),
        )

    def subset(self, bins: np.ndarray) -> _Sorted:
        """These bins only."""
        return _Sorted(
            self.x[bins], self.wx[bins], self.cx[bins], self.other[bins], self.w_other, self.c_other,
            self.big[bins], self.w_big[bins], self.ob[bins], self.c_big,
            (self.moments_y[0][bins], self.moments_y[1][bins]),
        )  # fmt: skip

    def grid(self) -> np.ndarray:
        """(B, G) rates, ascending, where every problem's search starts with exact counts: `_GRID`
        standard deviations around each bin's mean, clipped to its lowest and highest pair
        rates. Y's mean and variance are its blocks' sums (they are independent)."""
        wx = self.wx / self.wx.sum(axis=1, keepdims=True)
        mean_x = (wx * self.x).sum(axis=1)
        var_x = (wx * (self.x - mean_x[:, None]) ** 2).sum(axis=1)
        mean_y, var_y = self.moments_y
        lowest = self.x[:, -1] + (self.other.min(axis=1) + self.big[:, 0])
        highest = self.x[:, 0] + (self.other.max(axis=1) + self.big[:, -1])
        centre, spread = mean_x + mean_y, np.sqrt(var_x + var_y)
        return np.clip(centre[:, None] + spread[:, None] * _GRID[None, :], lowest[:, None], highest[:, None])


@dataclass
class _Bins:
    """Some bins' two sides, sorted per bin: X (B, n_x) by rate descending (so each quantile's
    searches go up Y), Y (B, n_y) by rate, with weights, canonical index parts and Y's cumulative
    weights (B, n_y + 1) as double-double `cw_hi + cw_lo` (`cwy`: rounded to float64). A
    *problem* is one (bin, quantile); `bins` (m,) says whose bin.

    Y is kept with a copy of its first and last value on either side (`padded`, B x (n_y + 2)), so
    that `y_at` takes indices in [-1, n_y] without clipping. Y's canonical index parts are only
    needed for the few pairs sorted at the end, so they are found from the sort orders then."""

    x: np.ndarray
    wx: np.ndarray
    cx: np.ndarray
    padded: np.ndarray
    wy: np.ndarray
    cw_hi: np.ndarray  # (B, n_y + 1) Y's cumulative weights from 0, double-double: hi + lo
    cw_lo: np.ndarray
    oy: np.ndarray  # (B, n_y) position of each sorted Y value in the runs: other * n_big + sorted big
    ob: np.ndarray  # (B, n_big) the big block's sort order
    c_other: np.ndarray  # (n_other,) canonical parts of the other blocks' combinations
    c_big: np.ndarray  # (n_big,) canonical parts of the big block's values
    grid: np.ndarray  # (B, G) where each search starts (`_Sorted.grid`)
    ny: int = field(init=False)
    y: np.ndarray = field(init=False, repr=False)
    _flat: np.ndarray = field(init=False, repr=False)
    _runs: dict[int, _Runs] = field(init=False, repr=False, default_factory=dict)

    @classmethod
    def of(cls, sides: _Sorted) -> _Bins:
        """Y = y_other (+) y_big sorted per bin, a merge of runs of the sorted y_big
        (`hazflow.aggregate.compiled.merge_runs`: numpy's stable sort order, cumulative weights
        in double-double)."""
        from hazflow.aggregate.compiled import merge_runs

        oy, padded, wy, cw_hi, cw_lo = merge_runs(sides.other, sides.w_other, sides.big, sides.w_big)
        return cls(
            sides.x, sides.wx, sides.cx, padded, wy, cw_hi, cw_lo, oy, sides.ob, sides.c_other, sides.c_big, sides.grid(),
        )  # fmt: skip

    @property
    def cwy(self) -> np.ndarray:
        """(B, n_y + 1) Y's cumulative weights rounded once to float64 (the numpy search's)."""
        return self.cw_hi

    def __post_init__(self) -> None:
        self.ny = self.padded.shape[1] - 2
        self.y = self.padded[:, 1:-1]
        self._flat = self.padded.ravel()

    def y_at(self, bins: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Y values at indices k (m, n_x) in [-1, n_y] of each problem's bin (the end values beyond)."""
        return self._flat[(bins * (self.ny + 2) + 1)[:, None] + k]

    def runs(self, b: int) -> _Runs:
        """Bin b's runs of equal Y values (cached: a chunk's quantiles near runs of ties share them)."""
        if b not in self._runs:
            y = self.y[b]
            starts = np.r_[True, y[1:] != y[:-1]]
            run_of = np.cumsum(starts) - 1
            canonical = self.cy_at(np.full(self.ny, b), np.arange(self.ny))
            order = np.lexsort((canonical, run_of))  # by run, then canonical
            bounds = np.searchsorted(run_of[order], np.arange(run_of[-1] + 2))
            self._runs[b] = _Runs(run_of, order[bounds[:-1]], order[bounds[1:] - 1], canonical)
        return self._runs[b]

    def cy_at(self, b: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Canonical index parts of sorted Y values j of bins b (both (n,))."""
        other, big_at = np.divmod(self.oy[b, j], self.ob.shape[1])
        return self.c_other[other] + self.c_big[self.ob[b, big_at]]

    def count(self, bins: np.ndarray, v: np.ndarray, strict: bool) -> np.ndarray:
        """(m, n_x): per problem and X value, how many Y values make x + y < v (strict) or <= v.
        `bins` must be non-decreasing (problems grouped by bin)."""
        side: Literal["left", "right"] = "left" if strict else "right"
        x = self.x[bins]
        queries = v[:, None] - x
        k = _searchsorted_rows(self.y, bins, queries, side)
        vv = v[:, None]
        while True:  # the search compared y with v - x; correct it with the sums x + y themselves
            below = self.y_at(bins, k - 1)
            total = x + below
            down = (k > 0) & ((total >= vv) if strict else (total > vv))
            above = self.y_at(bins, k)
            total = x + above
            up = (k < self.ny) & ((total < vv) if strict else (total <= vv))
            if not (down.any() or up.any()):
                return k
            # jump over the whole run of equal y values: they give the same sum
            jumps: tuple[tuple[np.ndarray, np.ndarray, Literal["left", "right"]], ...] = (
                (down, below, "left"),
                (up, above, "right"),
            )
            for bad, value, jump in jumps:
                rows, cols = np.nonzero(bad)
                for b in np.unique(bins[rows]):
                    sel = bins[rows] == b
                    k[rows[sel], cols[sel]] = np.searchsorted(self.y[b], value[rows[sel], cols[sel]], jump)

    def step(
        self, bins: np.ndarray, v: np.ndarray, k_lo: np.ndarray, k_hi: np.ndarray, a_lo: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Counts (m, n_x) and weights (m,) of the pairs at or below probes v strictly inside each
        problem's bracket: only the X rows that still hold candidates (k_lo < k_hi) are searched,
        since the others count k_lo at any rate inside the bracket."""
        k = k_lo.copy()
        rows, cols = np.nonzero(k_hi > k_lo)  # row-major: grouped by problem, so by bin
        b = bins[rows]
        x = self.x[b, cols]
        vv = v[rows]
        found = _searchsorted_flat(self.y, b, vv - x, "right")
        base = b * (self.ny + 2) + 1
        while True:  # correct the search with the sums x + y themselves, as `count` does
            below = self._flat[base + found - 1]
            down = (found > 0) & (x + below > vv)
            above = self._flat[base + found]
            up = (found < self.ny) & (x + above <= vv)
            if not (down.any() or up.any()):
                break
            for bad, value, jump in ((down, below, "left"), (up, above, "right")):
                at = np.flatnonzero(bad)
                if len(at):
                    found[at] = _searchsorted_flat(self.y, b[at], value[at], jump)  # type: ignore[arg-type]
        k[rows, cols] = found
        cwy = self.cwy.ravel()
        start = b * (self.ny + 1)
        gained = self.wx[b, cols] * (cwy[start + found] - cwy[start + k_lo[rows, cols]])
        return k, a_lo + np.bincount(rows, weights=gained, minlength=len(v))

    def weight(self, bins: np.ndarray, k: np.ndarray) -> np.ndarray:
        """(m,) weight of the pairs counted by k (m, n_x)."""
        return np.einsum("ij,ij->i", self.cwy.ravel()[(bins * (self.ny + 1))[:, None] + k], self.wx[bins])

    def pairs(self, bins: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every pair in the ranges [starts, stops) (m, n_x) of Y: its problem (0..m-1), rate,
        weight and canonical index, in stable-sort order per problem (problem, rate, canonical)."""
        counts = np.maximum(stops - starts, 0).ravel()
        seg = np.repeat(np.arange(counts.size), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        nx = starts.shape[1]
        problem, i = seg // nx, seg % nx
        b = bins[problem]
        j = starts.ravel()[seg] + offsets
        rates = self.x[b, i] + self.y[b, j]
        weights = self.wx[b, i] * self.wy[b, j]
        canonical = self.cx[b, i] + self.cy_at(b, j)
        return _stable_order(problem, rates, weights, canonical)

    def extreme_rate(self, bins: np.ndarray, k: np.ndarray, below: bool) -> np.ndarray:
        """(m,) the largest pair rate among those counted by k (below=True), or the smallest of the
        others; -inf / inf where there is none."""
        if below:
            return np.where(k > 0, self.x[bins] + self.y_at(bins, k - 1), -np.inf).max(axis=1)
        return np.where(k < self.ny, self.x[bins] + self.y_at(bins, k), np.inf).min(axis=1)


def _stable_order(problem: np.ndarray, rates: np.ndarray, weights: np.ndarray, canonical: np.ndarray) -> tuple[np.ndarray, ...]:
    """The pairs (grouped by problem) in the order a stable sort of all composites gives: by
    problem, rate, canonical index. One float sort on problem + the rate scaled into [0, 0.5) within
    the problem (3.5 ms for 95,000 pairs; np.lexsort on three keys took 28 ms); rates closer than
    2^-43 of the problem's span keep their input order, which moves an interpolated quantile by
    less than that; exact ties are then put in canonical order with np.lexsort, for the problems
    that have any."""
    if not len(rates):
        return problem, rates, weights, canonical
    first = np.flatnonzero(np.r_[True, problem[1:] != problem[:-1]])  # the pairs come grouped by problem
    size = np.diff(np.r_[first, len(problem)])
    lo = np.repeat(np.minimum.reduceat(rates, first), size)
    hi = np.repeat(np.maximum.reduceat(rates, first), size)
    key = problem + 0.5 * (rates - lo) / np.where(hi > lo, hi - lo, 1.0)
    order = np.argsort(key, kind="stable")
    problem, rates, weights, canonical = problem[order], rates[order], weights[order], canonical[order]
    tied = (rates[1:] == rates[:-1]) & (problem[1:] == problem[:-1])
    if tied.any():
        redo = np.isin(problem, np.unique(problem[1:][tied]))
        sub = np.flatnonzero(redo)
        fixed = sub[np.lexsort((canonical[sub], rates[sub], problem[sub]))]
        problem[sub], rates[sub], weights[sub], canonical[sub] = problem[fixed], rates[fixed], weights[fixed], canonical[fixed]
    return problem, rates, weights, canonical


# Where the first counts go, in standard deviations from the mean: the composite distribution of a
# bin is a sum of independent blocks, so its bulk is near these, and each quantile starts its search
# from the two grid points around it (a few per cent of the weight) instead of the whole range.
_GRID = np.array(
    [-6, -4, -3, -2.5, -2, -1.5, -1.25, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4, 6, 10]
)


@dataclass
class _Search:
    """Every problem's bracket (lo, hi]: the weight a_lo of the pairs at or below lo is <= t, the
    weight a_hi at or below hi is > t (or hi is the largest rate); k_lo, k_hi (m, n_x) count them.
    Then the last pair whose midpoint position is <= t (where np.interp starts) is in the bracket
    or is the last pair at or below lo, and the next pair is in the bracket or is the first above
    hi, whose position is > a_hi > t."""

    bins: np.ndarray
    t: np.ndarray
    lo: np.ndarray
    k_lo: np.ndarray
    a_lo: np.ndarray
    hi: np.ndarray
    k_hi: np.ndarray
    a_hi: np.ndarray

    def narrow(self, rows: np.ndarray, probe: np.ndarray, k: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Move an end of each given problem's bracket to its probe; whether it was the upper end."""
        up = a > self.t[rows]
        u, d = rows[up], rows[~up]
        self.hi[u], self.k_hi[u], self.a_hi[u] = probe[up], k[up], a[up]
        self.lo[d], self.k_lo[d], self.a_lo[d] = probe[~up], k[~up], a[~up]
        return up


def sorted_quantiles(sides: _Sorted, qs: np.ndarray, search: Search = "compiled") -> np.ndarray:
    """Midpoint-convention weighted quantiles (B, Q) of the pair rates x + y of every bin.

    Compiled: a bin at a time, Y sorted and searched in the same reused arrays
    (`hazflow.aggregate.compiled.quantiles_of_runs`); the bins where some quantile is left
    unsettled (a long run of ties beside it) are redone with Y kept, and those quantiles
    interpolated by numpy (`bins_quantiles`). Numpy: `bins_quantiles` for every bin."""
    if search == "numpy":
        return bins_quantiles(_Bins.of(sides), qs, "numpy")
    from hazflow.aggregate.compiled import quantiles_of_runs

    values, settled = quantiles_of_runs(
        sides.x, sides.wx, sides.cx, sides.other, sides.w_other, sides.c_other, sides.big, sides.w_big, sides.ob,
        sides.c_big, sides.grid(), qs, COMPILED_WINDOW,
    )  # fmt: skip
    redo = np.flatnonzero(~settled.all(axis=1))
    if len(redo):
        values[redo] = bins_quantiles(_Bins.of(sides.subset(redo)), qs, "compiled")
    return values


def bins_quantiles(data: _Bins, qs: np.ndarray, search: Search = "compiled") -> np.ndarray:
    """Midpoint-convention weighted quantiles (B, Q) of the pair rates x + y of every bin: each
    problem's bracket found by `search` (see `SEARCHES`), then interpolated."""
    if search == "compiled":
        from hazflow.aggregate.compiled import search_quantiles

        n_bins, n_q = data.x.shape[0], len(qs)
        values, settled, t, lo, a_lo, k_lo, hi, a_hi, k_hi = search_quantiles(
            data.x, data.wx, data.cx, data.padded, data.wy, data.cw_hi, data.cw_lo, data.oy, data.ob,
            data.c_other, data.c_big, data.grid, qs, COMPILED_WINDOW,
        )  # fmt: skip
        rest = np.flatnonzero(~settled)
        if len(rest):  # runs of ties near their ends, or many pairs of one rate beside t: numpy's interpolation
            bins = rest // n_q
            s = _Search(bins, t[rest], lo[rest], k_lo[rest], a_lo[rest], hi[rest], k_hi[rest], a_hi[rest])
            w_max = data.wx.max(axis=1) * data.wy.max(axis=1)
            values[rest] = _interpolate_all(data, s, w_max[bins], COMPILED_WINDOW)
        return values.reshape(n_bins, n_q)
    from hazflow.aggregate.compiled import PIVOT_EVERY_STALL  # the compiled search's rule, the same here

    n_bins, nx = data.x.shape
    ny, n_q = data.ny, len(qs)
    every = np.arange(n_bins)
    totals = data.weight(every, np.full((n_bins, nx), ny))
    bins = np.repeat(every, n_q)
    m = len(bins)
    s = _Search(
        bins,
        (totals[:, None] * qs[None, :]).ravel(),
        np.full(m, -np.inf),
        np.zeros((m, nx), dtype=np.intp),
        np.zeros(m),
        np.repeat(data.extreme_rate(every, np.full((n_bins, nx), ny), below=True), n_q),
        np.full((m, nx), ny, dtype=np.intp),
        np.repeat(totals, n_q),
    )
    _start_from_grid(data, s, n_q)
    pivot_next = np.zeros(m, dtype=bool)
    todo = np.arange(m)
    for _ in range(400):
        n_cand = (s.k_hi[todo] - s.k_lo[todo]).sum(axis=1)
        todo, n_cand = todo[n_cand > WINDOW], n_cand[n_cand > WINDOW]
        if not len(todo):
            break
        probe = _estimate(data, s, todo)
        pivot = np.flatnonzero(pivot_next[todo] | ~(probe > s.lo[todo]) | ~(probe < s.hi[todo]))
        if len(pivot):  # stalled or outside the bracket: a pivot, unless the candidates are one run of ties
            rows = todo[pivot]
            first = data.extreme_rate(bins[rows], s.k_lo[rows], below=False)
            last = data.extreme_rate(bins[rows], s.k_hi[rows], below=True)
            run = first >= last
            probe[pivot[~run]] = _pivots(data, bins[rows[~run]], s.k_lo[rows[~run]], s.k_hi[rows[~run]], last[~run])
            if run.any():
                alive = np.ones(len(todo), dtype=bool)
                alive[pivot[run]] = False
                todo, n_cand, probe = todo[alive], n_cand[alive], probe[alive]
                if not len(todo):
                    break
        k, a = data.step(bins[todo], probe, s.k_lo[todo], s.k_hi[todo], s.a_lo[todo])
        k_lo_before, k_hi_before = s.k_lo[todo], s.k_hi[todo]
        up = s.narrow(todo, probe, k, a)
        kept = np.where(up[:, None], k - k_lo_before, k_hi_before - k).sum(axis=1)
        pivot_next[todo] = kept > PIVOT_EVERY_STALL * n_cand
    else:  # pragma: no cover - each pivot step discards at least a quarter of the candidates
        raise RuntimeError("quantile search did not converge")
    w_max = data.wx.max(axis=1) * data.wy.max(axis=1)
    return _interpolate_all(data, s, w_max[bins], WINDOW).reshape(n_bins, n_q)


def _start_from_grid(data: _Bins, s: _Search, n_q: int) -> None:
    """Narrow every problem's bracket with exact counts at a grid around its bin's mean."""
    grid = data.grid
    n_bins = grid.shape[0]
    g_bins = np.repeat(np.arange(n_bins), len(_GRID))
    k = data.count(g_bins, grid.ravel(), strict=False)
    a = data.weight(g_bins, k).reshape(n_bins, len(_GRID))
    below = (a[s.bins] <= s.t[:, None]).sum(axis=1) - 1  # last grid point with weight <= t
    flat = s.bins * len(_GRID) + below
    rows = np.flatnonzero(below >= 0)
    s.lo[rows], s.k_lo[rows], s.a_lo[rows] = grid.ravel()[flat[rows]], k[flat[rows]], a.ravel()[flat[rows]]
    rows = np.flatnonzero(below + 1 < len(_GRID))  # first grid point with weight > t
    s.hi[rows], s.k_hi[rows], s.a_hi[rows] = grid.ravel()[flat[rows] + 1], k[flat[rows] + 1], a.ravel()[flat[rows] + 1]


def _estimate(data: _Bins, s: _Search, rows: np.ndarray) -> np.ndarray:
    """(m,) an estimate of each problem's quantile: every X row that holds candidates is cut at the
    share f of them (f: the share of the bracket's weight below t), and the rates at the cuts,
    weighted by the rows' candidate weights, are averaged. (Cutting by weight instead needs a
    search per row and converged no faster on NSHM-shaped data.)"""
    k_lo, k_hi = s.k_lo[rows], s.k_hi[rows]
    f = (s.t[rows] - s.a_lo[rows]) / (s.a_hi[rows] - s.a_lo[rows])
    r, c = np.nonzero(k_hi > k_lo)
    b = s.bins[rows][r]
    lo, hi = k_lo[r, c], k_hi[r, c]
    cut = lo + np.minimum((f[r] * (hi - lo)).astype(np.intp), hi - lo - 1)
    cwy = data.cwy.ravel()
    start = b * (data.ny + 1)
    weight = (cwy[start + hi] - cwy[start + lo]) * data.wx[b, c]
    rate = data.x[b, c] + data._flat[b * (data.ny + 2) + 1 + cut]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(r, weights=weight * rate, minlength=len(rows)) / np.bincount(r, weights=weight, minlength=len(rows))


def _searchsorted_flat(rows: np.ndarray, bins: np.ndarray, queries: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
    """np.searchsorted of each query (n,) in its bin's row of `rows` (B, n_row); `bins` (n,)
    grouped (equal bins adjacent)."""
    out = np.empty(len(queries), dtype=np.intp)
    if not len(queries):
        return out
    edges = np.flatnonzero(np.diff(bins)) + 1
    for start, stop in zip(np.r_[0, edges], np.r_[edges, len(bins)], strict=True):
        out[start:stop] = np.searchsorted(rows[bins[start]], queries[start:stop], side)
    return out


def _searchsorted_rows(rows: np.ndarray, bins: np.ndarray, queries: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
    """np.searchsorted of each problem's queries (m, n) in its bin's row of `rows` (B, n_row);
    `bins` (m,) non-decreasing. (The same loop as `_searchsorted_flat`, over problems rather than
    entries: repeating `bins` per query to share it cost more than the loop.)"""
    out = np.empty(queries.shape, dtype=np.intp)
    edges = np.flatnonzero(np.diff(bins)) + 1
    for start, stop in zip(np.r_[0, edges], np.r_[edges, len(bins)], strict=True):
        out[start:stop] = np.searchsorted(rows[bins[start]], queries[start:stop], side)
    return out


def _pivots(data: _Bins, bins: np.ndarray, k_lo: np.ndarray, k_hi: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(m,) a candidate rate per problem that leaves at least a quarter of its candidates on each
    side: the count-weighted median of each X row's middle candidate. When that is the largest
    candidate rate, the largest rate below it instead (so the bracket always shrinks)."""
    counts = k_hi - k_lo
    mid = np.where(counts > 0, data.x[bins] + data.y_at(bins, k_lo + (counts - 1) // 2), np.inf)
    order = np.argsort(mid, axis=1)
    cum = np.cumsum(np.take_along_axis(counts, order, axis=1), axis=1)
    pick = (cum >= cum[:, -1:] / 2).argmax(axis=1)
    pivot = np.take_along_axis(mid, np.take_along_axis(order, pick[:, None], axis=1), axis=1)[:, 0]
    top = np.flatnonzero(pivot >= last)
    if len(top):  # the largest rate below the largest candidate
        k = data.count(bins[top], last[top], strict=True)
        pivot[top] = np.where(k > k_lo[top], data.x[bins[top]] + data.y_at(bins[top], k - 1), -np.inf).max(axis=1)
    return pivot


def _interpolate_all(data: _Bins, s: _Search, w_max: np.ndarray, window: int) -> np.ndarray:
    """Each problem's quantile from its bracket: the bracket's pairs at their midpoint positions,
    with the last pair at or below it and the first above it where the interpolation reaches them.
    Brackets of more than `window` pairs (the search's) are runs of one rate, where only the run's
    first and last pairs (in canonical order) can matter, and only when t is within a pair's weight
    of an end."""
    n_in = (s.k_hi - s.k_lo).sum(axis=1)
    run = n_in > window
    out = np.empty(len(s.t))
    out[run] = data.extreme_rate(s.bins[run], s.k_hi[run], below=True)  # the run's rate
    small = np.flatnonzero(~run)
    problem, rates, weights, _ = data.pairs(s.bins[small], s.k_lo[small], s.k_hi[small])
    cum = np.concatenate(([0.0], np.cumsum(weights)))
    ends = np.cumsum(n_in[small])
    starts = ends - n_in[small]
    positions = s.a_lo[small][problem] + (cum[1:] - cum[starts][problem]) - weights / 2
    t = s.t[small]
    # np.interp's own steps: j, the last position <= t; the value at j if t is on it or j is the last
    j = starts + np.bincount(problem, weights=positions <= t[problem], minlength=len(small)).astype(np.intp) - 1
    inner = (j >= starts) & (j < ends - 1)
    ji = j[inner]
    p0, p1, r0, r1 = positions[ji], positions[ji + 1], rates[ji], rates[ji + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (r1 - r0) / (p1 - p0) * (t[inner] - p0) + r0
    out[small[inner]] = np.where(p0 == t[inner], r0, value)
    extend = small[~inner]  # t before the first position or at/after the last: the neighbours
    rest = np.flatnonzero(run & ~((s.a_lo + w_max / 2 <= s.t) & (s.t < s.a_hi - w_max / 2)))
    if not (len(extend) or len(rest)):
        return out
    segments = {
        int(q): (rates[starts[n] : ends[n]], positions[starts[n] : ends[n]])
        for n, q in zip(np.flatnonzero(~inner), extend, strict=True)
    }
    for q in rest:  # a run of one rate near its end: only its first and last pair (canonical order) matter
        first = _end_weight(data, int(s.bins[q]), s.k_lo[q], s.k_hi[q], last=False)
        final = _end_weight(data, int(s.bins[q]), s.k_lo[q], s.k_hi[q], last=True)
        segments[int(q)] = (np.full(2, out[q]), np.array([s.a_lo[q] + first / 2, s.a_hi[q] - final / 2]))
    which = np.array(sorted(segments), dtype=np.intp)
    firsts = np.array([segments[int(q)][1][0] if len(segments[int(q)][1]) else np.inf for q in which])
    lasts = np.array([segments[int(q)][1][-1] if len(segments[int(q)][1]) else -np.inf for q in which])
    t_w = s.t[which]
    need_before = t_w < firsts  # also where the bracket is empty (t is the total, above every pair)
    need_after = t_w >= np.where(need_before & ~np.isfinite(lasts), -np.inf, lasts)
    before_rate, before_weight = _neighbours(data, s.bins[which[need_before]], s.k_lo[which[need_before]], below=True)
    after_rate, after_weight = _neighbours(data, s.bins[which[need_after]], s.k_hi[which[need_after]], below=False)
    nb = na = 0
    for n, q in enumerate(which):
        r, p = segments[int(q)]
        if need_before[n]:
            if np.isfinite(before_rate[nb]):
                r, p = np.r_[before_rate[nb], r], np.r_[s.a_lo[q] - before_weight[nb] / 2, p]
            nb += 1
        if need_after[n]:
            if np.isfinite(after_rate[na]):
                r, p = np.r_[r, after_rate[na]], np.r_[p, s.a_hi[q] + after_weight[na] / 2]
            na += 1
        out[q] = np.interp(float(s.t[q]), p, r)
    return out


def _neighbours(data: _Bins, bins: np.ndarray, k: np.ndarray, below: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per problem, the pair just outside a bracket end: rates and weights (m,) of the last pair
    (stable-sort order) at or below it (below=True, k counts the pairs at or below), or of the
    first pair above it; rate -inf / inf where there is none."""
    rate = data.extreme_rate(bins, k, below)
    weight = np.zeros(len(bins))
    some = np.flatnonzero(np.isfinite(rate))
    if not len(some):
        return rate, weight
    if below:
        start, stop = data.count(bins[some], rate[some], strict=True), k[some]
    else:
        start, stop = k[some], data.count(bins[some], rate[some], strict=False)
    sizes = (stop - start).sum(axis=1)
    few = sizes <= WINDOW  # enumerate those; a run of ties (a rate shared by many pairs) by its Y runs
    if few.any():
        problem, _, weights, _ = data.pairs(bins[some[few]], start[few], stop[few])
        ends = np.cumsum(sizes[few])
        weight[some[few]] = weights[ends - 1] if below else weights[ends - sizes[few]]
    for n in np.flatnonzero(~few):
        weight[some[n]] = _end_weight(data, int(bins[some[n]]), start[n], stop[n], last=below)
    return rate, weight


def _end_weight(data: _Bins, b: int, start: np.ndarray, stop: np.ndarray, last: bool) -> float:
    """The weight of the last (or first) pair in canonical order among the pairs of one rate given
    by Y ranges [start, stop) (n_x,) of bin b, without enumerating them: a range of pairs of one
    rate is made of whole runs of equal Y values, and each run's first and last Y value in
    canonical order are found once per bin."""
    runs = data.runs(b)
    rows = np.flatnonzero(stop > start)
    r0, r1 = runs.run_of[start[rows]], runs.run_of[stop[rows] - 1]
    pick = runs.last if last else runs.first
    j = pick[r0]
    for n in np.flatnonzero(r1 > r0):  # the range spans runs of different Y values (rounding): compare them
        candidates = pick[r0[n] : r1[n] + 1]
        c = runs.canonical[candidates]
        j[n] = candidates[np.argmax(c) if last else np.argmin(c)]
    canonical = data.cx[b, rows] + runs.canonical[j]
    end = int(np.argmax(canonical) if last else np.argmin(canonical))
    return float(data.wx[b, rows[end]] * data.wy[b, j[end]])


@dataclass(frozen=True)
class _Runs:
    """One bin's runs of equal Y values: each Y value's run, each run's first and last Y index in
    canonical order, and every Y value's canonical index part."""

    run_of: np.ndarray
    first: np.ndarray
    last: np.ndarray
    canonical: np.ndarray


BIN_CHUNK = 64  # bins sorted and searched together (memory: about 40 bytes x n_y per bin)


def mitm_quantiles(
    tree: CompositeTree,
    rates: np.ndarray,
    qs: np.ndarray,
    split: Split | None = None,
    threads: int | None = None,
    search: Search = "compiled",
) -> np.ndarray:
    """Exact midpoint-convention weighted quantiles (Q, B) of the composite rates, from component
    rates (n_components, B), without enumerating the composites. Chunks of bins go to `threads`
    worker threads (default: one per core; numpy's sorts and searches and the compiled search
    release the GIL). Raises ValueError for a tree that does not split (see `choose_split`)."""
    blocks = tree.blocks()
    sizes = [prod(tree.shape[a] for a in block) for block in blocks]
    split = split or choose_split(sizes, len(qs))
    if split is None:
        raise ValueError(f"blocks of sizes {sizes} do not split into two sides of at most {MAX_SIDE} values")
    qs = np.asarray(qs, dtype=float)
    small_axes = [a for k in split.small for a in blocks[k]]
    big = max(split.large, key=lambda k: sizes[k])
    other_axes = [a for k in split.large if k != big for a in blocks[k]]
    n_bins = rates.shape[1]
    workers = max(1, min(threads or os.cpu_count() or 1, n_bins))
    size = max(1, min(BIN_CHUNK, -(-n_bins // workers)))
    starts = list(range(0, n_bins, size))
    out = np.empty((len(qs), n_bins))

    def one(n: int) -> None:
        chunk = rates[:, starts[n] : starts[n] + size]
        y_other = side_of(tree, other_axes, chunk) if other_axes else Side.unit(chunk.shape[1])
        sides = _Sorted.of(side_of(tree, small_axes, chunk), y_other, side_of(tree, blocks[big], chunk))
        out[:, starts[n] : starts[n] + chunk.shape[1]] = sorted_quantiles(sides, qs, search).T

    in_threads(one, len(starts), workers)
    return out


def warm_kernels() -> None:
    """Compile the numba kernels into numba's cache (`NUMBA_CACHE_DIR`) on a tiny input, the
    ones numpy's redo path uses too: set-up runs it once, so that the first aggregation of a
    process loads them (about 1 s) instead of compiling them (about 12 s)."""
    rng = np.random.default_rng(0)
    sides = [Side(rng.random((n, 2)), np.full(n, 1.0 / n), np.arange(n, dtype=np.int64)) for n in (3, 2, 4)]
    qs = np.array([0.1, 0.5, 0.9])
    sorted_sides = _Sorted.of(*sides)
    sorted_quantiles(sorted_sides, qs)
    bins_quantiles(_Bins.of(sorted_sides), qs, "compiled")
