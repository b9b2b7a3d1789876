"""The levels a one-pass calculation disaggregates at, for its sites in OpenQuake's site order (no OpenQuake needed)."""

from __future__ import annotations

import numpy as np
import pytest

from hazflow.openquake.onepass import levels_for

PASS_IMTS = ("PGA", "SA(0.5)")
WLG = {"code": "-41.300~174.780", "lon": 174.78, "lat": -41.3, "levels": [[0.1, 0.3, 0.6], [0.2, 0.5, 1.0]]}
CHC = {"code": "-43.530~172.630", "lon": 172.63, "lat": -43.53, "levels": [[0.05], [0.15]]}


def test_each_site_gets_its_levels_in_the_calculations_site_and_imt_order_the_shorter_repeating_its_last():
    levels = levels_for(np.array([172.63, 174.78]), np.array([-43.53, -41.3]), ("SA(0.5)", "PGA"), [WLG, CHC], PASS_IMTS)
    assert levels.shape == (2, 2, 3)  # (site, IMT, level)
    assert levels[0].tolist() == [[0.15, 0.15, 0.15], [0.05, 0.05, 0.05]]  # CHC first, as OpenQuake has it; SA(0.5) first
    assert levels[1].tolist() == [[0.2, 0.5, 1.0], [0.1, 0.3, 0.6]]


@pytest.mark.parametrize(
    ("lons", "lats", "sites"),
    [
        ([174.78], [-41.3], [WLG, CHC]),  # a site of the calculation missing from the site model
        ([174.78, 175.0], [-41.3, -41.3], [WLG, CHC]),  # a site the pass does not have
        ([174.78, 172.63], [-41.3, -43.53], [WLG]),  # more sites than the calculation's
    ],
)
def test_a_calculation_whose_sites_are_not_the_passs_is_refused(lons, lats, sites):
    with pytest.raises(ValueError, match="the calculation's sites"):
        levels_for(np.array(lons), np.array(lats), PASS_IMTS, sites, PASS_IMTS)


def test_levels_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="levels of shape"):
        levels_for(np.array([174.78]), np.array([-41.3]), PASS_IMTS, [WLG | {"levels": [[0.1, 0.3]]}], PASS_IMTS)
