"""The compiled kernels of meet-in-the-middle: Y's merge of runs against numpy's stable sort and an
exact cumulative sum; the fused per-bin quantiles against the quantiles of every composite,
including the bins it hands back to numpy."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hazflow.aggregate.compiled import WIDEN_LIMIT, merge_runs, quantiles_of_runs
from hazflow.aggregate.quantiles import COMPILED_WINDOW, Side, _Sorted, sorted_quantiles
from hazflow.aggregate.stats import weighted_quantiles


def runs_input(rng: np.random.Generator, n_bins: int, n_other: int, n_big: int, ties: bool):
    if ties:  # dyadic values: sums are exact, so equal sums are real ties across runs
        other = rng.integers(0, 3, (n_bins, n_other)) / 8.0
        big = np.sort(rng.integers(0, 5, (n_bins, n_big)) / 8.0, axis=1)
    else:
        other = rng.random((n_bins, n_other)) * 10.0 ** rng.uniform(-6, 0, (n_bins, n_other))
        big = np.sort(rng.random((n_bins, n_big)), axis=1)
    w_other = rng.dirichlet(np.ones(n_other))
    w_big = rng.dirichlet(np.ones(n_big), size=n_bins)
    return other, w_other, big, w_big


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("n_other", "n_big"), [(1, 7), (2, 5), (3, 64), (12, 40), (13, 1)])
def test_merge_runs_is_numpys_stable_sort_with_exact_cumulative_weights(n_other, n_big, ties):
    rng = np.random.default_rng(n_other * 100 + n_big)
    other, w_other, big, w_big = runs_input(rng, 3, n_other, n_big, ties)
    oy, padded, wy, cw_hi, cw_lo = merge_runs(other, w_other, big, w_big)
    y = (other[:, :, None] + big[:, None, :]).reshape(3, -1)
    w = (w_other[None, :, None] * w_big[:, None, :]).reshape(3, -1)
    order = np.argsort(y, axis=1, kind="stable")
    np.testing.assert_array_equal(oy, order)
    np.testing.assert_array_equal(padded[:, 1:-1], np.take_along_axis(y, order, axis=1))
    np.testing.assert_array_equal(padded[:, 0], padded[:, 1])
    np.testing.assert_array_equal(padded[:, -1], padded[:, -2])
    np.testing.assert_array_equal(wy, np.take_along_axis(w, order, axis=1))
    for b in range(3):
        exact = np.cumsum([Fraction(0)] + [Fraction(v) for v in wy[b]])
        error = [abs(Fraction(h) + Fraction(lo) - e) for h, lo, e in zip(cw_hi[b], cw_lo[b], exact, strict=True)]
        # a few ulps of the total at most (blocks of 16 weights summed in float64), and hi is lo's rounding
        assert max(error) <= 4 * np.spacing(float(exact[-1]))
        np.testing.assert_array_equal(cw_hi[b], cw_hi[b] + cw_lo[b])


def sides_of(rng: np.random.Generator, n_bins: int, n_x: int, n_other: int, n_big: int, values) -> tuple[Side, ...]:
    def side(n: int, offset: int) -> Side:
        return Side(values(rng, (n, n_bins)), rng.dirichlet(np.ones(n)), offset * np.arange(n, dtype=np.int64))

    # canonical index = cx * (n_other * n_big) + c_other * n_big + c_big: X's axes first, as in C order
    return side(n_x, n_other * n_big), side(n_other, n_big), side(n_big, 1)


def every_composite(x: Side, y_other: Side, y_big: Side) -> tuple[np.ndarray, np.ndarray]:
    """Rates (B, n) and weights (n,) of every composite, in canonical order."""
    rates = x.values[:, None, None, :] + (y_other.values[None, :, None, :] + y_big.values[None, None, :, :])
    weights = x.weights[:, None, None] * (y_other.weights[None, :, None] * y_big.weights[None, None, :])
    return rates.reshape(-1, rates.shape[-1]).T, weights.ravel()


QS = np.array([0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0])


@pytest.mark.parametrize(
    "values",
    [
        lambda rng, shape: rng.random(shape) * 10.0 ** rng.uniform(-3, 0, shape),
        lambda rng, shape: rng.integers(0, 3, shape) / 16.0,  # long runs of ties, many over WIDEN_LIMIT pairs
    ],
    ids=["continuous", "ties"],
)
def test_fused_quantiles_equal_every_composite(values):
    rng = np.random.default_rng(7)
    x, y_other, y_big = sides_of(rng, 6, 9, 4, 30, values)
    sides = _Sorted.of(x, y_other, y_big)
    got = sorted_quantiles(sides, QS)
    rates, weights = every_composite(x, y_other, y_big)
    np.testing.assert_allclose(got.T, weighted_quantiles(rates, weights, QS), rtol=1e-12, atol=1e-15)
    numpy_search = sorted_quantiles(sides, QS, "numpy")
    np.testing.assert_allclose(got, numpy_search, rtol=1e-12, atol=1e-15)


def test_long_runs_of_ties_near_their_ends_go_back_to_numpy():
    """A quantile at the edge of a run of more pairs than `WIDEN_LIMIT` is not settled by the
    fused kernel; its bin is redone (Y kept) and numpy's interpolation gives the answer."""
    rng = np.random.default_rng(3)
    x, y_other, y_big = sides_of(rng, 2, 6, 3, 20, lambda rng, shape: np.zeros(shape))
    y_big.values[:5, 1] = 1.0  # bin 1: a quarter of the big block at rate 1, the rest at 0
    sides = _Sorted.of(x, y_other, y_big)
    rates, weights = every_composite(x, y_other, y_big)
    zero_share = float(weights[rates[1] == 0].sum() / weights.sum())
    qs = np.array([0.5, zero_share - 1e-12, zero_share, zero_share + 1e-12])
    _, settled = quantiles_of_runs(
        sides.x, sides.wx, sides.cx, sides.other, sides.w_other, sides.c_other, sides.big, sides.w_big, sides.ob,
        sides.c_big, sides.grid(), qs, COMPILED_WINDOW,
    )  # fmt: skip
    assert (rates[1] == 0).sum() > WIDEN_LIMIT
    assert settled[0].all() and not settled[1].all()
    got = sorted_quantiles(sides, qs)
    # between the runs, t sits between two composites a whole rate apart: float64 enumeration's
    # cumulative weights (540 summed in turn) move it by about 1e-11, so compare with exact sums
    want = np.array([[exact_quantile(row, weights, q) for q in qs] for row in rates])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def exact_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The midpoint-convention quantile with exact (rational) cumulative weights: stable sort,
    the i-th value at cumsum(w)_i - w_i / 2, linear interpolation at q sum(w), clamped."""
    order = np.argsort(values, kind="stable")
    w = [Fraction(float(v)) for v in weights[order]]
    v = [Fraction(float(r)) for r in values[order]]
    t = Fraction(q) * sum(w)
    positions, cum = [], Fraction(0)
    for wi in w:
        cum += wi
        positions.append(cum - wi / 2)
    if t <= positions[0]:
        return float(v[0])
    for j in range(len(v) - 1):
        if positions[j] <= t < positions[j + 1]:
            return float(v[j] + (v[j + 1] - v[j]) * (t - positions[j]) / (positions[j + 1] - positions[j]))
    return float(v[-1])
