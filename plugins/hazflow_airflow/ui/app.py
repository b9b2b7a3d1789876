"""The `/hazflow` app: JSON and CSV of the results views, their pages, and plotly served from its
wheel (no CDN).

Every route is guarded by Airflow's own security dependencies: `requires_access_dag("GET", ...)`
with each view mapped to the DAG that makes its numbers. The UI's iframe carries the `_token`
cookie; an API client sends `Authorization: Bearer <token>` (POST /auth/token). No credentials:
401; a bad token: 403.

Handlers are plain `def`s: FastAPI runs them in its thread pool, so a store read never blocks the
api-server's event loop (which also serves the Execution API the tasks call). Heavy modules (numpy,
the store) load on the first request, not when the api-server imports the plugin.
"""

from __future__ import annotations

import functools
import logging
import threading
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response

log = logging.getLogger(__name__)

PAGES = Path(__file__).resolve().parent / "pages"
PLOTLY_VERSION = version("plotly")
PLOTLY_PATH = f"/static/plotly-{PLOTLY_VERSION}.min.js"  # versioned: cached for a year, immutable
HAZARD_DAG = "hazard_aggregation"  # who may read the Hazard view: who may read this DAG

app = FastAPI(title="hazflow results", description="hazflow's results views inside the Airflow UI")
hazard_access = [Depends(requires_access_dag("GET", param_dag_id=HAZARD_DAG))]
_local = threading.local()
Many = Annotated[list[str] | None, Query()]  # a repeated query parameter: ?poes=0.1&poes=0.02


def _store() -> Any:
    """The deployment's store (HAZFLOW_STORE_*), one per handler thread."""
    if getattr(_local, "store", None) is None:
        from hazflow.config import Config

        _local.store = Config.from_env().open_store()
    return _local.store


def _answer(compute: Any) -> Any:
    """Run a read: a bad value is 400 naming its field, nothing stored is 404."""
    from hazflow.exceptions import BadRequest
    from hazflow.results.hazard import NothingStored

    try:
        return compute()
    except BadRequest as e:
        raise HTTPException(400, {"field": e.field, "detail": str(e)}) from None
    except NothingStored as e:
        raise HTTPException(404, str(e)) from None


def _render(payload: dict[str, Any], fmt: str, to_csv: Any, stem: str) -> Response:
    if fmt == "csv":
        return PlainTextResponse(to_csv(payload), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})  # fmt: skip
    return JSONResponse(payload)


@functools.cache
def _page(name: str) -> str:
    return (PAGES / name).read_text().replace("{{PLOTLY}}", f"/hazflow{PLOTLY_PATH}")


@app.get(PLOTLY_PATH, include_in_schema=False)
def plotly_js() -> FileResponse:
    """plotly.min.js from the installed plotly wheel (pinned in requirements.txt); no login needed to
    fetch a public library, and nothing of hazflow's is in it."""
    spec = find_spec("plotly")
    assert spec is not None and spec.origin, "plotly is pinned in requirements.txt"
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=31536000, immutable"})


@app.get("/hazard", response_class=HTMLResponse, dependencies=hazard_access)
def hazard_page() -> HTMLResponse:
    """The Hazard view: pick model, site, VS30 and IMT; curves with a quantile band, and spectra."""
    return HTMLResponse(_page("hazard.html"))


@app.get("/api/hazard/curves", dependencies=hazard_access)
def hazard_curves(
    model: str, site: str, vs30: str, imt: str, poes: Many = None, band: Many = None, format: str = "json"
) -> Response:
    """One IMT's aggregated curves at a site and VS30: levels, the mean and the stored quantiles, and
    the mean's level at each PoE. `format=csv` gives the same numbers as CSV (docs/OUTPUTS.md)."""
    from hazflow.results.hazard import SiteQuery, curves_csv
    from hazflow.results.hazard import hazard_curves as read

    def compute() -> dict[str, Any]:
        query = SiteQuery.parse(model, site, vs30, poes or None, band or None)
        return read(_store(), query, imt)

    payload = _answer(compute)
    return _render(payload, format, curves_csv, f"{model}-{payload['site']}-vs{vs30}-{imt}-curves")


@app.get("/api/hazard/spectra", dependencies=hazard_access)
def hazard_spectra(model: str, site: str, vs30: str, poes: Many = None, format: str = "json") -> Response:
    """The uniform hazard spectrum at each PoE over PGA and every stored SA period. `format=csv`: CSV."""
    from hazflow.results.hazard import SiteQuery, spectra_csv, uniform_hazard_spectra

    payload = _answer(lambda: uniform_hazard_spectra(_store(), SiteQuery.parse(model, site, vs30, poes or None)))
    return _render(payload, format, spectra_csv, f"{model}-{payload['site']}-vs{vs30}-uhs")
