"""Sites: resolve what a user typed (ids, `lat~lon` codes, list names) to NZ sites.

Site ids and lists come from nzshm-common; codes are `f"{lat:.3f}~{lon:.3f}"` at 0.001 degree,
the key every NSHM store uses. The back-arc flag (a site parameter of the NZ subduction GMMs)
is taken from nzshm-common's back-arc polygon.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hazflow.exceptions import BadRequest

RESOLUTION = 0.001
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_CODE = re.compile(rf"^\s*({_NUMBER})\s*~\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Site:
    """One site: `id` is the nzshm-common id (e.g. WLG) or, for a bare location, its code."""

    id: str
    lat: float
    lon: float
    name: str
    backarc: bool

    @property
    def code(self) -> str:
        """The 0.001-degree location code used as a key (`-41.300~174.780`)."""
        return site_code(self.lat, self.lon)


def site_code(lat: float, lon: float) -> str:
    return f"{lat:.3f}~{lon:.3f}"


def canonical_place(lat: float, lon: float, field: str, where: str = "") -> tuple[float, float]:
    """(lat, lon) in degrees at 0.001 degree, longitude in [-180, 180) as OpenQuake keeps it (its site
    models refuse anything east of 180): the Chathams are at -176.5, and 183.5 is read as -176.5, so
    that one place has one code before duplicates are looked for. Latitude in [-90, 90], longitude
    given in [-180, 360]; NaN and infinity refused, naming `field`.

    >>> canonical_place(-43.95, 183.5, "sites"), canonical_place(-41.3, 174.78, "sites")
    ((-43.95, -176.5), (-41.3, 174.78))
    """
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise BadRequest(field, f"{where}latitude and longitude must be finite numbers, got ({lat}, {lon})")
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 360.0):
        raise BadRequest(
            field, f"{where}latitude {lat:g}, longitude {lon:g} is off the globe: latitude in [-90, 90], longitude in [-180, 360]"
        )
    return round(lat, 3), float(canonical_lon(lon))


def canonical_lon(lon: Any) -> Any:
    """Longitudes (degrees, a number or an array) at 0.001 degree in [-180, 180); no -0.0."""
    import numpy as np

    return np.round((np.round(lon, 3) + 180.0) % 360.0 - 180.0, 3) + 0.0


def cell(code: str, resolution: float) -> str:
    """The coarser grid cell of a site code, as NSHM stores key it: `-41.3~174.8` at 0.1 degree,
    `-41.0~175.0` at 1 degree (nzshm-common's CodedLocation). Anything not a code is its own cell."""
    from nzshm_common.location.coded_location import CodedLocation

    match = _CODE.match(code)
    if not match:
        return code
    return CodedLocation(float(match.group(1)), float(match.group(2)), RESOLUTION).downsample(resolution).code


@lru_cache(maxsize=1)
def _backarc() -> Any:  # a shapely polygon
    from nzshm_common.geometry.geometry import backarc_polygon

    return backarc_polygon()


def _is_backarc(lat: float, lon: float) -> bool:
    from shapely.geometry import Point

    return bool(_backarc().contains(Point(lon, lat)))


def _site_from_id(site_id: str) -> Site | None:
    from nzshm_common.location import location_by_id

    loc = location_by_id(site_id)
    if not loc:
        return None
    lat, lon = round(loc["latitude"], 3), round(loc["longitude"], 3)
    return Site(site_id, lat, lon, loc["name"], _is_backarc(lat, lon))


def _site_from_code(text: str, field: str) -> Site:
    match = _CODE.match(text)
    if not match:
        raise BadRequest(field, f"malformed location {text!r}: expected 'lat~lon', e.g. '-41.300~174.780'")
    lat, lon = canonical_place(float(match.group(1)), float(match.group(2)), field, f"location {text!r}: ")
    code = site_code(lat, lon)
    return Site(code, lat, lon, code, _is_backarc(lat, lon))


def list_names() -> list[str]:
    from nzshm_common.location.location import LOCATION_LISTS

    return sorted(LOCATION_LISTS)


def resolve_sites(identifiers: Iterable[str], field: str = "sites") -> list[Site]:
    """Resolve ids, `lat~lon` codes and list names to sites, in the order given; `-ID` (or `-LIST`)
    leaves out sites given before it, e.g. `NZ -WRE` for NSHM's 35 disaggregation sites.

    Raises `BadRequest` naming `field` for an empty request, an unknown id or list, a malformed code,
    or a site requested twice (directly or through a list).
    """
    from nzshm_common.location.location import LOCATION_LISTS

    identifiers = [str(raw).strip() for raw in identifiers]
    if not identifiers:
        raise BadRequest(field, "no sites given")
    sites: list[Site] = []
    excluded: list[Site] = []
    for text in identifiers:
        if text.startswith("-") and "~" not in text:  # `-WRE`: leave out a site (or a list) given before
            excluded.extend(_resolve_one(text[1:].strip(), field, LOCATION_LISTS))
        else:
            sites.extend(_resolve_one(text, field, LOCATION_LISTS))
    _reject_duplicates([s.code for s in sites], field)
    if excluded:
        codes = {s.code for s in sites}
        stray = [s.id for s in excluded if s.code not in codes]
        if stray:
            raise BadRequest(field, f"cannot leave out {', '.join(stray)}: not among the sites requested")
        dropped = {s.code for s in excluded}
        sites = [s for s in sites if s.code not in dropped]
        if not sites:
            raise BadRequest(field, "every site requested is left out again")
    return sites


def _resolve_one(text: str, field: str, lists: dict[str, Any]) -> list[Site]:
    if "~" in text:
        return [_site_from_code(text, field)]
    if (site := _site_from_id(text)) is not None:
        return [site]
    if text in lists:
        listed = [_site_from_id(i) for i in lists[text]["locations"]]
        return [s for s in listed if s is not None]  # nzshm-common's lists name only its own ids
    raise BadRequest(
        field,
        f"unknown site or list {text!r}: give an nzshm-common id (e.g. WLG), a 'lat~lon' code, "
        f"or a list name ({', '.join(list_names())}); '-ID' leaves a site out",
    )


def _reject_duplicates(codes: Sequence[str], field: str) -> None:
    seen: set[str] = set()
    dupes: set[str] = set()
    for code in codes:
        if code in seen:
            dupes.add(code)
        seen.add(code)
    if dupes:
        raise BadRequest(field, f"site(s) requested more than once: {', '.join(sorted(dupes))}")
