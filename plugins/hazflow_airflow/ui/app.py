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
import html
import threading
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response

PAGES = Path(__file__).resolve().parent / "pages"
PLOTLY_VERSION = version("plotly")
PLOTLY_PATH = f"/static/plotly-{PLOTLY_VERSION}.min.js"  # versioned: cached for a year, immutable
HAZARD_DAG = "hazard_aggregation"  # who may read the Hazard view: who may read this DAG
DISAGG_DAG = "disagg_aggregation"  # the Disaggregation view's
CAMPAIGN_DAG = "disagg_realizations"  # the Campaign view's
HAZARD_CAMPAIGN_DAG = "hazard_realizations"  # ... and its runs' hazard campaigns
EXTRACT_DAG = "area_extract"  # the Area extract view's
HAZFLOW_DAGS = ("hazard_realizations", HAZARD_DAG, "disagg_realizations", DISAGG_DAG, "area_extract", "coverage_backfill")
REPORT_PREFIXES = ("disagg/", "exports/", "hazard/")  # what /api/report serves from the store (extracts: /api/extract-file)
MEDIA_TYPES = {".json": "application/json", ".csv": "text/csv", ".png": "image/png", ".parquet": "application/vnd.apache.parquet"}

app = FastAPI(title="hazflow results", description="hazflow's results views inside the Airflow UI")
hazard_access = [Depends(requires_access_dag("GET", param_dag_id=HAZARD_DAG))]
disagg_access = [Depends(requires_access_dag("GET", param_dag_id=DISAGG_DAG))]
extract_access = [Depends(requires_access_dag("GET", param_dag_id=EXTRACT_DAG))]
campaign_access = [Depends(requires_access_dag("GET", param_dag_id=CAMPAIGN_DAG))]
run_access = [Depends(requires_access_dag("GET"))]  # the DAG of the `dag_id` query parameter
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


@app.get("/disaggregation", response_class=HTMLResponse, dependencies=disagg_access)
def disagg_page() -> HTMLResponse:
    """The Disaggregation view: a site's targets, one target's summary, M-R-eps and contributions."""
    return HTMLResponse(_page("disagg.html"))


@app.get("/api/disagg/targets", dependencies=disagg_access)
def disagg_targets(model: str, site: str) -> JSONResponse:
    """Every target summary kept for a site of `model` (VS30, IMT, PoE, level, closure, mean M-R-eps)."""
    from hazflow.results.disagg import targets_of_site

    return JSONResponse(_answer(lambda: targets_of_site(_store(), model, site)))


@app.get("/api/disagg/target", dependencies=disagg_access)
def disagg_target(model: str, site: str, vs30: str, imt: str, poe: str) -> JSONResponse:
    """One target: its summary, its mean matrix (percent per bin), its M-R marginal and its reports."""
    from hazflow.results.disagg import target

    return JSONResponse(_answer(lambda: target(_store(), model, site, vs30, imt, poe)))


@app.get("/api/report", dependencies=disagg_access)
def report_file(name: str) -> Response:
    """A file kept in the store's reports (a summary, a plot, an export), by its name."""
    if not name.startswith(REPORT_PREFIXES):
        raise HTTPException(400, {"field": "name", "detail": f"name: not a report of {', '.join(REPORT_PREFIXES)}: {name!r}"})
    return report(name)


def report(name: str) -> Response:
    """A file of the store's reports; a name climbing out (`..`) is refused."""
    if ".." in name.split("/"):
        raise HTTPException(400, {"field": "name", "detail": f"name: not a report name: {name!r}"})
    if name not in _store().reports(name.rsplit("/", 1)[0] + "/"):
        raise HTTPException(404, f"no report {name!r} in the store")
    suffix = "." + name.rsplit(".", 1)[-1]
    return Response(_store().read_report(name), media_type=MEDIA_TYPES.get(suffix, "application/octet-stream"),
                    headers={"Content-Disposition": f'inline; filename="{name.rsplit("/", 1)[1]}"'})  # fmt: skip


@app.get("/run", response_class=HTMLResponse, dependencies=run_access)
def run_view(dag_id: str, run_id: str) -> Response:
    """The run view of every DAG's runs (`dag_run`): a disagg_aggregation run opens the Disaggregation
    view on its targets; a DAG that is not hazflow's has no hazflow results."""
    if dag_id not in HAZFLOW_DAGS:  # escaped: the id comes from the address
        return HTMLResponse(f"<p>no hazflow results: {html.escape(dag_id)} is not a hazflow DAG</p>")
    if dag_id == DISAGG_DAG:
        return HTMLResponse(_page("disagg.html"))
    if dag_id in (CAMPAIGN_DAG, HAZARD_CAMPAIGN_DAG):
        return HTMLResponse(_page("campaign.html"))
    return HTMLResponse(
        f"<p>no hazflow results view for {dag_id} runs; the Hazard and Area extract views are in the navigation</p>"
    )


@app.get("/api/run/targets", dependencies=run_access)
def run_targets(dag_id: str, run_id: str) -> JSONResponse:
    """The targets a disagg_aggregation run aggregated: its `plan` task's XCom (defaulted Params
    included, which `DagRun.conf` may lack)."""
    from hazflow.results.disagg import run_targets as targets_of

    if dag_id != DISAGG_DAG:
        raise HTTPException(400, {"field": "dag_id", "detail": f"dag_id: targets are read for {DISAGG_DAG} runs, not {dag_id}"})
    from hazflow_airflow.params import model_param

    plan, conf, _ = _plan_xcom(dag_id, run_id)
    model = (conf or {}).get("model") or model_param().value  # the Param's default when the conf left it out
    return JSONResponse({"model": model, "targets": _answer(lambda: targets_of(plan))})


@app.get("/campaign", response_class=HTMLResponse, dependencies=campaign_access)
def campaign_page() -> HTMLResponse:
    """The Campaign view: a disaggregation plan's leaf x site grid of runs by state, failures, totals."""
    return HTMLResponse(_page("campaign.html"))


@app.get("/api/campaign", dependencies=campaign_access)
def campaign(plan_id: str) -> JSONResponse:
    """A kept disaggregation plan's runs by leaf and site, by ledger state; failures; totals."""
    from hazflow.results.campaign import disagg_campaign

    return JSONResponse(_answer(lambda: disagg_campaign(_store(), plan_id)))


@app.get("/api/run/campaign", dependencies=run_access)
def run_campaign(dag_id: str, run_id: str) -> JSONResponse:
    """The campaign of a disagg_realizations run (the plan its `plan` task kept: XCom `plan_id`), or of
    a hazard_realizations run (the jobs its `plan` task returned; reused: finished before the run started)."""
    from hazflow.results.campaign import disagg_campaign, hazard_campaign, plan_id_of

    if dag_id == CAMPAIGN_DAG:
        plan, _, _ = _plan_xcom(dag_id, run_id, key="plan")  # the plan task pushes its counts and plan id under "plan"
        return JSONResponse(_answer(lambda: disagg_campaign(_store(), plan_id_of(plan))))
    if dag_id == HAZARD_CAMPAIGN_DAG:
        batches, _, started = _plan_xcom(dag_id, run_id)
        return JSONResponse(_answer(lambda: hazard_campaign(_store(), batches, started)))
    raise HTTPException(
        400,
        {
            "field": "dag_id",
            "detail": f"dag_id: campaigns are read for {CAMPAIGN_DAG} and {HAZARD_CAMPAIGN_DAG} runs, not {dag_id}",
        },
    )


@app.get("/extracts", response_class=HTMLResponse, dependencies=extract_access)
def extracts_page() -> HTMLResponse:
    """The Area extract view: the bundles kept, their maps and downloads."""
    return HTMLResponse(_page("extracts.html"))


@app.get("/api/extracts", dependencies=extract_access)
def extracts(model: str | None = None) -> JSONResponse:
    """The bundles area_extract kept (their current versions), with their maps and files."""
    from hazflow.results.extracts import kept_bundles

    return JSONResponse(_answer(lambda: kept_bundles(_store(), model or None)))


@app.get("/api/extract-file", dependencies=extract_access)
def extract_file(name: str) -> Response:
    """A file of a kept bundle (a map, the zip, a CSV), by its store name."""
    if not name.startswith("extracts/"):
        raise HTTPException(400, {"field": "name", "detail": f"name: not a kept bundle's file: {name!r}"})
    return report(name)


def _plan_xcom(dag_id: str, run_id: str, key: str = "return_value") -> tuple[Any, dict[str, Any] | None, str]:
    """(the `plan` task's XCom `key`, the run's conf, its start as ISO text) from Airflow's metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).one_or_none()
        if run is None:
            raise HTTPException(404, f"no run {run_id!r} of {dag_id}")
        row = (
            session.query(XComModel)
            .filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.task_id == "plan",
                    XComModel.key == key, XComModel.map_index == -1)
            .one_or_none()
        )  # fmt: skip
        value = XComModel.deserialize_value(row) if row is not None else None
        started = run.start_date.isoformat() if run.start_date else ""
        return value, dict(run.conf or {}), started
