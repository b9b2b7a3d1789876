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
from dataclasses import dataclass
from math import log2, prod

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
class _Bin:
    """One bin's two sides, sorted: X by rate descending (so each quantile's searches go up Y),
    Y by rate, with Y's cumulative weights `cwy` (n_y + 1,)."""

    x: np.ndarray
    wx: np.ndarray
    cx: np.ndarray
    y: np.ndarray
    wy: np.ndarray
    cy: np.ndarray
    cwy: np.ndarray

    def count(self, v: np.ndarray, strict: bool) -> np.ndarray:
        """(m, n_x): per quantile and X value, how many Y values make x + y < v (strict) or <= v."""
        side = "left" if strict else "right"
        y, x = self.y, self.x[None, :]
        k = np.searchsorted(y, (v[:, None] - x).ravel(), side).reshape(len(v), len(self.x))
        vv = v[:, None]
        while True:  # the search compared y with v - x; correct it with the sums x + y themselves
            below = y[np.maximum(k - 1, 0)]
            total = x + below
            down = (k > 0) & ((total >= vv) if strict else (total > vv))
            above = y[np.minimum(k, len(y) - 1)]
            total = x + above
            up = (k < len(y)) & ((total < vv) if strict else (total <= vv))
            if not (down.any() or up.any()):
                return k
            # jump over the whole run of equal y values: they give the same sum
            k[down] = np.searchsorted(y, below[down], "left")
            k[up] = np.searchsorted(y, above[up], "right")

    def weight(self, k: np.ndarray) -> np.ndarray:
        """(m,) weight of the pairs counted by k (m, n_x)."""
        return self.cwy[k] @ self.wx

    def rate_at(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return self.x[i] + self.y[j]

    def pairs(self, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair in the ranges [starts, stops) of Y per (row, X value): row, X index, Y index."""
        counts = np.maximum(stops - starts, 0).ravel()
        seg = np.repeat(np.arange(counts.size), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        j = starts.ravel()[seg] + offsets
        return seg // len(self.x), seg % len(self.x), j


def prepare_bin(x: Side, y_other: Side, y_big: Side, b: int) -> _Bin:
    """Sort one bin's sides; Y = y_other (+) y_big, built as runs of the sorted y_big."""
    ox = np.argsort(-x.values[:, b], kind="stable")
    big = y_big.values[:, b]
    ob = np.argsort(big, kind="stable")
    y = (y_other.values[:, b][:, None] + big[ob][None, :]).ravel()
    oy = np.argsort(y, kind="stable")
    wy = np.multiply.outer(y_other.weights, y_big.weights[ob]).ravel()[oy]
    cy = np.add.outer(y_other.canonical, y_big.canonical[ob]).ravel()[oy]
    return _Bin(
        x.values[ox, b], x.weights[ox], x.canonical[ox], y[oy], wy, cy, np.concatenate(([0.0], np.cumsum(wy)))
    )


def bin_quantiles(data: _Bin, qs: np.ndarray) -> np.ndarray:
    """Midpoint-convention weighted quantiles (Q,) of the pair rates x + y of one bin."""
    nx, ny = len(data.x), len(data.y)
    Q = len(qs)
    full = np.full((1, nx), ny)
    total = float(data.weight(full)[0])
    t = np.asarray(qs, dtype=float) * total
    w_max = float(data.wx.max() * data.wy.max())
    # bracket (L, H] per quantile: the weight AL at or below L is <= t, the weight AH at or below H
    # is > t (or H is the largest rate). Then the last pair whose midpoint position is <= t (the one
    # np.interp starts from) is in the bracket or is the last pair at or below L, and the next pair
    # is in the bracket or is the first pair above H, whose position is > AH > t.
    lo = np.full(Q, -np.inf)
    k_lo = np.zeros((Q, nx), dtype=np.intp)
    a_lo = np.zeros(Q)
    hi = np.full(Q, float(np.max(data.x + data.y[-1])))
    k_hi = np.full((Q, nx), ny, dtype=np.intp)
    a_hi = np.full(Q, total)
    _start_from_grid(data, t, lo, k_lo, a_lo, hi, k_hi, a_hi)
    # Illinois steps: regula falsi on the weight, halving the weight of an end kept twice running
    s_lo, s_hi = t - a_lo, a_hi - t
    last_up = np.zeros(Q, dtype=np.int8)  # +1: the last step moved H, -1: it moved L
    pivot_next = np.zeros(Q, dtype=bool)
    for _ in range(400):
        counts = k_hi - k_lo
        n_cand = counts.sum(axis=1)
        has = counts > 0
        first = np.where(has, data.x + data.y[np.minimum(k_lo, ny - 1)], np.inf).min(axis=1)
        last = np.where(has, data.x + data.y[np.maximum(k_hi - 1, 0)], -np.inf).max(axis=1)
        active = np.flatnonzero((n_cand > WINDOW) & (first < last))
        if _TRACE: print(n_cand[:6], (a_hi-a_lo)[:6]/t[-1] if len(t) else 0)
        if not len(active):
            break
        probe = _cuts(data, k_lo[active], k_hi[active], (t[active] - a_lo[active]) / (a_hi[active] - a_lo[active]))
        pivot = pivot_next[active] | ~(probe > lo[active]) | ~(probe < hi[active])
        if pivot.any():
            probe[pivot] = _pivots(data, k_lo[active[pivot]], k_hi[active[pivot]], last[active[pivot]])
        k = data.count(probe, strict=False)
        a = data.weight(k)
        up = a > t[active]
        kept = np.where(up[:, None], k - k_lo[active], k_hi[active] - k).sum(axis=1)
        pivot_next[active] = kept > _PIVOT_EVERY_STALL * n_cand[active]
        u, d = active[up], active[~up]
        hi[u], k_hi[u], a_hi[u] = probe[up], k[up], a[up]
        lo[d], k_lo[d], a_lo[d] = probe[~up], k[~up], a[~up]
        s_hi[u] = a_hi[u] - t[u]
        s_lo[u] = np.where(last_up[u] == 1, 0.5 * s_lo[u], t[u] - a_lo[u])
        s_lo[d] = t[d] - a_lo[d]
        s_hi[d] = np.where(last_up[d] == -1, 0.5 * s_hi[d], a_hi[d] - t[d])
        last_up[u], last_up[d] = 1, -1
    else:  # pragma: no cover - each pivot step discards at least a quarter of the candidates
        raise RuntimeError("quantile search did not converge")
    return _interpolate_all(data, t, k_lo, a_lo, k_hi, a_hi, w_max)


# Where the first counts go, in standard deviations from the mean: the composite distribution of a
# bin is a sum of independent blocks, so its bulk is near these, and each quantile starts its search
# from the two grid points around it (a few per cent of the weight) instead of the whole range.
_GRID = np.array([-6, -4, -3, -2.5, -2, -1.5, -1.25, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4, 6, 10])
_TRACE = False


def _start_from_grid(
    data: _Bin, t: np.ndarray, lo: np.ndarray, k_lo: np.ndarray, a_lo: np.ndarray, hi: np.ndarray, k_hi: np.ndarray, a_hi: np.ndarray
) -> None:
    """Narrow every quantile's bracket (in place) with exact counts at a grid around the mean."""
    wx, wy = data.wx / data.wx.sum(), data.wy / data.wy.sum()
    mean_x, mean_y = wx @ data.x, wy @ data.y
    std = float(np.sqrt(max(wx @ (data.x - mean_x) ** 2 + wy @ (data.y - mean_y) ** 2, 0.0)))
    grid = np.unique(np.clip(mean_x + mean_y + std * _GRID, data.x.min() + data.y[0], hi[0]))
    k = data.count(grid, strict=False)
    a = data.weight(k)
    below = np.searchsorted(a, t, side="right") - 1  # last grid point with weight <= t
    has_lo = below >= 0
    lo[has_lo], k_lo[has_lo], a_lo[has_lo] = grid[below[has_lo]], k[below[has_lo]], a[below[has_lo]]
    above = below + 1  # first grid point with weight > t
    has_hi = above < len(grid)
    hi[has_hi], k_hi[has_hi], a_hi[has_hi] = grid[above[has_hi]], k[above[has_hi]], a[above[has_hi]]


def _cuts(data: _Bin, k_lo: np.ndarray, k_hi: np.ndarray, f: np.ndarray) -> np.ndarray:
    """(m,) an estimate of each quantile's rate: every X row is cut where it holds the share f of its
    candidates' weight (so the cuts hold exactly the weight sought), and the rates at the cuts,
    weighted by the rows' candidate weights, give their median."""
    lo_w, hi_w = data.cwy[k_lo], data.cwy[k_hi]
    target = lo_w + f[:, None] * (hi_w - lo_w)
    k = np.searchsorted(data.cwy, target.ravel(), "left").reshape(k_lo.shape) - 1
    k = np.clip(k, k_lo, np.maximum(k_hi - 1, k_lo))
    cut = np.where(k_hi > k_lo, data.x + data.y[np.minimum(k, len(data.y) - 1)], np.inf)
    weight = (hi_w - lo_w) * data.wx
    order = np.argsort(cut, axis=1)
    cum = np.cumsum(np.take_along_axis(weight, order, axis=1), axis=1)
    pick = (cum >= cum[:, -1:] / 2).argmax(axis=1)
    return np.take_along_axis(cut, np.take_along_axis(order, pick[:, None], axis=1), axis=1)[:, 0]


def _pivots(data: _Bin, k_lo: np.ndarray, k_hi: np.ndarray, last: np.ndarray) -> np.ndarray:
    """(m,) a candidate rate per quantile that leaves at least a quarter of its candidates on each
    side: the count-weighted median of each X row's middle candidate. When that is the largest
    candidate rate, the largest rate below it instead (so the bracket always shrinks)."""
    counts = k_hi - k_lo
    mid = data.x + data.y[np.minimum(k_lo + (counts - 1) // 2, len(data.y) - 1)]
    mid = np.where(counts > 0, mid, np.inf)
    order = np.argsort(mid, axis=1)
    cum = np.cumsum(np.take_along_axis(counts, order, axis=1), axis=1)
    pick = (cum >= cum[:, -1:] / 2).argmax(axis=1)
    pivot = np.take_along_axis(mid, np.take_along_axis(order, pick[:, None], axis=1), axis=1)[:, 0]
    top = pivot >= last
    if top.any():
        k = data.count(last[top], strict=True)  # pairs below the largest candidate rate
        below = np.where(k > k_lo[top], data.x + data.y[np.maximum(k - 1, 0)], -np.inf)
        pivot[top] = below.max(axis=1)
    return pivot


def _interpolate_all(
    data: _Bin, t: np.ndarray, k_lo: np.ndarray, a_lo: np.ndarray, k_hi: np.ndarray, a_hi: np.ndarray, w_max: float
) -> np.ndarray:
    """Each quantile (Q,) from its bracket: the bracket's pairs sorted at their midpoint positions,
    with the last pair at or below it and the first above it where the interpolation reaches them.
    Brackets of more than `WINDOW` pairs are runs of one rate, where only the run's first and last
    pairs (in canonical order) can matter, and only when t is within a pair's weight of an end."""
    n_in = (k_hi - k_lo).sum(axis=1)
    run = n_in > WINDOW
    out = np.empty(len(t))
    if run.any():  # the rate of the run
        out[run] = np.where(k_hi[run] > k_lo[run], data.x + data.y[np.maximum(k_hi[run] - 1, 0)], -np.inf).max(axis=1)
    inside = run & (a_lo + w_max / 2 <= t) & (t < a_hi - w_max / 2)
    small = np.flatnonzero(~run)
    q_of, i, j = data.pairs(k_lo[small], k_hi[small])
    rates, weights, canonical = data.rate_at(i, j), data.wx[i] * data.wy[j], data.cx[i] + data.cy[j]
    order = np.lexsort((canonical, rates, q_of))
    rates, weights, q_of = rates[order], weights[order], q_of[order]
    cum = np.concatenate(([0.0], np.cumsum(weights)))
    ends = np.cumsum(n_in[small])
    starts = ends - n_in[small]
    positions = a_lo[small][q_of] + (cum[1:] - cum[starts][q_of]) - weights / 2
    for n, q in enumerate(small):
        out[q] = _interp(data, t[q], rates[starts[n] : ends[n]], positions[starts[n] : ends[n]], k_lo[q], a_lo[q], k_hi[q], a_hi[q])
    for q in np.flatnonzero(run & ~inside):
        r, w, _ = _sorted_pairs(data, k_lo[q], k_hi[q])  # equal rates: only the first and last positions matter
        out[q] = _interp(data, t[q], r[[0, -1]], np.array([a_lo[q] + w[0] / 2, a_hi[q] - w[-1] / 2]), k_lo[q], a_lo[q], k_hi[q], a_hi[q])
    return out


def _interp(
    data: _Bin, t: float, rates: np.ndarray, positions: np.ndarray, k_lo: np.ndarray, a_lo: float, k_hi: np.ndarray, a_hi: float
) -> float:
    """np.interp over a bracket's sorted pairs, extended by the neighbouring pair where t lies beyond them."""
    if len(positions) == 0 or t < positions[0]:  # empty: t is the total, the bracket above every pair
        before = _neighbour(data, k_lo, below=True)
        if before is not None:
            rates, positions = np.r_[before[0], rates], np.r_[a_lo - before[1] / 2, positions]
    if t >= positions[-1]:
        after = _neighbour(data, k_hi, below=False)
        if after is not None:
            rates, positions = np.r_[rates, after[0]], np.r_[positions, a_hi + after[1] / 2]
    return float(np.interp(t, positions, rates))


def _sorted_pairs(data: _Bin, k_lo: np.ndarray, k_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rates, weights and canonical indices of the pairs in [k_lo, k_hi) per X value, in stable-sort order."""
    _, i, j = data.pairs(k_lo[None, :], k_hi[None, :])
    rates, weights, canonical = data.rate_at(i, j), data.wx[i] * data.wy[j], data.cx[i] + data.cy[j]
    order = np.lexsort((canonical, rates))
    return rates[order], weights[order], canonical[order]


def _neighbour(data: _Bin, k: np.ndarray, below: bool) -> tuple[float, float] | None:
    """The pair just outside a bracket end: (rate, weight) of the last pair (stable-sort order) at or
    below it (below=True, k counts the pairs at or below), or of the first pair above it."""
    ny = len(data.y)
    if below:
        has = k > 0
        if not has.any():
            return None
        rate = float(np.where(has, data.x + data.y[np.maximum(k - 1, 0)], -np.inf).max())
        start = data.count(np.array([rate]), strict=True)[0]
        rates, weights, _ = _sorted_pairs(data, start, k)
        return rate, float(weights[-1])
    has = k < ny
    if not has.any():
        return None
    rate = float(np.where(has, data.x + data.y[np.minimum(k, ny - 1)], np.inf).min())
    stop = data.count(np.array([rate]), strict=False)[0]
    rates, weights, _ = _sorted_pairs(data, k, stop)
    return rate, float(weights[0])


def mitm_quantiles(tree: CompositeTree, rates: np.ndarray, qs: np.ndarray, split: Split | None = None) -> np.ndarray:
    """Exact midpoint-convention weighted quantiles (Q, B) of the composite rates, from component
    rates (n_components, B), without enumerating the composites. Raises ValueError for a tree
    that does not split (see `choose_split`)."""
    blocks = tree.blocks()
    sizes = [prod(tree.shape[a] for a in block) for block in blocks]
    split = split or choose_split(sizes, len(qs))
    if split is None:
        raise ValueError(f"blocks of sizes {sizes} do not split into two sides of at most {MAX_SIDE} values")
    x = side_of(tree, [a for k in split.small for a in blocks[k]], rates)
    big = max(split.large, key=lambda k: sizes[k])
    y_big = side_of(tree, blocks[big], rates)
    others = [a for k in split.large if k != big for a in blocks[k]]
    y_other = side_of(tree, others, rates) if others else Side.unit(rates.shape[1])
    out = np.empty((len(qs), rates.shape[1]))
    for b in range(rates.shape[1]):
        out[:, b] = bin_quantiles(prepare_bin(x, y_other, y_big, b), np.asarray(qs, dtype=float))
    return out
