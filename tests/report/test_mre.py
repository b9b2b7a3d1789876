"""The M-R-eps summary against hand-computed small disaggregations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hazflow.exceptions import BadRequest
from hazflow.plan.imtl import annual_poe
from hazflow.report.mre import MreSummary, summarise_mre
from hazflow.store import DisaggAggregate

EDGES = {"Mag": np.array([5.0, 6.0, 7.0]), "Dist": np.array([0.0, 10.0, 30.0]), "Eps": np.array([-1.0, 0.0, 1.0, 2.0])}


def disagg(values: np.ndarray, poe: float = 0.1, trts=("Crust", "Interface")) -> DisaggAggregate:
    return DisaggAggregate(
        "DEMO", "-41.3~174.78", 400.0, "PGA", poe, "mean", 0.3, ("TRT", "Mag", "Dist", "Eps"), trts, EDGES, values
    )


def rates_to_probs(rates: np.ndarray) -> np.ndarray:
    return -np.expm1(-rates)


def test_one_bin_holds_everything():
    rates = np.zeros((2, 2, 2, 3))
    rates[1, 1, 0, 2] = 2e-3  # Interface, M6-7, 0-10 km, eps 1-2
    got = summarise_mre(disagg(rates_to_probs(rates)))
    assert (got.mean_mag, got.mean_dist, got.mean_eps) == pytest.approx((6.5, 5.0, 1.5), rel=1e-12)
    assert got.modal_mr == pytest.approx({"mag": 6.5, "dist": 5.0, "percent": 100.0})
    assert got.modal_mre == pytest.approx({"mag": 6.5, "dist": 5.0, "eps": 1.5, "percent": 100.0})
    assert got.by_trt == pytest.approx({"Crust": 0.0, "Interface": 100.0})
    assert got.recovered_rate == pytest.approx(2e-3, rel=1e-12)
    assert got.recovered_return_period == pytest.approx(500.0, rel=1e-12)


def test_hand_computed_means_modes_and_regions():
    rates = np.zeros((2, 2, 2, 3))
    rates[0, 0, 0, 0] = 1.0  # Crust M5.5 5 km eps -0.5
    rates[0, 1, 1, 1] = 2.0  # Crust M6.5 20 km eps 0.5
    rates[1, 1, 1, 2] = 1.5  # Interface M6.5 20 km eps 1.5
    rates[1, 0, 1, 1] = 0.5  # Interface M5.5 20 km eps 0.5
    rates *= 1e-4
    got = summarise_mre(disagg(rates_to_probs(rates)))
    total = 5.0
    assert got.mean_mag == pytest.approx((1.0 * 5.5 + 2.0 * 6.5 + 1.5 * 6.5 + 0.5 * 5.5) / total, rel=1e-12)
    assert got.mean_dist == pytest.approx((1.0 * 5 + 2.0 * 20 + 1.5 * 20 + 0.5 * 20) / total, rel=1e-12)
    assert got.mean_eps == pytest.approx((1.0 * -0.5 + 2.0 * 0.5 + 1.5 * 1.5 + 0.5 * 0.5) / total, rel=1e-12)
    # M-R: (6.5, 20) holds 2.0 + 1.5 over both regions; M-R-eps: (6.5, 20, 0.5) holds 2.0
    assert got.modal_mr == pytest.approx({"mag": 6.5, "dist": 20.0, "percent": 70.0})
    assert got.modal_mre == pytest.approx({"mag": 6.5, "dist": 20.0, "eps": 0.5, "percent": 40.0})
    assert got.by_trt == pytest.approx({"Crust": 60.0, "Interface": 40.0})


@pytest.mark.parametrize("poe", [0.1, 0.02])
def test_target_and_recovered_return_periods(poe):
    target = annual_poe(poe)
    rate = -math.log1p(-target)
    rates = np.zeros((2, 2, 2, 3))
    rates[0, 0, 0, 0], rates[1, 1, 1, 1] = 0.25 * rate, 0.7 * rate  # 95 % recovered
    got = summarise_mre(disagg(rates_to_probs(rates), poe))
    assert got.target_rate == pytest.approx(rate, rel=1e-12)
    assert got.target_return_period == pytest.approx({0.1: 474.56, 0.02: 2474.9}[poe], rel=1e-4)
    assert got.recovered_return_period == pytest.approx(got.target_return_period / 0.95, rel=1e-12)
    assert got.closure == pytest.approx(-math.expm1(-0.95 * rate) / target, rel=1e-12)
    assert MreSummary.from_dict(got.to_dict()) == got
    assert "return period 475 yr target" in got.describe() or "return period 2475 yr target" in got.describe()


def test_an_empty_disaggregation_is_refused():
    with pytest.raises(BadRequest, match="empty"):
        summarise_mre(disagg(np.zeros((2, 2, 2, 3))))
