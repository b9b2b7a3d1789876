"""area_extract through real Airflow: a one-site area near Wellington whose hazard is computed first
(classical runs mapped per leaf, then the aggregation), its bundle kept in the store; a rerun runs no
OpenQuake job; without compute, missing hazard fails at plan, listing the sites."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from hazflow.store import open_store
from tests.dags.conftest import dags_test
from tests.support.risk_inputs import exposure_xml

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]

# one point of a 0.01 degree grid: Wellington's own code
ONE_SITE = {"model": "DEMO", "bbox": [174.775, -41.305, 174.785, -41.295], "grid": "0.01", "vs30": 400, "imts": ["PGA"]}
LEAVES = ["CRU-1", "CRU-2", "CRU-3", "HIK-1", "HIK-2", "SLAB-1"]


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    store_root = tmp_path_factory.mktemp("area_dag") / "store"
    return store_root, dags_test("area_extract", ONE_SITE | {"compute": True}, store_root)


def test_compute_maps_the_runs_and_keeps_the_bundle(computed):
    store_root, run = computed
    assert run.code == 0, run.log[-3000:]
    assert run.labels("run") == [f"{leaf} vs30=400" for leaf in LEAVES]
    assert run.labels("aggregate") == ["-41.300~174.780 vs30=400"]
    assert all(o["openquake_ran"] for i in range(6) for o in run.xcom("ingest", map_index=i))  # a batch of one job each
    summary = run.summary()
    assert (summary["sites"], summary["imts"], summary["stat"], summary["oq_version"]) == (1, ["PGA"], "mean", ["3.26.2"])
    store = open_store("local", str(store_root))
    name = f"extracts/DEMO/{summary['name']}"
    pointer = json.loads(store.read_report(f"{name}/CURRENT.json"))  # written last, naming the version whole
    version = f"{name}/versions/{pointer['version']}"
    assert summary["bundle"] == pointer["zip"] == store.report_uri(f"{version}/{summary['name']}.zip")
    assert summary["folder"] == pointer["folder"] == store.report_uri(version)
    kept = store.reports(version)
    assert f"{version}/hazard_curves/hazard_curve-mean-PGA.csv" in kept and f"{version}/job_risk.ini" in kept
    assert sorted(pointer["files"]) == sorted(k.removeprefix(f"{version}/") for k in kept if not k.endswith(".zip"))
    manifest = json.loads(store.read_report(f"{version}/manifest.json"))
    assert manifest["provenance"]["leaves"] == {json.dumps(LEAVES): 1}
    with zipfile.ZipFile(summary["bundle"]) as z:
        assert f"{summary['name']}/hazard_curves/hazard_curve-mean-PGA.csv" in z.namelist()


def test_a_rerun_runs_no_openquake_job(computed):
    store_root, first = computed
    assert first.code == 0, first.log[-3000:]
    run = dags_test("area_extract", ONE_SITE | {"compute": True}, store_root)
    assert run.code == 0, run.log[-3000:]
    states = run.states()
    assert states["run"] == "skipped" and states["aggregate"] == "skipped" and states["bundle"] == "success"
    again, before = run.summary(), first.summary()
    assert again["name"] == before["name"] and again["bundle"] != before["bundle"]  # a new version, the pointer moved
    store = open_store("local", str(store_root))
    name = f"extracts/DEMO/{again['name']}"
    assert json.loads(store.read_report(f"{name}/CURRENT.json"))["zip"] == again["bundle"]
    curves = "hazard_curves/hazard_curve-mean-PGA.csv"
    old, new = (Path(s["folder"]) / curves for s in (before, again))
    assert old.read_bytes() == new.read_bytes()  # the same curves; the version a reader holds stays whole


def test_missing_hazard_without_compute_fails_at_plan(tmp_path):
    run = dags_test("area_extract", ONE_SITE, tmp_path / "store")
    assert run.code == 1
    assert (
        "1 of 1 site(s) of the area have no aggregated mean hazard curve of DEMO at VS30 400 m/s: -41.300~174.780 (PGA)"
        in run.log
    )
    assert run.states()["plan"] == "failed"


def test_an_exposure_keeps_the_sites_of_its_assets(computed, tmp_path):
    """The `exposure` field as the trigger form takes it: a path the worker reads. Its asset is near the
    computed site and another is far from it: the bundle keeps the site, carries the exposure and
    lists the far asset; no OpenQuake job runs."""
    store_root, first = computed
    assert first.code == 0, first.log[-3000:]
    exposure = tmp_path / "portfolio.xml"
    exposure.write_text(exposure_xml([(174.781, -41.301), (176.91, -39.49)], ["lambton", "napier"]))
    run = dags_test("area_extract", ONE_SITE | {"exposure": str(exposure), "compute": True}, store_root)
    assert run.code == 0, run.log[-3000:]
    assert run.states()["run"] == "skipped"
    summary = run.summary()
    assert summary["sites"] == 1 and "-exposure_" in summary["name"]
    manifest = json.loads((Path(summary["folder"]) / "manifest.json").read_text())
    assert manifest["exposure"]["discarded"] == [{"id": "napier", "lon": 176.91, "lat": -39.49}]
    assert manifest["sites"][0]["assets"] == 1 and "exposure/portfolio.xml" in manifest["files"]
