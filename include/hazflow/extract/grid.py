"""The sites of an area: the points of a grid that fall inside it (edges included).

A grid is an nzshm-common grid by name (`NZ_0_1_NB_1_1`, NSHM's 0.1 degree grid of 3,741 points,
or `WLG_0_01_nb_1_1`, ...) or a resolution in degrees (`0.05`): then the points are the multiples of
the resolution inside the area's box. Sites are `lat~lon` codes at 0.001 degree, the key of every
NSHM store, in (lat, lon) order.
"""

from __future__ import annotations

import math

import numpy as np

from hazflow import limits
from hazflow.exceptions import BadRequest
from hazflow.extract.area import Area
from hazflow.model.nshm import EXTRACT_MAX_SITES as DEFAULT_MAX_SITES
from hazflow.model.nshm import NSHM_GRID as DEFAULT_GRID
from hazflow.model.sites import Site, canonical_lon, resolve_sites, site_code


def grid_names() -> list[str]:
    from nzshm_common.grids import RegionGrid

    return list(RegionGrid.__members__)


def _resolution(grid: str) -> float | None:
    try:
        value = float(grid)
    except ValueError:
        return None
    if not math.isfinite(value) or not 0.001 <= value <= 5:
        raise BadRequest("grid", f"a resolution is in degrees, from 0.001 to 5, got {grid!r}")
    return value


def grid_points(area: Area, grid: str = DEFAULT_GRID) -> list[tuple[float, float]]:
    """(lat, lon) of every grid point in the area, rounded to 0.001 degree, sorted."""
    resolution = _resolution(grid)
    if resolution is None:
        if grid not in grid_names():
            raise BadRequest("grid", f"unknown grid {grid!r}: give a resolution in degrees or one of {', '.join(grid_names())}")
        from nzshm_common.grids import load_grid

        table = np.array([(float(p[0]), float(p[1])) for p in load_grid(grid)])  # (lat, lon): LatLon or plain tuples
        lats, lons = table[:, 0], table[:, 1]
    else:
        minlon, minlat, maxlon, maxlat = area.bounds  # in the area's own frame (across 180: east of it)
        n_lon = math.floor(maxlon / resolution) - math.ceil(minlon / resolution) + 1
        n_lat = math.floor(maxlat / resolution) - math.ceil(minlat / resolution) + 1
        most = limits.current().grid_candidates
        if n_lon * n_lat > most:  # counted before any point is made
            raise limits.refuse(
                "grid",
                f"grid points at {resolution:g} degree in the area's box",
                n_lon * n_lat,
                "grid_candidates",
                most,
                "use a coarser grid or split the area into smaller ones",
            )
        lon_axis = np.arange(math.ceil(minlon / resolution), math.floor(maxlon / resolution) + 1) * resolution
        lat_axis = np.arange(math.ceil(minlat / resolution), math.floor(maxlat / resolution) + 1) * resolution
        lats, lons = (a.ravel() for a in np.meshgrid(lat_axis, lon_axis, indexing="ij"))
    inside = area.covers_many(lats, lons)
    # canonical places (hazflow.model.sites.canonical_place), all at once
    lat3 = np.round(lats[inside], 3) + 0.0
    lon3 = canonical_lon(lons[inside])
    unique = np.unique(np.column_stack([lat3, lon3]).reshape(-1, 2), axis=0)  # sorted by lat, then lon
    return [(float(lat), float(lon)) for lat, lon in unique]


def area_sites(
    area: Area, grid: str = DEFAULT_GRID, max_sites: int = DEFAULT_MAX_SITES, cap_name: str = "max_sites"
) -> list[Site]:
    """The sites of the area on the grid; refuses an area with none, or with more than `max_sites`
    (named `cap_name` in the refusal)."""
    points = grid_points(area, grid)
    if not points:
        raise BadRequest("area", f"no point of grid {grid} in the area ({area.text}): widen it or give a finer grid")
    if len(points) > max_sites:
        raise BadRequest(
            "area",
            f"{len(points)} sites of grid {grid} in the area, more than {cap_name}={max_sites}: "
            "split the area into smaller ones (one extract each)"
            + (", or raise max_sites" if cap_name == "max_sites" and max_sites < limits.current().extract_sites else ""),
        )
    return resolve_sites([site_code(lat, lon) for lat, lon in points], "area")
