"""The compiled (numba: `nogil`, cached) kernels of meet-in-the-middle quantiles
(`hazflow.aggregate.quantiles`): Y sorted as a merge of its runs, each quantile's bracket
search, and the interpolation of the bracket. `quantiles_of_runs` runs all three a bin at a time.

The merge. Y is its largest block's values, sorted, shifted by each combination of its other
blocks: runs of sorted values. Merging neighbouring runs pairwise, ties to the earlier run,
gives exactly numpy's stable argsort of the concatenated runs in O(n_y log runs), with Y's
weights in that order and their cumulative sums as two float64 arrays (`hi + lo`), differences
taken part by part. The running sum is a double-double; each block of `CUMULATIVE_BLOCK` weights
is summed in float64 and added to it, which keeps the loop free of a long chain of dependent
additions. A block's rounding is at most 8 ulps of its sum, about a 570th of NSHM's total, so
the cumulative weights are within a few ulps of the total of the exact sums (the tests check 4),
and a difference of two nearby ones keeps its digits (numpy's steps use `hi` alone: the sums
rounded once).

The search. The same search as the numpy steps of `hazflow.aggregate.quantiles` (exact counts at
a grid around the bin's mean, then estimate steps and weighted-median pivot steps), one problem
(bin, quantile) at a time instead of every problem in lockstep. That frees it from numpy's
per-call overhead and from searching whole rows of Y: a problem's bracket (lo, hi] bounds every
X row's count at a probe between k_lo and k_hi, and X is sorted, so a row's count is at most the
next row's (visited first): each binary search runs over that range only, and it tests the sums
x + y themselves, so its count is exact without a correction pass. Only the X rows that still
hold candidates are visited. The grid's counts are bounded the same way, and by the previous
grid point's.

The interpolation. A bracket of a few pairs is sorted as a stable sort of every composite
orders them (rate, then canonical index), placed at its midpoint positions and interpolated as
np.interp interpolates the whole sorted list; where t is not between two of its positions, the
bracket takes in the next rate beside it first. Brackets that would grow past `WIDEN_LIMIT`
pairs (long runs of ties, as zero rates in disaggregation bins) are left to numpy's
interpolation (`quantiles._interpolate_all`), which finds a run's end pairs without enumerating
it.

Bins at a time. The whole chunk's sorted Y is tens of MB; allocated fresh for every target its
page faults alone cost this machine about 7 ms of an NSHM target's 25. `quantiles_of_runs` sorts
and searches each bin in the same few hundred kB, which stay in cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

PIVOT_EVERY_STALL = 0.9  # an estimate step that keeps more than this share of candidates is followed by a pivot step
CUMULATIVE_BLOCK = 16  # weights summed in float64 before joining the double-double running sum
WIDEN_LIMIT = 64  # pairs a bracket may hold when it is interpolated (more: numpy's interpolation)
MAX_STEPS = 400  # each pivot step discards at least a quarter of the candidates: never reached


@njit(cache=True, nogil=True)
def _count(x: float, y: Any, v: float, start: int, stop: int, strict: bool) -> int:
    """How many of Y's values (padded row: Y[j] is y[j + 1]) make x + Y[j] <= v (< v if strict),
    knowing that the answer is in [start, stop]: the first j in [start, stop) whose sum exceeds v
    (stop if none). A binary search whose steps depend on the range only, the comparisons
    feeding selects rather than branches (they are unpredictable)."""
    n = stop - start
    if n <= 0:
        return start
    base = start
    while n > 1:
        half = n >> 1
        total = x + y[base + half + 1]
        above = total >= v if strict else total > v
        base = base if above else base + half
        n -= half
    total = x + y[base + 1]
    above = total >= v if strict else total > v
    return base if above else base + 1


@njit(cache=True, nogil=True)
def _gained(wx: Any, hi: Any, lo: Any, k_from: Any, k_to: Any) -> float:
    """The weight of the pairs counted by k_to but not by k_from (both (n_x,))."""
    total = 0.0
    for i in range(len(wx)):
        if k_to[i] != k_from[i]:
            total += wx[i] * ((hi[k_to[i]] - hi[k_from[i]]) + (lo[k_to[i]] - lo[k_from[i]]))
    return total


@njit(cache=True, nogil=True)
def _pivot(x: Any, y: Any, k_lo: Any, k_hi: Any, rows: Any, last: float) -> float:
    """A candidate rate that leaves at least a quarter of the candidates on each side: the
    count-weighted median of each X row's middle candidate (`rows`: the rows holding
    candidates); when that is the largest candidate rate `last`, the largest rate below it
    instead (so the bracket always shrinks)."""
    n = len(rows)
    mid = np.empty(n)
    half = 0.0
    for a in range(n):
        i = rows[a]
        count = k_hi[i] - k_lo[i]
        mid[a] = x[i] + y[k_lo[i] + (count - 1) // 2 + 1]
        half += count
    half /= 2.0
    cum = 0.0
    pivot = np.inf
    for a in np.argsort(mid):
        cum += k_hi[rows[a]] - k_lo[rows[a]]
        if cum >= half:
            pivot = mid[a]
            break
    if pivot >= last:
        pivot = -np.inf
        for i in rows:
            k = _count(x[i], y, last, k_lo[i], k_hi[i], True)
            if k > k_lo[i]:
                pivot = max(pivot, x[i] + y[k])  # Y[k - 1]
    return pivot


@njit(cache=True, nogil=True)
def _narrow(x: Any, wx: Any, y: Any, hi: Any, lo: Any, target: float, k_lo: Any, k_hi: Any, ends: Any, window: int) -> None:
    """Narrow one problem's bracket until it holds at most `window` pairs or one run of ties.

    k_lo, k_hi (n_x,) are updated in place, and ends = [lo, a_lo, hi, a_hi]: the bracket's rates
    and the weights at or below them. Only the rows holding candidates (k_lo < k_hi) are visited:
    any other row counts the same at every rate inside the bracket."""
    rows = np.empty(len(x), np.intp)
    n_rows = 0
    n_cand = 0
    for i in range(len(x)):
        if k_hi[i] > k_lo[i]:
            rows[n_rows] = i
            n_rows += 1
            n_cand += k_hi[i] - k_lo[i]
    found = np.empty(len(x), np.intp)
    pivot_next = False
    for _ in range(MAX_STEPS):
        if n_cand <= window:
            return
        active = rows[:n_rows]
        # estimate: each row cut at the share f of its candidates, rates weighted by the rows' candidate weights
        f = (target - ends[1]) / (ends[3] - ends[1])
        weight_sum, rate_sum = 0.0, 0.0
        for i in active:
            n = k_hi[i] - k_lo[i]
            cut = min(int(f * n), n - 1) if f >= 0.0 else 0
            w = wx[i] * ((hi[k_hi[i]] - hi[k_lo[i]]) + (lo[k_hi[i]] - lo[k_lo[i]]))
            weight_sum += w
            rate_sum += w * (x[i] + y[k_lo[i] + cut + 1])
        probe = rate_sum / weight_sum if weight_sum > 0.0 else np.nan
        if pivot_next or not (probe > ends[0]) or not (probe < ends[2]):
            first, last = np.inf, -np.inf  # the smallest and largest candidate rates
            for i in active:
                first = min(first, x[i] + y[k_lo[i] + 1])
                last = max(last, x[i] + y[k_hi[i]])
            if first >= last:  # the candidates are one run of ties
                return
            probe = _pivot(x, y, k_lo, k_hi, active, last)
        gained = 0.0
        for a in range(n_rows - 1, -1, -1):  # x ascending: the next row's count bounds this one's from above
            i = active[a]
            stop = k_hi[i]
            if i + 1 < len(x):
                stop = min(stop, k_lo[i + 1] if k_hi[i + 1] == k_lo[i + 1] else found[i + 1])
            k = _count(x[i], y, probe, k_lo[i], stop, False)
            found[i] = k
            if k != k_lo[i]:
                gained += wx[i] * ((hi[k] - hi[k_lo[i]]) + (lo[k] - lo[k_lo[i]]))
        a = ends[1] + gained
        up = a > target
        if up:
            ends[2], ends[3] = probe, a
        else:
            ends[0], ends[1] = probe, a
        kept, n_rows = 0, 0
        for i in active:
            if up:
                k_hi[i] = found[i]
            else:
                k_lo[i] = found[i]
            if k_hi[i] > k_lo[i]:
                rows[n_rows] = i
                n_rows += 1
                kept += k_hi[i] - k_lo[i]
        pivot_next = kept > PIVOT_EVERY_STALL * n_cand
        n_cand = kept
    raise RuntimeError("quantile search did not converge")


@njit(cache=True, nogil=True)
def _widen(x: Any, wx: Any, y: Any, hi: Any, lo: Any, k: Any, below: bool) -> tuple[float, int]:
    """Move one end of a bracket past the next rate outside it (below: the largest pair rate at or
    below the lower end; else the smallest above the upper end), taking in every pair of that
    rate. k (n_x,) is that end's count, updated in place. Returns the weight and the number of
    pairs taken in; (0, 0) when there is no pair beyond that end. Only the rows whose next pair
    outside has that rate move."""
    ny = len(y) - 2
    rate = -np.inf if below else np.inf
    for i in range(len(x)):
        if below and k[i] > 0:
            rate = max(rate, x[i] + y[k[i]])  # Y[k - 1]
        elif not below and k[i] < ny:
            rate = min(rate, x[i] + y[k[i] + 1])  # Y[k]
    if not np.isfinite(rate):
        return 0.0, 0
    weight, taken = 0.0, 0
    for i in range(len(x)):
        old = k[i]
        if below and old > 0 and x[i] + y[old] == rate:
            new = _count(x[i], y, rate, 0, old - 1, True)
        elif not below and old < ny and x[i] + y[old + 1] == rate:
            new = _count(x[i], y, rate, old + 1, ny, False)
        else:
            continue
        a, b = (new, old) if below else (old, new)
        weight += wx[i] * ((hi[b] - hi[a]) + (lo[b] - lo[a]))
        taken += b - a
        k[i] = new
    return weight, taken


@njit(cache=True, nogil=True)
def _interpolate(
    x: Any,
    wx: Any,
    cx: Any,
    y: Any,
    wy: Any,
    hi: Any,
    lo: Any,
    oy: Any,
    ob: Any,
    c_other: Any,
    c_big: Any,
    k_lo: Any,
    k_hi: Any,
    a_lo: float,
    target: float,
) -> tuple[float, bool]:
    """The quantile at weight `target` from a bracket (k_lo, k_hi: (n_x,) counts of Y per X row;
    a_lo: the weight at or below it) and whether it was found: the bracket's pairs in stable-sort
    order (rate, then canonical index), placed at a_lo + cumulative weight - weight / 2 and
    interpolated as np.interp interpolates the whole sorted list (clamped to its first and last
    rate). Where t is before the first position or at or after the last, the bracket takes in
    the next rate below or above it (k_lo, k_hi change in place) and tries again; not found when
    it grows past `WIDEN_LIMIT` pairs."""
    n_big = len(ob)
    rates, weights, canonical = np.empty(WIDEN_LIMIT), np.empty(WIDEN_LIMIT), np.empty(WIDEN_LIMIT, np.int64)
    while True:
        n = 0
        for i in range(len(x)):
            n += k_hi[i] - k_lo[i]
        if n == 0 or n > WIDEN_LIMIT:
            return np.nan, False
        at = 0
        for i in range(len(x)):
            for j in range(k_lo[i], k_hi[i]):
                rate, weight = x[i] + y[j + 1], wx[i] * wy[j]
                place = oy[j]
                c = cx[i] + c_other[place // n_big] + c_big[ob[place % n_big]]
                slot = at  # insertion sort by (rate, canonical): a few dozen pairs
                while slot > 0 and (rates[slot - 1] > rate or (rates[slot - 1] == rate and canonical[slot - 1] > c)):
                    rates[slot], weights[slot], canonical[slot] = rates[slot - 1], weights[slot - 1], canonical[slot - 1]
                    slot -= 1
                rates[slot], weights[slot], canonical[slot] = rate, weight, c
                at += 1
        if a_lo + weights[0] / 2 > target:  # t before the first position: take in the rate below, if any
            gained, taken = _widen(x, wx, y, hi, lo, k_lo, True)
            if taken:
                a_lo -= gained
                continue
        cum = 0.0
        for m in range(n):
            cum += weights[m]
        if a_lo + cum - weights[n - 1] / 2 <= target:  # t at or after the last position: the rate above, if any
            gained, taken = _widen(x, wx, y, hi, lo, k_hi, False)
            if taken:
                continue
        cum = 0.0
        p0, r0 = -np.inf, rates[0]
        for m in range(n):
            cum += weights[m]
            p1, r1 = a_lo + cum - weights[m] / 2, rates[m]
            if p1 > target:  # np.interp: p0 <= t < p1
                if m == 0:
                    return r1, True
                if p0 == target:
                    return r0, True
                return (r1 - r0) / (p1 - p0) * (target - p0) + r0, True
            p0, r0 = p1, r1
        return r0, True


@njit(cache=True, nogil=True)
def _bin_quantiles(
    xb: Any,
    wb: Any,
    cxb: Any,
    y: Any,
    wy: Any,
    cum_hi: Any,
    cum_lo: Any,
    oy: Any,
    obb: Any,
    c_other: Any,
    c_big: Any,
    grid: Any,
    qs: Any,
    window: int,
    out: Any,
) -> None:
    """One bin's quantiles (see `search_quantiles`): `out` is (values, settled, t, lo, a_lo, k_lo,
    hi, a_hi, k_hi), each with a row per quantile."""
    values, settled, t, lo, a_lo, k_lo, hi, a_hi, k_hi = out
    nx, ny, n_grid = len(xb), len(y) - 2, len(grid)
    zeros, full = np.zeros(nx, np.intp), np.full(nx, ny, np.intp)
    grid_k = np.empty((n_grid, nx), np.intp)
    grid_a = np.empty(n_grid)
    ends = np.empty(4)
    wide_lo, wide_hi = np.empty(nx, np.intp), np.empty(nx, np.intp)
    total = _gained(wb, cum_hi, cum_lo, zeros, full)
    highest = -np.inf
    for i in range(nx):
        highest = max(highest, xb[i] + y[ny])
    half_w = wb.max() * wy.max() / 2
    for g in range(n_grid):  # counts grow with the rate and down the rows (x descending): each bounds the next
        for i in range(nx - 1, -1, -1):
            start = grid_k[g - 1, i] if g > 0 else 0
            stop = grid_k[g, i + 1] if i + 1 < nx else ny
            grid_k[g, i] = _count(xb[i], y, grid[g], start, stop, False)
        grid_a[g] = _gained(wb, cum_hi, cum_lo, zeros, grid_k[g])
    for q in range(len(qs)):
        t[q] = target = total * qs[q]
        ends[0], ends[1], ends[2], ends[3] = -np.inf, 0.0, highest, total
        k_lo[q], k_hi[q] = zeros, full
        below = -1  # the last grid point with weight <= t
        for g in range(n_grid):
            if grid_a[g] <= target:
                below += 1
        if below >= 0:
            ends[0], ends[1], k_lo[q] = grid[below], grid_a[below], grid_k[below]
        if below + 1 < n_grid:
            ends[2], ends[3], k_hi[q] = grid[below + 1], grid_a[below + 1], grid_k[below + 1]
        _narrow(xb, wb, y, cum_hi, cum_lo, target, k_lo[q], k_hi[q], ends, window)
        lo[q], a_lo[q], hi[q], a_hi[q] = ends[0], ends[1], ends[2], ends[3]
        n_in = 0
        for i in range(nx):
            n_in += k_hi[q, i] - k_lo[q, i]
        if n_in > window and ends[1] + half_w <= target and target < ends[3] - half_w:
            values[q] = -np.inf  # inside a run of ties: its rate (near an end, canonical order matters)
            for i in range(nx):
                if k_hi[q, i] > 0:
                    values[q] = max(values[q], xb[i] + y[k_hi[q, i]])
            settled[q] = True
            continue
        wide_lo[:], wide_hi[:] = k_lo[q], k_hi[q]
        values[q], settled[q] = _interpolate(
            xb, wb, cxb, y, wy, cum_hi, cum_lo, oy, obb, c_other, c_big, wide_lo, wide_hi, ends[1], target
        )


@njit(cache=True, nogil=True)
def search_quantiles(
    x: Any,
    wx: Any,
    cx: Any,
    padded: Any,
    wy: Any,
    cw_hi: Any,
    cw_lo: Any,
    oy: Any,
    ob: Any,
    c_other: Any,
    c_big: Any,
    grid: Any,
    qs: Any,
    window: int,
) -> tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any]:
    """Every problem's quantile, or the bracket to find it from, problems bin-major (bin b,
    quantile q at b * Q + q).

    x, wx, cx (B, n_x): X sorted by rate descending, its weights and canonical index parts;
    padded (B, n_y + 2): Y sorted, with its first and last value repeated at either end; wy, oy
    (B, n_y): its weights and positions in the runs (`merge_runs`); ob (B, n_big), c_other,
    c_big: the big block's sort order and the canonical parts of both Y sides; cw_hi + cw_lo
    (B, n_y + 1): Y's cumulative weights; grid (B, G): rates, ascending, where exact counts start
    each search; qs (Q,).

    Each bracket is narrowed to at most `window` pairs, or one run of ties (`_narrow`), then
    interpolated (`_interpolate`, which takes in the rates beside it as needed). Returns the
    quantiles (m,) and `settled` (m,): False where the bracket grew past `WIDEN_LIMIT` pairs, or
    is a longer run of ties with t within a pair's weight of its ends; for those, t, lo, a_lo,
    k_lo, hi, a_hi, k_hi (k: (m, n_x)) hold the narrowed bracket for numpy's interpolation."""
    n_bins, nx = x.shape
    n_q = len(qs)
    m = n_bins * n_q
    out = (
        np.empty(m), np.zeros(m, np.bool_), np.empty(m), np.empty(m), np.empty(m),
        np.empty((m, nx), np.intp), np.empty(m), np.empty(m), np.empty((m, nx), np.intp),
    )  # fmt: skip
    for b in range(n_bins):
        rows = slice(b * n_q, (b + 1) * n_q)
        _bin_quantiles(
            x[b], wx[b], cx[b], padded[b], wy[b], cw_hi[b], cw_lo[b], oy[b], ob[b], c_other, c_big, grid[b], qs, window,
            (out[0][rows], out[1][rows], out[2][rows], out[3][rows], out[4][rows], out[5][rows], out[6][rows], out[7][rows], out[8][rows]),
        )  # fmt: skip
    return out


@njit(cache=True, nogil=True)
def _merge(values: Any, index: Any, out_values: Any, out_index: Any, start: int, middle: int, stop: int) -> None:
    """Merge the sorted ranges [start, middle) and [middle, stop) into out, ties to the first.
    (Selects, not branches, in the main loop: the comparisons are unpredictable.)"""
    i, j, k = start, middle, start
    while i < middle and j < stop:
        vi, vj, ii, ij = values[i], values[j], index[i], index[j]
        right = vj < vi
        out_values[k] = vj if right else vi
        out_index[k] = ij if right else ii
        j += right
        i += not right
        k += 1
    while i < middle:
        out_values[k], out_index[k] = values[i], index[i]
        i += 1
        k += 1
    while j < stop:
        out_values[k], out_index[k] = values[j], index[j]
        j += 1
        k += 1


@njit(cache=True, nogil=True)
def _merge_bin(
    other: Any, w_other: Any, big: Any, w_big: Any, scratch: Any, padded: Any, oy: Any, wy: Any, cw_hi: Any, cw_lo: Any
) -> None:
    """One bin's Y sorted (see `merge_runs`): other (n_other,), big and w_big (n_big,) in; padded
    (n_y + 2), oy, wy (n_y), cw_hi, cw_lo (n_y + 1) out; scratch: (values, index, weights,
    spare values, spare index), each (n_y,)."""
    values, index, weights, spare_values, spare_index = scratch
    n_other, n_big = len(other), len(big)
    ny = n_other * n_big
    out_values = padded[1 : ny + 1]
    for r in range(n_other):
        for j in range(n_big):
            values[r * n_big + j] = other[r] + big[j]
            index[r * n_big + j] = r * n_big + j
            weights[r * n_big + j] = w_other[r] * w_big[j]
    width = n_big
    if width >= ny:
        out_values[:], oy[:] = values, index
    while width < ny:  # merge neighbouring runs of `width` into runs of twice that; the last round into the output
        last = 2 * width >= ny
        to_values, to_index = (out_values, oy) if last else (spare_values, spare_index)
        for start in range(0, ny, 2 * width):
            middle, stop = min(start + width, ny), min(start + 2 * width, ny)
            _merge(values, index, to_values, to_index, start, middle, stop)
        values, spare_values = spare_values, values
        index, spare_index = spare_index, index
        width *= 2
    cw_hi[0], cw_lo[0] = 0.0, 0.0
    base_hi, base_lo = 0.0, 0.0
    for block in range(0, ny, CUMULATIVE_BLOCK):
        partial = 0.0  # a short float64 sum within the block
        k = block
        for k in range(block, min(block + CUMULATIVE_BLOCK, ny)):
            w = weights[oy[k]]
            wy[k] = w
            partial += w
            hi = base_hi + partial  # two-sum: base_hi + partial is exactly hi + error
            back = hi - base_hi
            lo = base_lo + ((base_hi - (hi - back)) + (partial - back))
            total = hi + lo  # renormalise (fast two-sum): |lo| within half an ulp of hi
            cw_hi[k + 1], cw_lo[k + 1] = total, lo - (total - hi)
        base_hi, base_lo = cw_hi[k + 1], cw_lo[k + 1]  # the block's end: the next block's base
    padded[0], padded[ny + 1] = padded[1], padded[ny]


@njit(cache=True, nogil=True)
def _scratch(ny: int) -> tuple[Any, Any, Any, Any, Any]:
    return np.empty(ny), np.empty(ny, np.intp), np.empty(ny), np.empty(ny), np.empty(ny, np.intp)


@njit(cache=True, nogil=True)
def merge_runs(other: Any, w_other: Any, big: Any, w_big: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Y of every bin sorted, from its runs: Y[r * n_big + j] = other[b, r] + big[b, j].

    other (B, n_other), w_other (n_other,): the other blocks' combinations and weights; big
    (B, n_big) sorted per bin, w_big (B, n_big) its weights in that order. Returns, per bin, the
    stable sort order `oy` (B, n_y) (positions in the runs), Y sorted and padded with its first
    and last value at either end (B, n_y + 2), its weights (B, n_y), and its cumulative weights
    as double-double (hi, lo) (B, n_y + 1), from 0. Runs are merged pairwise, neighbours with
    neighbours, ties to the earlier run: numpy's stable argsort."""
    n_bins, n_other = other.shape
    ny = n_other * big.shape[1]
    oy, padded, wy = np.empty((n_bins, ny), np.intp), np.empty((n_bins, ny + 2)), np.empty((n_bins, ny))
    cw_hi, cw_lo = np.empty((n_bins, ny + 1)), np.empty((n_bins, ny + 1))
    scratch = _scratch(ny)
    for b in range(n_bins):
        _merge_bin(other[b], w_other, big[b], w_big[b], scratch, padded[b], oy[b], wy[b], cw_hi[b], cw_lo[b])
    return oy, padded, wy, cw_hi, cw_lo


@njit(cache=True, nogil=True)
def quantiles_of_runs(
    x: Any,
    wx: Any,
    cx: Any,
    other: Any,
    w_other: Any,
    c_other: Any,
    big: Any,
    w_big: Any,
    ob: Any,
    c_big: Any,
    grid: Any,
    qs: Any,
    window: int,
) -> tuple[Any, Any]:
    """`merge_runs` then `search_quantiles`, a bin at a time in arrays reused from bin to bin
    (a few hundred kB that stay in cache, where the whole chunk's sorted Y is tens of MB of fresh
    memory: its page faults alone cost a fifth of an NSHM target). Returns the quantiles and
    `settled`, both (B, Q); a bin with any quantile not settled is for `merge_runs` and
    `search_quantiles` to redo, keeping its brackets."""
    n_bins, nx = x.shape
    n_q = len(qs)
    ny = other.shape[1] * big.shape[1]
    scratch = _scratch(ny)
    oy, padded, wy = np.empty(ny, np.intp), np.empty(ny + 2), np.empty(ny)
    cw_hi, cw_lo = np.empty(ny + 1), np.empty(ny + 1)
    values, settled = np.empty((n_bins, n_q)), np.zeros((n_bins, n_q), np.bool_)
    out = (
        np.empty(n_q), np.zeros(n_q, np.bool_), np.empty(n_q), np.empty(n_q), np.empty(n_q),
        np.empty((n_q, nx), np.intp), np.empty(n_q), np.empty(n_q), np.empty((n_q, nx), np.intp),
    )  # fmt: skip
    for b in range(n_bins):
        _merge_bin(other[b], w_other, big[b], w_big[b], scratch, padded, oy, wy, cw_hi, cw_lo)
        _bin_quantiles(x[b], wx[b], cx[b], padded, wy, cw_hi, cw_lo, oy, ob[b], c_other, c_big, grid[b], qs, window, out)
        values[b], settled[b] = out[0], out[1]
    return values, settled
