"""Exact weighted quantiles of the composite rates without enumerating the composites.

A composite's rate is the sum of one value from each independent block of linked axes
(`CompositeTree.blocks()`). Split the blocks into two groups and enumerate each: the small group's
values X (n_x) and the large group's Y (n_y); every composite is one pair, rate x + y, weight
w_x w_y (NSHM_v1.0.4: X 108, Y 9,072 for 979,776 composites). With Y sorted, the weight of the
pairs at or below a rate v is sum_i w_x[i] W_y(v - x[i]): n_x binary searches instead of 979,776
sums (meet in the middle). For each quantile, a search on v (interpolation steps, and
weighted-median pivot steps that always discard a quarter of the candidates) narrows a bracket
(L, H] until at most `WINDOW` pairs lie in it, or only pairs of one rate. Those pairs, with the
last pair at or below L and the first above H, are sorted as a stable sort of every composite
orders them (by rate, then canonical index), placed at their midpoint positions from the exact
weight at or below L, and interpolated as `np.interp` interpolates the whole sorted list
(`hazflow.aggregate.stats.weighted_quantiles`). The answer is full enumeration's, up to the
rounding of the sums (x + y here, the blocks in another order there).

Y is built as runs: its largest block sorted, shifted by each value of its other blocks, so its
stable sort merges runs (65 us for NSHM's 9,072 instead of 630 us). Counts use the searches only
as a first guess and are then corrected with the sums themselves, so `count(v)` is exactly the
number of pairs whose computed x + y is <= v (or < v).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import log2, prod
from typing import Literal

import numpy as np

from hazflow.aggregate.tree import CompositeTree

logger = logging.getLogger(__name__)

WINDOW = 64  # pairs sorted at the end of a quantile's search
MAX_SIDE = 2**17  # Y values per bin at most (sorted per bin); a tree needing more is not split
_PIVOT_EVERY_STALL = 0.9  # an interpolation step that keeps more than this share of candidates is followed by a pivot step


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
    from hazflow.aggregate.engine import block_values_of

    axes = tuple(sorted(axes))
    values, weights = block_values_of(tree, axes, rates)
    strides = np.array([prod(tree.shape[a + 1 :]) for a in range(len(tree.shape))], dtype=np.int64)
    choices = np.indices([tree.shape[a] for a in axes]).reshape(len(axes), -1)
    canonical = (strides[list(axes)][:, None] * choices).sum(axis=0)
    return Side(values, weights, canonical)


@dataclass
class _Bins:
    """Some bins' two sides, sorted per bin: X (B, n_x) by rate descending (so each quantile's
    searches go up Y), Y (B, n_y) by rate, with weights, canonical index parts and Y's cumulative
    weights `cwy` (B, n_y + 1). A *problem* is one (bin, quantile); `bins` (m,) says whose bin."""

    x: np.ndarray
    wx: np.ndarray
    cx: np.ndarray
    y: np.ndarray
    wy: np.ndarray
    cy: np.ndarray
    cwy: np.ndarray
    ny: int = field(init=False)
    _padded: np.ndarray = field(init=False, repr=False)

    @classmethod
    def of(cls, x: Side, y_other: Side, y_big: Side) -> _Bins:
        """Sort each bin's sides; Y = y_other (+) y_big, built as runs of the sorted y_big."""
        xv = np.ascontiguousarray(x.values.T)
        ox = np.argsort(-xv, axis=1, kind="stable")
        big = np.ascontiguousarray(y_big.values.T)
        ob = np.argsort(big, axis=1, kind="stable")
        n_bins, n_big = big.shape
        y = (np.ascontiguousarray(y_other.values.T)[:, :, None] + np.take_along_axis(big, ob, axis=1)[:, None, :]).reshape(
            n_bins, -1
        )
        oy = np.argsort(y, axis=1, kind="stable")
        # position m of the unsorted Y is (other m // n_big, sorted big m % n_big)
        flat = oy + (np.arange(n_bins) * y.shape[1])[:, None]
        n_other = y.shape[1] // n_big
        other = np.repeat(np.arange(n_other), n_big)[oy]
        big_at = np.tile(np.arange(n_big), n_other)[oy]
        big_index = ob.ravel()[(np.arange(n_bins) * n_big)[:, None] + big_at]
        wy = y_other.weights[other] * y_big.weights[big_index]
        cwy = np.zeros((n_bins, wy.shape[1] + 1))
        np.cumsum(wy, axis=1, out=cwy[:, 1:])
        return cls(
            np.take_along_axis(xv, ox, axis=1),
            x.weights[ox],
            x.canonical[ox],
            y.ravel()[flat],
            wy,
            y_other.canonical[other] + y_big.canonical[big_index],
            cwy,
        )

    def __post_init__(self) -> None:
        self.ny = self.y.shape[1]
        # Y with a copy of its first and last value on either side, so that y_at takes k in [-1, n_y]
        self._padded = np.concatenate((self.y[:, :1], self.y, self.y[:, -1:]), axis=1).ravel()

    def y_at(self, bins: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Y values at indices k (m, n_x) in [-1, n_y] of each problem's bin (the end values beyond)."""
        return self._padded[(bins * (self.ny + 2) + 1)[:, None] + k]

    def count(self, bins: np.ndarray, v: np.ndarray, strict: bool) -> np.ndarray:
        """(m, n_x): per problem and X value, how many Y values make x + y < v (strict) or <= v.
        `bins` must be non-decreasing (problems grouped by bin)."""
        side: Literal["left", "right"] = "left" if strict else "right"
        x = self.x[bins]
        queries = v[:, None] - x
        k = np.empty(x.shape, dtype=np.intp)
        edges = np.flatnonzero(np.diff(bins)) + 1
        for start, stop in zip(np.r_[0, edges], np.r_[edges, len(bins)], strict=True):
            k[start:stop] = np.searchsorted(self.y[bins[start]], queries[start:stop], side)
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
        j = b * self.ny + starts.ravel()[seg] + offsets
        rates = self.x[b, i] + self.y.ravel()[j]
        weights = self.wx[b, i] * self.wy.ravel()[j]
        canonical = self.cx[b, i] + self.cy.ravel()[j]
        order = np.lexsort((canonical, rates, problem))
        return problem[order], rates[order], weights[order], canonical[order]

    def extreme_rate(self, bins: np.ndarray, k: np.ndarray, below: bool) -> np.ndarray:
        """(m,) the largest pair rate among those counted by k (below=True), or the smallest of the
        others; -inf / inf where there is none."""
        if below:
            return np.where(k > 0, self.x[bins] + self.y_at(bins, k - 1), -np.inf).max(axis=1)
        return np.where(k < self.ny, self.x[bins] + self.y_at(bins, k), np.inf).min(axis=1)


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


def bins_quantiles(data: _Bins, qs: np.ndarray) -> np.ndarray:
    """Midpoint-convention weighted quantiles (B, Q) of the pair rates x + y of every bin."""
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
        counts = s.k_hi[todo] - s.k_lo[todo]
        n_cand = counts.sum(axis=1)
        first = data.extreme_rate(bins[todo], s.k_lo[todo], below=False)  # smallest candidate
        last = data.extreme_rate(bins[todo], s.k_hi[todo], below=True)  # largest candidate
        keep = (n_cand > WINDOW) & (first < last)
        todo, n_cand, last = todo[keep], n_cand[keep], last[keep]
        if not len(todo):
            break
        probe = _estimate(data, s, todo)
        pivot = pivot_next[todo] | ~(probe > s.lo[todo]) | ~(probe < s.hi[todo])
        if pivot.any():
            probe[pivot] = _pivots(data, bins[todo[pivot]], s.k_lo[todo[pivot]], s.k_hi[todo[pivot]], last[pivot])
        k = data.count(bins[todo], probe, strict=False)
        a = data.weight(bins[todo], k)
        k_lo_before, k_hi_before = s.k_lo[todo], s.k_hi[todo]
        up = s.narrow(todo, probe, k, a)
        kept = np.where(up[:, None], k - k_lo_before, k_hi_before - k).sum(axis=1)
        pivot_next[todo] = kept > _PIVOT_EVERY_STALL * n_cand
    else:  # pragma: no cover - each pivot step discards at least a quarter of the candidates
        raise RuntimeError("quantile search did not converge")
    w_max = data.wx.max(axis=1) * data.wy.max(axis=1)
    return _interpolate_all(data, s, w_max[bins]).reshape(n_bins, n_q)


def _start_from_grid(data: _Bins, s: _Search, n_q: int) -> None:
    """Narrow every problem's bracket with exact counts at a grid around its bin's mean."""
    wx = data.wx / data.wx.sum(axis=1, keepdims=True)
    wy = data.wy / data.wy.sum(axis=1, keepdims=True)
    mean_x, mean_y = (wx * data.x).sum(axis=1), (wy * data.y).sum(axis=1)
    var = (wx * (data.x - mean_x[:, None]) ** 2).sum(axis=1) + (wy * (data.y - mean_y[:, None]) ** 2).sum(axis=1)
    n_bins = len(mean_x)
    lowest = data.extreme_rate(np.arange(n_bins), np.zeros_like(data.x, dtype=np.intp), below=False)
    highest = s.hi[::n_q]
    grid = np.clip((mean_x + mean_y)[:, None] + np.sqrt(var)[:, None] * _GRID[None, :], lowest[:, None], highest[:, None])
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
    """(m,) an estimate of each problem's quantile: every X row is cut where it holds the share f
    of its candidates (f: the share of the bracket's weight below t), and the rates at the cuts,
    weighted by the rows' candidate weights, are averaged."""
    b, k_lo, k_hi = s.bins[rows], s.k_lo[rows], s.k_hi[rows]
    f = (s.t[rows] - s.a_lo[rows]) / (s.a_hi[rows] - s.a_lo[rows])
    counts = k_hi - k_lo
    cut = k_lo + np.minimum((f[:, None] * counts).astype(np.intp), np.maximum(counts - 1, 0))
    cwy = data.cwy.ravel()
    base = (b * (data.ny + 1))[:, None]
    weight = (cwy[base + k_hi] - cwy[base + k_lo]) * data.wx[b]
    rate = data.x[b] + data.y_at(b, cut)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("ij,ij->i", weight, rate) / weight.sum(axis=1)


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


def _interpolate_all(data: _Bins, s: _Search, w_max: np.ndarray) -> np.ndarray:
    """Each problem's quantile from its bracket: the bracket's pairs at their midpoint positions,
    with the last pair at or below it and the first above it where the interpolation reaches them.
    Brackets of more than `WINDOW` pairs are runs of one rate, where only the run's first and last
    pairs (in canonical order) can matter, and only when t is within a pair's weight of an end."""
    n_in = (s.k_hi - s.k_lo).sum(axis=1)
    run = n_in > WINDOW
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
    if len(extend) or len(rest):
        segments = {
            int(q): (rates[starts[n] : ends[n]], positions[starts[n] : ends[n]])
            for n, q in zip(np.flatnonzero(~inner), extend, strict=True)
        }
        for q in rest:  # a run of one rate near its end: only its first and last pair (canonical order) matter
            _, r, w, _ = data.pairs(s.bins[q : q + 1], s.k_lo[q : q + 1], s.k_hi[q : q + 1])
            segments[int(q)] = (r[[0, -1]], np.array([s.a_lo[q] + w[0] / 2, s.a_hi[q] - w[-1] / 2]))
        which = np.array(sorted(segments), dtype=np.intp)
        before = _neighbours(data, s.bins[which], s.k_lo[which], below=True)
        after = _neighbours(data, s.bins[which], s.k_hi[which], below=False)
        for n, q in enumerate(which):
            r, p = segments[int(q)]
            t_q = float(s.t[q])
            if np.isfinite(before[0][n]) and (len(p) == 0 or t_q < p[0]):  # empty: t is the total, above every pair
                r, p = np.r_[before[0][n], r], np.r_[s.a_lo[q] - before[1][n] / 2, p]
            if np.isfinite(after[0][n]) and t_q >= p[-1]:
                r, p = np.r_[r, after[0][n]], np.r_[p, s.a_hi[q] + after[1][n] / 2]
            out[q] = np.interp(t_q, p, r)
    return out


def _neighbours(data: _Bins, bins: np.ndarray, k: np.ndarray, below: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per problem, the pair just outside a bracket end: rates and weights (m,) of the last pair
    (stable-sort order) at or below it (below=True, k counts the pairs at or below), or of the
    first pair above it; rate -inf / inf where there is none."""
    rate = data.extreme_rate(bins, k, below)
    weight = np.zeros(len(bins))
    some = np.flatnonzero(np.isfinite(rate))
    if len(some):
        if below:
            start, stop = data.count(bins[some], rate[some], strict=True), k[some]
        else:
            start, stop = k[some], data.count(bins[some], rate[some], strict=False)
        problem, _, weights, _ = data.pairs(bins[some], start, stop)
        ends = np.searchsorted(problem, np.arange(len(some)), side="right")
        weight[some] = weights[ends - 1] if below else weights[ends - (stop - start).sum(axis=1)]
    return rate, weight


BIN_CHUNK = 64  # bins sorted and searched together (memory: about 40 bytes x n_y per bin)


def mitm_quantiles(tree: CompositeTree, rates: np.ndarray, qs: np.ndarray, split: Split | None = None) -> np.ndarray:
    """Exact midpoint-convention weighted quantiles (Q, B) of the composite rates, from component
    rates (n_components, B), without enumerating the composites. Raises ValueError for a tree
    that does not split (see `choose_split`)."""
    blocks = tree.blocks()
    sizes = [prod(tree.shape[a] for a in block) for block in blocks]
    split = split or choose_split(sizes, len(qs))
    if split is None:
        raise ValueError(f"blocks of sizes {sizes} do not split into two sides of at most {MAX_SIDE} values")
    qs = np.asarray(qs, dtype=float)
    small_axes = [a for k in split.small for a in blocks[k]]
    big = max(split.large, key=lambda k: sizes[k])
    other_axes = [a for k in split.large if k != big for a in blocks[k]]
    out = np.empty((len(qs), rates.shape[1]))
    for start in range(0, rates.shape[1], BIN_CHUNK):
        chunk = rates[:, start : start + BIN_CHUNK]
        y_other = side_of(tree, other_axes, chunk) if other_axes else Side.unit(chunk.shape[1])
        data = _Bins.of(side_of(tree, small_axes, chunk), y_other, side_of(tree, blocks[big], chunk))
        out[:, start : start + chunk.shape[1]] = bins_quantiles(data, qs).T
    return out
