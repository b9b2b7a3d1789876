from __future__ import annotations

import math

import numpy as np
import pytest

from hazflow.exceptions import BadRequest
from hazflow.plan.imtl import annual_poe, level_at_poe


@pytest.mark.parametrize("poe", [0.02, 0.05, 0.1, 0.18, 0.39, 0.63, 0.86])
def test_annual_poe_is_the_poissonian_equivalent(poe):
    p1 = annual_poe(poe)
    assert 1 - (1 - p1) ** 50 == pytest.approx(poe, rel=1e-12)
    # not the rate -ln(1-P)/T an older tool looked up: the rate is larger (so its level came out low)
    assert p1 < -math.log(1 - poe) / 50


def test_level_on_a_power_law_curve_is_exact():
    """A curve p = 1e-3 (x / 0.1)^-2 is a line in log-log space, so the interpolation is exact."""
    levels = np.array([0.01, 0.05, 0.1, 0.3, 1.0, 3.0])
    curve = 1e-3 * (levels / 0.1) ** -2.0
    p1 = annual_poe(0.1)
    expected = 0.1 * (p1 / 1e-3) ** -0.5
    assert level_at_poe(levels, curve, 0.1) == pytest.approx(expected, rel=1e-12)
    assert level_at_poe(levels, curve, 0.1) == pytest.approx(0.0689, abs=1e-4)


def test_zero_tail_is_ignored_and_out_of_range_is_an_error():
    levels = np.array([0.1, 0.2, 0.5, 1.0, 2.0])
    curve = np.array([1e-2, 3e-3, 4e-4, 0.0, 0.0])
    assert 0.2 < level_at_poe(levels, curve, 0.1) < 0.5
    with pytest.raises(BadRequest, match="outside the curve's range") as info:
        level_at_poe(levels, curve, 0.001)
    assert info.value.field == "poes"
    with pytest.raises(BadRequest, match=r"must lie in \(0, 1\)"):
        annual_poe(1.0)


def test_levels_against_hand_computed_values():
    """Three points a decade apart in annual PoE; log-log interpolation by hand.

    10 %/50 yr is annual 1 - 0.9**(1/50) = 0.0021050; between (0.1 g, 1e-2) and (0.2 g, 1e-3):
    ln L = ln 0.1 + (ln 0.0021050 - ln 1e-2) / (ln 1e-3 - ln 1e-2) * (ln 0.2 - ln 0.1), so L = 0.159853 g.
    Annual 1e-3 exactly (P = 1 - (1 - 1e-3)**50 = 0.048794) sits on the 0.2 g point; annual 10**-2.5 on
    the geometric mean of 0.1 and 0.2 g (0.141421 g).
    """
    from hazflow.plan.imtl import levels_at_poes

    levels, curve = np.array([0.1, 0.2, 0.4]), np.array([1e-2, 1e-3, 1e-4])
    poes = [0.1, 1 - (1 - 1e-3) ** 50, 1 - (1 - 10**-2.5) ** 50]
    assert levels_at_poes(levels, curve, poes) == pytest.approx([0.159853, 0.2, 0.141421], rel=1e-4)
