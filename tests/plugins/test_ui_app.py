"""The `/hazflow` app's routes in this process (FastAPI's TestClient): what each answers, 400 naming
the field, 404 for nothing stored, CSV and report files, on a local store filled as the results
tests fill theirs. Airflow's access checks are lifted here (they are the api-server's, and the stack
tests check them over HTTP: 401 without a token, 403 with a bad one, in test_airflow_stack and
test_trigger_form)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from hazflow.store import HazardAggregate, open_store
from tests.results.test_disagg import kept  # noqa: F401 - a fixture: the results tests' two targets, seeded here too
from tests.results.test_hazard import AGGS, IMTS, LEVELS, WLG, curve

pytestmark = pytest.mark.airflow  # imports the api-server's security module and reads Airflow's database

NO_PLOTLY = "{{PLOTLY}}"


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory):
    """One local store for the module: hazard curves of WLG at VS30 400 and two disaggregation targets."""
    return open_store("local", str(tmp_path_factory.mktemp("ui") / "store"))


@pytest.fixture(scope="module")
def client(module_store, kept) -> Iterator:  # noqa: F811 - the seeded store
    from fastapi.testclient import TestClient

    from hazflow_airflow.ui import app as ui

    module_store.put_hazard_aggregates(
        [
            HazardAggregate("DEMO", WLG, 400.0, imt, agg, LEVELS, curve(imt, agg), '{"from": "test"}')
            for imt in IMTS
            for agg in AGGS
        ]
    )
    access = {
        dep.dependency
        for deps in (ui.hazard_access, ui.disagg_access, ui.extract_access, ui.campaign_access, ui.run_access)
        for dep in deps
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HAZFLOW_STORE_BACKEND", "local")
        env.setenv("HAZFLOW_STORE_ROOT", str(module_store.root))
        env.setattr(ui, "_local", type(ui._local)())  # a store per handler thread, opened from this env
        ui.app.dependency_overrides.update({dependency: lambda: None for dependency in access})
        try:
            with TestClient(ui.app) as test_client:
                yield test_client
        finally:
            ui.app.dependency_overrides.clear()


@pytest.mark.parametrize("path, plots", [("/hazard", True), ("/disaggregation", True), ("/campaign", False), ("/extracts", False)])  # fmt: skip
def test_each_view_is_its_page_and_the_plotting_ones_load_plotly_from_here(client, path, plots):
    from hazflow_airflow.ui.app import PLOTLY_PATH

    answer = client.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert NO_PLOTLY not in answer.text
    assert (f'src="/hazflow{PLOTLY_PATH}"' in answer.text) == plots


def test_plotly_is_served_from_the_installed_wheel_cached_for_a_year(client):
    from hazflow_airflow.ui.app import PLOTLY_PATH

    script = client.get(PLOTLY_PATH)
    assert script.status_code == 200 and script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-type"].startswith("text/javascript") and len(script.content) > 1_000_000


def test_curves_and_spectra_answer_as_json_and_as_csv(client):
    query = {"model": "DEMO", "site": "WLG", "vs30": "400", "imt": "SA(0.5)", "band": ["0.1", "0.9"]}
    curves = client.get("/api/hazard/curves", params=query).json()
    assert curves["levels"] == LEVELS.tolist() and curves["band"] == ["0.1", "0.9"]
    as_csv = client.get("/api/hazard/curves", params=query | {"format": "csv"})
    assert as_csv.headers["content-disposition"] == 'attachment; filename="DEMO-WLG-vs400-SA(0.5)-curves.csv"'
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [float(r["apoe_mean"]) for r in rows] == curves["curves"]["mean"]
    spectra = client.get("/api/hazard/spectra", params={"model": "DEMO", "site": "WLG", "vs30": "400", "poes": ["0.1", "0.02"]})
    assert spectra.status_code == 200 and spectra.json()["imts"][0] == "PGA" and len(spectra.json()["spectra"]) == 2
    uhs = client.get("/api/hazard/spectra", params={"model": "DEMO", "site": "WLG", "vs30": "400", "format": "csv"})
    assert uhs.headers["content-type"].startswith("text/csv") and uhs.text.startswith("imt,")


@pytest.mark.parametrize(
    "route, params, status, field",
    [("/api/hazard/curves", {"model": "DEMO", "site": "ATLANTIS", "vs30": "400", "imt": "PGA"}, 400, "site"),
     ("/api/hazard/curves", {"model": "DEMO", "site": "WLG", "vs30": "fast", "imt": "PGA"}, 400, "vs30"),
     ("/api/hazard/curves", {"model": "DEMO", "site": "AKL", "vs30": "400", "imt": "PGA"}, 404, None),
     ("/api/hazard/spectra", {"model": "DEMO", "site": "WLG", "vs30": "400", "poes": "often"}, 400, "poes"),
     ("/api/disagg/target", {"model": "DEMO", "site": "WLG", "vs30": "400", "imt": "PGA", "poe": "1.5"}, 400, "poe"),
     ("/api/disagg/target", {"model": "DEMO", "site": "WLG", "vs30": "750", "imt": "PGA", "poe": "0.1"}, 404, None),
     ("/api/report", {"name": "ledger/secrets.json"}, 400, "name"),
     ("/api/report", {"name": "disagg/../ledger/x.json"}, 400, "name"),
     ("/api/report", {"name": "disagg/DEMO/WLG/nothing.png"}, 404, None),
     ("/api/extract-file", {"name": "disagg/DEMO/WLG/x.png"}, 400, "name"),
     ("/api/run/targets", {"dag_id": "hazard_aggregation", "run_id": "r"}, 400, "dag_id"),
     ("/api/run/campaign", {"dag_id": "area_extract", "run_id": "r"}, 400, "dag_id"),
     ("/api/run/targets", {"dag_id": "disagg_aggregation", "run_id": "no such run"}, 404, None),
     ("/api/campaign", {"plan_id": "nope"}, 404, None)],
)  # fmt: skip
def test_a_bad_value_is_400_naming_its_field_and_nothing_stored_is_404(client, route, params, status, field):
    answer = client.get(route, params=params)
    assert answer.status_code == status, answer.text
    if field:
        assert answer.json()["detail"]["field"] == field


def test_a_sites_targets_one_target_and_its_report_files(client, module_store):
    targets = client.get("/api/disagg/targets", params={"model": "DEMO", "site": "WLG"}).json()
    assert [(t["imt"], t["poe"]) for t in targets] == [("PGA", 0.1), ("PGA", 0.02)]
    got = client.get(
        "/api/disagg/target", params={"model": "DEMO", "site": "WLG", "vs30": "400", "imt": "PGA", "poe": "0.1"}
    ).json()
    (summary,) = got["reports"]["summary"]
    answer = client.get("/api/report", params={"name": summary})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.content == module_store.read_report(summary)
    assert answer.headers["content-disposition"] == f'inline; filename="{summary.rsplit("/", 1)[1]}"'


@pytest.mark.parametrize(
    "dag_id, view",
    [("disagg_aggregation", "disagg.html"), ("disagg_realizations", "campaign.html"), ("hazard_realizations", "campaign.html"),
     ("hazard_aggregation", None), ("coverage_backfill", None)],
)  # fmt: skip
def test_the_run_tab_opens_the_view_of_its_dags_runs(client, dag_id, view):
    from hazflow_airflow.ui.app import _page

    answer = client.get("/run", params={"dag_id": dag_id, "run_id": "manual__1"})
    assert answer.status_code == 200
    assert answer.text == _page(view) if view else f"no hazflow results view for {dag_id} runs" in answer.text


def test_the_run_tab_of_another_dag_says_so_escaped(client):
    answer = client.get("/run", params={"dag_id": "<script>x</script>", "run_id": "r"})
    assert answer.status_code == 200 and "&lt;script&gt;x&lt;/script&gt; is not a hazflow DAG" in answer.text
    assert "<script>" not in answer.text


def test_the_extracts_list_is_empty_before_any_bundle(client):
    answer = client.get("/api/extracts", params={"model": "DEMO"})
    assert answer.status_code == 200 and answer.json() == []
