"""Sites: resolve what a user typed (ids, `lat~lon` codes, list names) to NZ sites.

Site ids and lists come from nzshm-common; codes are `f"{lat:.3f}~{lon:.3f}"` at 0.001 degree,
the key every NSHM store uses. The back-arc flag (a site parameter of the NZ subduction GMMs)
is taken from nzshm-common's back-arc polygon.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=1)
def _backarc():
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
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 360.0):
        raise BadRequest(field, f"location {text!r} is off the globe: latitude in [-90, 90], longitude in [-180, 360]")
    lat, lon = round(lat, 3), round(lon, 3)
    code = site_code(lat, lon)
    return Site(code, lat, lon, code, _is_backarc(lat, lon))


def list_names() -> list[str]:
    from nzshm_common.location.location import LOCATION_LISTS

    return sorted(LOCATION_LISTS)


def resolve_sites(identifiers: Iterable[str], field: str = "sites") -> list[Site]:
    """Resolve ids, `lat~lon` codes and list names to sites, in the order given.

    Raises `BadRequest` naming `field` for an empty request, an unknown id or list, a malformed code,
    or a site requested twice (directly or through a list).
    """
    from nzshm_common.location.location import LOCATION_LISTS

    identifiers = list(identifiers)
    if not identifiers:
        raise BadRequest(field, "no sites given")
    sites: list[Site] = []
    for raw in identifiers:
        text = str(raw).strip()
        if "~" in text:
            sites.append(_site_from_code(text, field))
        elif (site := _site_from_id(text)) is not None:
            sites.append(site)
        elif text in LOCATION_LISTS:
            sites.extend(_site_from_id(i) for i in LOCATION_LISTS[text]["locations"])
        else:
            raise BadRequest(
                field,
                f"unknown site or list {text!r}: give an nzshm-common id (e.g. WLG), a 'lat~lon' code, "
                f"or a list name ({', '.join(list_names())})",
            )
    _reject_duplicates([s.code for s in sites], field)
    return sites


def _reject_duplicates(codes: Sequence[str], field: str) -> None:
    seen: set[str] = set()
    dupes = [c for c in codes if c in seen or seen.add(c)]
    if dupes:
        raise BadRequest(field, f"site(s) requested more than once: {', '.join(sorted(set(dupes)))}")
