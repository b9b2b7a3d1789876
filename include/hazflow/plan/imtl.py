"""Target levels (IMTL): the intensity at which the model's mean hazard curve reaches a PoE.

For a PoE P over T = 50 years the annual probability is p1 = 1 - (1 - P)^(1/T), and the level is
the log-log interpolation of the aggregated mean curve at p1 (FIELD_NOTES.md). A PoE outside the
curve's range is an error, never an extrapolation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hazflow.aggregate.stats import annual_poe
from hazflow.exceptions import BadRequest


def level_at_poe(levels: np.ndarray, annual_curve: np.ndarray, poe: float, years: float = 50.0, what: str = "curve") -> float:
    """Level (g) at which `annual_curve` (annual PoE at `levels`) equals the annual equivalent of `poe`."""
    return float(levels_at_poes(levels, annual_curve, [poe], years, what)[0])


def levels_at_poes(
    levels: np.ndarray, annual_curve: np.ndarray, poes: Sequence[float], years: float = 50.0, what: str = "curve"
) -> np.ndarray:
    """The level of each PoE in `poes` on one curve (one interpolation for all of them)."""
    p1 = np.array([annual_poe(p, years) for p in poes])
    positive = annual_curve > 0
    lv, curve = np.asarray(levels, dtype=float)[positive], np.asarray(annual_curve, dtype=float)[positive]
    outside = ~((curve.min() <= p1) & (p1 <= curve.max())) if len(curve) >= 2 else np.ones(len(p1), dtype=bool)
    if outside.any():
        i = int(np.argmax(outside))
        span = f"[{curve.min():.3g}, {curve.max():.3g}]" if len(curve) else "empty"
        raise BadRequest("poes", f"{poes[i]:g} in {years:g} years (annual {p1[i]:.4g}) is outside the {what}'s range {span}")
    order = np.argsort(curve)  # ascending annual PoE (descending levels)
    return np.exp(np.interp(np.log(p1), np.log(curve[order]), np.log(lv[order])))


def annual_poe_at_level(levels: np.ndarray, annual_curve: np.ndarray, level: float) -> float:
    """The curve's annual PoE at `level` (g), log-log interpolated over its positive part (0 where
    the curve is zero everywhere); the inverse question of `level_at_poe`.

    >>> round(annual_poe_at_level(np.array([0.1, 1.0]), np.array([1e-2, 1e-4]), 10**-0.5), 9)  # halfway in log-log
    0.001
    """
    positive = annual_curve > 0
    if not positive.any():
        return 0.0
    return float(np.exp(np.interp(np.log(level), np.log(levels[positive]), np.log(annual_curve[positive]))))


def poe_of_level(levels: np.ndarray, annual_curve: np.ndarray, level: float, years: float = 50.0, what: str = "curve") -> float:
    """IML mode's name for a target: the PoE in `years` the curve gives `level` (g), log-log
    interpolated and rounded to 6 significant digits (so that the same level always names the same
    target, and both store backends key it alike). A level outside the curve's positive range is refused.

    >>> poe_of_level(np.array([0.1, 1.0]), np.array([1e-2, 1e-4]), 10**-0.5)  # annual 0.001
    0.0487944
    """
    positive = np.asarray(annual_curve) > 0
    lv = np.asarray(levels, dtype=float)[positive]
    if len(lv) < 2 or not lv.min() <= level <= lv.max():
        span = f"[{lv.min():.3g}, {lv.max():.3g}] g" if len(lv) else "empty"
        raise BadRequest("imls", f"{level:g} g is outside the {what}'s range {span}")
    annual = annual_poe_at_level(np.asarray(levels, dtype=float), np.asarray(annual_curve, dtype=float), level)
    return float(f"{-np.expm1(np.log1p(-annual) * years):.6g}")
