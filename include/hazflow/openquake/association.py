"""Which hazard sites an exposure's assets go to, by OpenQuake's own reader and rule. Runs in the
OpenQuake venv, as a subprocess, like `oq engine --run`:

    python -m hazflow.openquake.association request.json

A classical_risk or classical_damage job reading precomputed hazard curves (3.26.2) fails with
`KeyError` in its curve getter when a site of the curves file has no asset. So an extract for an
exposure keeps exactly the sites OpenQuake will give assets to. This module reads the exposure with
`risklib.asset.Exposure.read_all` and associates it with `Exposure.associate` (each asset to its
closest site within `asset_hazard_distance`, as `readinput.assoc_exposure` does in the risk job).
The sites are built as the risk job builds them from the bundle's curves file: coordinates written
with 3 decimals, read as float32, rounded to 5 decimals. Sites without assets are dropped, and the
association is repeated on the sites kept until every kept site has an asset: an asset whose closest
sites tie may go elsewhere once sites are removed.

`request.json` (written by `hazflow.extract.exposure`): `exposure` (the XML file), `lons` and `lats`
(degrees, the candidate sites in order) and `distance_km`. Beside it this writes `association.json`:
`kept` (indices of the candidate sites kept, ascending), `assets_per_site` (aligned with `kept`),
`discarded` (id, lon, lat of every asset farther than the distance from every site), `assets` (how
many the exposure has), `extent` (its assets' min lon, min lat, max lon, max lat), `rounds`, and the
seconds of OpenQuake's import, its reading of the exposure and the associations (`import_seconds`,
`read_seconds`, `association_seconds`); or `error` and `kind`: `input` (OpenQuake could not read the
exposure: its message names the file, and the line where it knows it) or `no_assets` (no asset
within the distance of any site).

Imports only the standard library, numpy and OpenQuake: it must run in OpenQuake's own Python.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("hazflow.openquake.association")

REQUEST = "request.json"
RESULT = "association.json"


def curve_file_sites(lons: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray) -> Any:
    """The SiteCollection a risk job builds from a hazard-curves CSV of these sites (`readinput.
    get_pmap_from_csv`, then `get_site_collection`): `%.3f` text, float32, rounded to 5 decimals."""
    from openquake.hazardlib.site import SiteCollection

    lon32 = np.array([f"{x:.3f}" for x in lons], dtype=np.float32)
    lat32 = np.array([f"{y:.3f}" for y in lats], dtype=np.float32)
    sitecol = SiteCollection.from_points(lon32, lat32, np.zeros(len(lon32), np.float32), req_site_params=set())
    sitecol.array["lon"] = np.round(sitecol.lons, 5)
    sitecol.array["lat"] = np.round(sitecol.lats, 5)
    return sitecol


def associate(exposure: Any, lons: np.ndarray, lats: np.ndarray, distance_km: float) -> tuple[np.ndarray, np.ndarray, Any]:
    """(indices of `lons`/`lats` with assets, assets per kept site, discarded assets) by
    `Exposure.associate`, on a copy (the call narrows the exposure it is given)."""
    trial = copy.copy(exposure)
    trial.mesh, trial.assets = copy.deepcopy(exposure.mesh), exposure.assets.copy()
    sitecol, discarded = trial.associate(curve_file_sites(lons, lats), distance_km)
    kept = np.asarray(sitecol.sids, dtype=int)
    counts = np.bincount(trial.assets["site_id"], minlength=len(lons))[kept]
    return kept, counts, discarded


def extent(exposure: Any) -> list[float]:
    """The exposure's assets' [min lon, min lat, max lon, max lat], degrees."""
    mesh = exposure.mesh
    return [float(mesh.lons.min()), float(mesh.lats.min()), float(mesh.lons.max()), float(mesh.lats.max())]


def select(exposure: Any, lons: Sequence[float], lats: Sequence[float], distance_km: float) -> dict[str, Any]:
    """The sites of (`lons`, `lats`) the exposure's assets go to, repeated until each kept site has one."""
    index = np.arange(len(lons))
    lon, lat = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
    rounds = 0
    while True:
        rounds += 1
        kept, counts, discarded = associate(exposure, lon[index], lat[index], distance_km)
        if len(kept) == len(index) and (counts > 0).all():
            break
        index = index[kept]
    return {
        "kept": index.tolist(),
        "assets_per_site": counts.tolist(),
        "discarded": [
            {"id": _text(a["asset_ref"]), "lon": round(float(a["lon"]), 5), "lat": round(float(a["lat"]), 5)} for a in discarded
        ],
        "assets": len(exposure.assets),
        "extent": extent(exposure),
        "rounds": rounds,
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def run(request_file: Path) -> dict[str, Any]:
    """The association of `request.json`, or the error that stopped it, classed `input` or `no_assets`."""
    started = time.monotonic()
    from openquake.hazardlib.geo.utils import SiteAssociationError
    from openquake.risklib.asset import Exposure

    start = time.monotonic()
    request = json.loads(request_file.read_text())
    try:
        exposure = Exposure.read_all([request["exposure"]])
        read = time.monotonic()
    except Exception as e:  # noqa: BLE001 - OpenQuake's reader raises many classes (expat, InvalidFile, ValueError, KeyError)
        logger.exception("reading %s", request["exposure"])
        return {"error": f"{type(e).__name__}: {e}", "kind": "input"}
    try:
        result = select(exposure, request["lons"], request["lats"], float(request["distance_km"]))
    except SiteAssociationError as e:
        return {"error": str(e), "kind": "no_assets", "assets": len(exposure.assets), "extent": extent(exposure)}
    done = time.monotonic()
    result.update(import_seconds=start - started, read_seconds=read - start, association_seconds=done - read)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hazflow.openquake.association", description=__doc__.split("\n\n")[0])
    parser.add_argument("request", help=f"the {REQUEST} hazflow.extract.exposure wrote")
    path = Path(parser.parse_args(argv).request).resolve()
    result = run(path)
    (path.parent / RESULT).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)  # the result is written: skip the interpreter's teardown of OpenQuake (about 1 s)
