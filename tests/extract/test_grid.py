"""The sites of an area: nzshm-common grid points (or a resolution) inside it; empty and oversized areas refused."""

from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.extract.area import bbox_area, polygon_area
from hazflow.extract.grid import area_sites, grid_points
from tests.extract.test_area import TRIANGLE, WLG_BOX

WLG_POINTS = [(-41.3, 174.7), (-41.3, 174.8), (-41.3, 174.9), (-41.2, 174.7), (-41.2, 174.8), (-41.2, 174.9)]


def test_nshm_grid_in_a_wellington_box_is_its_six_points():
    sites = area_sites(bbox_area(WLG_BOX))
    assert [(s.lat, s.lon) for s in sites] == sorted(WLG_POINTS)
    assert [s.code for s in sites][:2] == ["-41.300~174.700", "-41.300~174.800"]


def test_a_polygon_takes_only_the_points_inside_it():
    # the triangle's hypotenuse runs from (174.91, -41.36) to (174.69, -41.19): 174.9 at -41.2 and -41.3 are beyond it
    inside = grid_points(polygon_area(TRIANGLE))
    assert inside == [(-41.3, 174.7), (-41.3, 174.8), (-41.2, 174.7)]
    assert set(inside) < set(WLG_POINTS)


@pytest.mark.parametrize("grid, count", [("0.1", 6), ("0.05", 20), ("WLG_0_05_nb_1_1", None)])
def test_other_grids(grid, count):
    points = grid_points(bbox_area(WLG_BOX), grid)
    if count is not None:
        assert len(points) == count
    assert points and all(bbox_area(WLG_BOX).covers(lat, lon) for lat, lon in points)


def test_an_area_without_a_grid_point_is_refused():
    with pytest.raises(BadRequest, match="no point of grid NZ_0_1_NB_1_1 in the area") as e:
        area_sites(bbox_area([174.71, -41.29, 174.79, -41.21]))  # between the 0.1 degree points
    assert e.value.field == "area"


def test_an_area_over_the_cap_is_refused_with_the_advice_to_split():
    with pytest.raises(BadRequest, match=r"6 sites of grid NZ_0_1_NB_1_1 in the area, more than max_sites=5: split the area"):
        area_sites(bbox_area(WLG_BOX), max_sites=5)


@pytest.mark.parametrize(
    "grid, message", [("NZ_0_3", "unknown grid 'NZ_0_3'"), ("0", "from 0.001 to 5"), ("0.00001", "from 0.001")]
)
def test_a_bad_grid_is_refused_naming_grid(grid, message):
    with pytest.raises(BadRequest, match=message) as e:
        grid_points(bbox_area(WLG_BOX), grid)
    assert e.value.field == "grid"
