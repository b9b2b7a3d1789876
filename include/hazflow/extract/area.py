"""The area of interest of an extract: a bounding box or a GeoJSON polygon, checked before anything
is read or computed. Coordinates are degrees, longitude first as in GeoJSON (NZ: about 166..179 E,
-47..-34 N).

The antimeridian: an area is kept in the longitude frame where it is narrowest, [-180, 180) or
[0, 360), so a polygon from 179 to -179 (or to 181) is the 2-degree strip across 180, not its
358-degree complement; an area wider than 180 degrees in both frames is refused. A bbox whose min
lon is east of its max lon crosses the antimeridian (RFC 7946, 5.2). Sites found in an area take
OpenQuake's longitudes, [-180, 180) (`hazflow.model.sites.canonical_place`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hazflow import limits
from hazflow.exceptions import BadRequest


@dataclass(frozen=True)
class Area:
    """An area: `kind` bbox or polygon; `geometry` a shapely Polygon (lon, lat); `text` how it was given."""

    kind: str
    geometry: Any  # in its own longitude frame: [-180, 180) or [0, 360)
    text: str
    vertices: int = 4

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) in degrees."""
        return tuple(float(b) for b in self.geometry.bounds)  # type: ignore[return-value]

    def covers(self, lat: float, lon: float) -> bool:
        """True for a point inside the area or on its edge, whatever frame its longitude is in."""
        return bool(self.covers_many(np.array([lat]), np.array([lon]))[0])

    def covers_many(self, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
        """`covers` of many points at once, vectorised (shape (n,) bool; degrees)."""
        import shapely

        shapely.prepare(self.geometry)
        lats, lons = np.asarray(lats, float), np.asarray(lons, float) % 360.0  # [0, 360)
        inside = shapely.intersects_xy(self.geometry, lons, lats)  # a point on the edge intersects
        return np.asarray(inside | shapely.intersects_xy(self.geometry, lons - 360.0, lats))

    def to_geojson(self) -> dict[str, Any]:
        """The area as a GeoJSON Polygon geometry (what the manifest keeps)."""
        from shapely.geometry import mapping

        return json.loads(json.dumps(mapping(self.geometry)))


def _number(value: Any, field: str, what: str) -> float:
    if isinstance(value, bool):
        raise BadRequest(field, f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(field, f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise BadRequest(field, f"{what} must be finite, got {value!r}")
    return number


def _on_globe(lon: float, lat: float, field: str) -> None:
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 360.0:
        raise BadRequest(field, f"({lon:g}, {lat:g}) is off the globe: longitude in [-180, 360], latitude in [-90, 90]")


def narrowest_frame(lons: Sequence[float], field: str) -> list[float]:
    """The longitudes in the frame, [-180, 180) or [0, 360), where they span least; refused when
    they span more than 180 degrees in both (an area that wide is no NZ area, and ambiguous).

    >>> narrowest_frame([179.0, -179.0, -179.0, 179.0], "polygon")
    [179.0, 181.0, 181.0, 179.0]
    """
    east = [(x + 180.0) % 360.0 - 180.0 for x in lons]
    west = [x % 360.0 for x in lons]
    chosen = min((east, west), key=lambda xs: max(xs) - min(xs))
    if max(chosen) - min(chosen) > 180.0:
        raise BadRequest(
            field,
            f"the area spans {max(chosen) - min(chosen):g} degrees of longitude in every frame: more than 180 is "
            "ambiguous across the antimeridian; split it into areas less than 180 degrees wide",
        )
    return chosen


def bbox_area(values: Sequence[Any], field: str = "bbox") -> Area:
    """A bounding box `[min lon, min lat, max lon, max lat]`.

    >>> bbox_area([174.65, -41.35, 174.95, -41.15]).bounds
    (174.65, -41.35, 174.95, -41.15)
    """
    from shapely.geometry import box

    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != 4:
        raise BadRequest(field, f"expected four numbers [min lon, min lat, max lon, max lat], got {values!r}")
    names = ("min lon", "min lat", "max lon", "max lat")
    minlon, minlat, maxlon, maxlat = (_number(v, field, n) for v, n in zip(values, names, strict=True))
    _on_globe(minlon, minlat, field)
    _on_globe(maxlon, maxlat, field)
    if minlon == maxlon:
        raise BadRequest(field, f"empty box: min lon {minlon:g} equals max lon {maxlon:g}")
    if minlon > maxlon:  # across the antimeridian (RFC 7946, 5.2): from min lon east to max lon
        minlon, maxlon = (minlon + 180.0) % 360.0 - 180.0, (maxlon + 180.0) % 360.0 - 180.0 + 360.0
        if maxlon - minlon > 180.0:
            raise BadRequest(
                field,
                f"min lon {values[0]} is east of max lon {values[2]}: read across the antimeridian that box is "
                f"{maxlon - minlon:g} degrees wide, more than 180; give min lon first",
            )
    if minlat >= maxlat:
        raise BadRequest(field, f"inverted or empty box: min lat {minlat:g} is not below max lat {maxlat:g}")
    text = f"bbox {minlon:g} {minlat:g} {maxlon:g} {maxlat:g}"
    return Area("bbox", box(minlon, minlat, maxlon, maxlat), text)


def _polygon_geometry(data: Any, field: str) -> Mapping[str, Any]:
    """The one Polygon of a GeoJSON Polygon, Feature or FeatureCollection of one feature."""
    if not isinstance(data, Mapping):
        raise BadRequest(field, "expected a GeoJSON object (Polygon, Feature or FeatureCollection)")
    kind = data.get("type")
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise BadRequest(field, f"a FeatureCollection's features must be a list, got {type(features).__name__}")
        if len(features) != 1:
            raise BadRequest(
                field, f"a FeatureCollection of exactly one polygon feature is accepted, got {len(features)} features"
            )
        return _polygon_geometry(features[0], field)
    if kind == "Feature":
        return _polygon_geometry(data.get("geometry"), field)
    if kind != "Polygon":
        raise BadRequest(field, f"expected a GeoJSON Polygon, got type {kind!r}")
    return data


def polygon_area(geojson: str | Mapping[str, Any], field: str = "polygon") -> Area:
    """A GeoJSON polygon (text or parsed): its rings closed (last position equal to the first), on the
    globe, and simple (no self-intersection)."""
    from shapely.geometry import Polygon
    from shapely.validation import explain_validity

    if isinstance(geojson, str):
        try:
            data: Any = json.loads(geojson)
        except json.JSONDecodeError as e:
            raise BadRequest(field, f"not valid JSON: {e}") from None
    else:
        data = geojson
    geometry = _polygon_geometry(data, field)
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise BadRequest(field, "a Polygon needs coordinates: a list of rings, the first the outer boundary")
    vertices = sum(len(ring) - 1 if isinstance(ring, list) else 0 for ring in rings)
    if vertices > (most := limits.current().polygon_vertices):  # counted before any is read
        raise limits.refuse(
            field, "polygon vertices", vertices, "polygon_vertices", most, "simplify the polygon or split the area"
        )
    checked: list[list[tuple[float, float]]] = []
    for r, ring in enumerate(rings):
        what = "outer ring" if r == 0 else f"hole {r}"
        if not isinstance(ring, list) or len(ring) < 4:
            raise BadRequest(field, f"{what}: a ring needs at least four positions (three corners and the first again)")
        points = []
        for position in ring:
            if not isinstance(position, (list, tuple)) or len(position) < 2:
                raise BadRequest(field, f"{what}: a position is [lon, lat], got {position!r}")
            lon, lat = _number(position[0], field, "longitude"), _number(position[1], field, "latitude")
            _on_globe(lon, lat, field)
            points.append((lon, lat))
        if points[0] != points[-1]:
            raise BadRequest(
                field, f"{what} is not closed: its last position {list(points[-1])} must repeat the first {list(points[0])}"
            )
        checked.append(points)
    framed = narrowest_frame([lon for ring in checked for lon, _ in ring], field)
    flat = iter(framed)
    checked = [[(next(flat), lat) for _, lat in ring] for ring in checked]
    polygon = Polygon(checked[0], checked[1:])
    if not polygon.is_valid:
        raise BadRequest(field, f"not a simple polygon: {explain_validity(polygon)}")
    if polygon.area == 0:
        raise BadRequest(field, "the polygon has no area")
    vertices = sum(len(ring) - 1 for ring in checked)
    return Area("polygon", polygon, json.dumps(dict(geometry), separators=(",", ":")), vertices)


def read_polygon(path: Path, field: str = "polygon") -> Area:
    """`polygon_area` of a GeoJSON file; the error names the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise BadRequest(field, f"cannot read {path}: {e.strerror}") from None
    try:
        return polygon_area(text, field)
    except BadRequest as e:
        raise BadRequest(field, f"{path}: {e.message}") from None


def parse_area(bbox: Sequence[Any] | None, polygon: str | Mapping[str, Any] | None) -> Area:
    """Exactly one of a bounding box and a GeoJSON polygon."""
    given = [name for name, value in (("bbox", bbox), ("polygon", polygon)) if value not in (None, "", [], {})]
    if len(given) != 1:
        raise BadRequest("area", "give exactly one of bbox [min lon, min lat, max lon, max lat] and polygon (GeoJSON)")
    if given == ["bbox"] and bbox is not None:
        return bbox_area(bbox)
    assert polygon is not None
    return polygon_area(polygon)
