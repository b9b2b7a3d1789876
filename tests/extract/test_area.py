"""Areas: bounding boxes and GeoJSON polygons, and every way they can be wrong (each names its field)."""

from __future__ import annotations

import json

import pytest

from hazflow.exceptions import BadRequest
from hazflow.extract.area import bbox_area, parse_area, polygon_area, read_polygon
from hazflow.extract.grid import grid_points

WLG_BOX = [174.69, -41.36, 174.91, -41.19]
TRIANGLE = {"type": "Polygon", "coordinates": [[[174.69, -41.36], [174.91, -41.36], [174.69, -41.19], [174.69, -41.36]]]}


def test_a_bbox_covers_its_inside_and_its_edges():
    area = bbox_area(WLG_BOX)
    assert area.kind == "bbox" and area.bounds == tuple(WLG_BOX)
    assert area.covers(-41.3, 174.8) and area.covers(-41.36, 174.8)  # inside; on the southern edge
    assert not area.covers(-41.1, 174.8)
    assert area.to_geojson()["type"] == "Polygon"


@pytest.mark.parametrize(
    "box, message",
    [([174.9, -41.36, 174.7, -41.19], "min lon 174.9 is east of max lon 174.7: read across the antimeridian that box is 359.8 degrees wide"),
     ([174.7, -41.19, 174.9, -41.36], "min lat -41.19 is not below max lat -41.36"),
     ([174.7, -95, 174.9, -41.3], "off the globe"), ([174.7, -41.3, 400, -41.2], "off the globe"),
     ([174.7, -41.3, 174.9], "four numbers"), ([174.7, "south", 174.9, -41.2], "must be a number"),
     ([174.7, float("nan"), 174.9, -41.2], "finite"), ("174.7 -41.3 174.9 -41.2", "four numbers")],
)  # fmt: skip
def test_a_bad_bbox_is_refused_naming_bbox(box, message):
    with pytest.raises(BadRequest, match=message) as e:
        bbox_area(box)
    assert e.value.field == "bbox"


@pytest.mark.parametrize(
    "wrap", [lambda g: g, lambda g: {"type": "Feature", "properties": {}, "geometry": g},
             lambda g: {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": g}]}, json.dumps],
    ids=["geometry", "feature", "collection", "text"],
)  # fmt: skip
def test_a_polygon_is_read_from_any_geojson_wrapping(wrap):
    area = polygon_area(wrap(TRIANGLE))
    assert area.kind == "polygon"
    assert area.covers(-41.3, 174.7) and not area.covers(-41.2, 174.9)  # the triangle's far corner is outside


@pytest.mark.parametrize(
    "geojson, message",
    [({"type": "Polygon", "coordinates": [[[174.7, -41.3], [174.9, -41.3], [174.8, -41.2], [174.75, -41.25]]]}, "not closed"),
     ({"type": "Polygon", "coordinates": [[[174.7, -41.3], [174.9, -41.2], [174.9, -41.3], [174.7, -41.2], [174.7, -41.3]]]},
      "not a simple polygon: Self-intersection"),
     ({"type": "Polygon", "coordinates": [[[174.7, -41.3], [174.9, -41.3], [174.7, -41.3]]]}, "at least four positions"),
     ({"type": "Polygon", "coordinates": [[[174.7, -41.3], [174.9, -99], [174.8, -41.2], [174.7, -41.3]]]}, "off the globe"),
     ({"type": "Point", "coordinates": [174.7, -41.3]}, "expected a GeoJSON Polygon, got type 'Point'"),
     ({"type": "FeatureCollection", "features": []}, "exactly one polygon feature"),
     ({"type": "FeatureCollection", "features": {"0": {"type": "Feature"}}}, "features must be a list, got dict"),
     ({"type": "FeatureCollection", "features": 3}, "features must be a list, got int"),
     ({"type": "FeatureCollection", "features": [7]}, "expected a GeoJSON object"),
     ({"type": "Feature", "geometry": [1, 2]}, "expected a GeoJSON object"),
     ({"type": "Polygon", "coordinates": {"a": 1}}, "a Polygon needs coordinates"),
     ({"type": "Polygon", "coordinates": [[[174.7, -41.3], "x", [174.8, -41.2], [174.7, -41.3]]]}, "a position is"),
     ({"type": "Polygon", "coordinates": [[[0, -41], [120, -41], [240, -40], [0, -41]]]}, "more than 180 is ambiguous"),
     ("{not json", "not valid JSON")],
    ids=["open-ring", "bow-tie", "too-few", "off-globe", "point", "empty-collection", "features-dict", "features-int",
         "feature-not-object", "geometry-list", "coordinates-dict", "position-text", "wider-than-180", "not-json"],
)  # fmt: skip
def test_a_bad_polygon_is_refused_naming_polygon(geojson, message):
    with pytest.raises(BadRequest, match=message) as e:
        polygon_area(geojson)
    assert e.value.field == "polygon"


def test_a_polygon_file_error_names_the_file(tmp_path):
    path = tmp_path / "area.geojson"
    path.write_text(
        json.dumps({"type": "Polygon", "coordinates": [[[174.7, -41.3], [174.9, -41.3], [174.8, -41.2], [174.7, -41.2]]]})
    )
    with pytest.raises(BadRequest, match=r"area.geojson: outer ring is not closed"):
        read_polygon(path)
    with pytest.raises(BadRequest, match="cannot read"):
        read_polygon(tmp_path / "missing.geojson")


@pytest.mark.parametrize("bbox, polygon", [(None, None), (WLG_BOX, TRIANGLE), ([], "")])
def test_exactly_one_of_bbox_and_polygon(bbox, polygon):
    with pytest.raises(BadRequest, match="exactly one of bbox") as e:
        parse_area(bbox, polygon)
    assert e.value.field == "area"


# --- the antimeridian: an area is the narrow strip across 180, never its 358-degree complement ---
ACROSS = [[179.5, -44.5], [-179.5, -44.5], [-179.5, -43.5], [179.5, -43.5], [179.5, -44.5]]


@pytest.mark.parametrize(
    "area",
    [polygon_area({"type": "Polygon", "coordinates": [ACROSS]}),
     polygon_area({"type": "Polygon", "coordinates": [[[x % 360, y] for x, y in ACROSS]]}),  # 180.5 for -179.5
     bbox_area([179.5, -44.5, -179.5, -43.5]),  # RFC 7946: min lon east of max lon crosses 180
     bbox_area([179.5, -44.5, 180.5, -43.5])],
    ids=["polygon", "polygon-east-of-180", "bbox-across", "bbox-east-of-180"],
)  # fmt: skip
def test_an_area_across_the_antimeridian_is_the_strip_across_it(area):
    minlon, _, maxlon, _ = area.bounds
    assert maxlon - minlon == pytest.approx(1.0)
    assert area.covers(-44.0, 179.9) and area.covers(-44.0, -179.9) and area.covers(-44.0, 180.1)
    assert not area.covers(-44.0, 175.0) and not area.covers(-44.0, 0.0)
    points = grid_points(area, "0.1")
    assert len(points) == 11 * 11  # 179.5..180.5 by -44.5..-43.5 at 0.1 degree, not 39,391 sites
    assert all(-180.0 <= lon < 180.0 for _, lon in points)  # OpenQuake's longitudes
    assert (-44.0, -180.0) in points and (-44.0, 179.9) in points and (-44.0, -179.9) in points
