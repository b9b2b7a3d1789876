"""`keep_area_bundle` (the DAG's `bundle` task) on both stores: every file and the zip kept under
`extracts/<model>/`, the summary pointing at them; on aws, in S3 on the session's moto_server."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from hazflow.config import Config
from hazflow.extract.area import bbox_area
from hazflow.extract.grid import area_sites
from hazflow.extract.request import AreaRequest
from hazflow.remote.clients import aws_client
from hazflow.steps.area_extract import keep_area_bundle, summarise_bundle
from hazflow.store import HazardAggregate
from tests.extract.conftest import AREA, PROVENANCE, synthetic_curve
from tests.extract.test_area import WLG_BOX
from tests.support.risk_inputs import exposure_csv_form


@pytest.fixture(params=["local", "aws"])
def backend_config(request, tmp_path, demo) -> Config:
    """A config of each backend whose store holds the curves AREA needs."""
    if request.param == "local":
        config = Config(store_root=tmp_path / "store", work_dir=tmp_path / "work")
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        request.getfixturevalue("fake_credentials")
        s3 = aws_client("s3", endpoint)
        try:
            s3.create_bucket(Bucket="extract-test", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
        except s3.exceptions.BucketAlreadyOwnedByYou:  # an earlier test of the session's moto_server made it
            pass
        config = Config(store_backend="aws", store_root="s3://extract-test/hazflow", work_dir=tmp_path / "work",
                        aws_stage="extract", aws_endpoint=endpoint)  # fmt: skip
    levels = np.asarray(demo.settings.levels)
    config.open_store().put_hazard_aggregates(
        [HazardAggregate("DEMO", s.code, 400.0, imt, "mean", levels, synthetic_curve(levels, i, imt, "mean"), PROVENANCE)
         for i, s in enumerate(area_sites(bbox_area(WLG_BOX))) for imt in ("PGA", "SA(0.5)")]
    )  # fmt: skip
    return config


def _version(store, name: str) -> tuple[dict, str]:
    """The pointer of a kept bundle and the report prefix of the version it names."""
    pointer = json.loads(store.read_report(f"{name}/CURRENT.json"))
    return pointer, f"{name}/versions/{pointer['version']}"


def test_the_bundle_is_kept_in_the_store_as_a_version_and_a_pointer(backend_config):
    manifest = keep_area_bundle(AREA, backend_config)
    store = backend_config.open_store()
    name = f"extracts/DEMO/{AreaRequest.parse(AREA).name}"
    pointer, version = _version(store, name)
    zip_name = f"{version}/{manifest.name}.zip"
    assert (
        (pointer["folder"], pointer["zip"])
        == (manifest.folder, manifest.zip)
        == (store.report_uri(version), store.report_uri(zip_name))
    )
    assert pointer["files"] == manifest.files
    assert sorted(store.reports(version)) == sorted([f"{version}/{f}" for f in manifest.files] + [zip_name])
    if backend_config.store_backend == "aws":
        assert manifest.zip.startswith("s3://extract-test/hazflow/reports/extracts/DEMO/")
    kept = json.loads(store.read_report(f"{version}/manifest.json"))
    assert kept["name"] == manifest.name and len(kept["sites"]) == 6
    with zipfile.ZipFile(io.BytesIO(store.read_report(zip_name))) as z:
        assert f"{manifest.name}/hazard_curves/hazard_curve-mean-PGA.csv" in z.namelist()
    summary = summarise_bundle(manifest.to_dict())
    assert (summary["bundle"], summary["sites"], summary["imts"], summary["oq_version"]) == (
        manifest.zip,
        6,
        ["PGA", "SA(0.5)"],
        ["3.26.2"],
    )
    again = keep_area_bundle(AREA, backend_config)  # a rerun writes a version of its own, then moves the pointer
    moved, newer = _version(store, name)
    assert again.files == manifest.files and moved["version"] != pointer["version"] and moved["zip"] == again.zip
    assert store.read_report(f"{newer}/hazard_curves/hazard_curve-mean-PGA.csv") == store.read_report(
        f"{version}/hazard_curves/hazard_curve-mean-PGA.csv"
    )  # the version a reader followed the pointer to is still whole
    assert sorted(store.reports(newer)) == sorted([f"{newer}/{f}" for f in manifest.files] + [f"{newer}/{manifest.name}.zip"])


@pytest.mark.openquake
def test_an_exposure_in_s3_narrows_the_kept_bundle_and_travels_in_it(backend_config, tmp_path):
    """The DAG's field as a worker reads it: a path, or an s3:// URI (the CSV form: the XML and the CSV
    file beside it); the bundle kept holds the sites of its assets and a copy of it."""
    points, ids = [(174.7817, -41.2905), (174.7762, -41.2784)], ["te_papa", "beehive"]
    local = exposure_csv_form(tmp_path / "exposure.xml", tmp_path / "assets.csv", points, ids)
    source = str(local)
    if backend_config.store_backend == "aws":
        s3 = aws_client("s3", backend_config.aws_endpoint)
        for name in ("exposure.xml", "assets.csv"):
            s3.put_object(Bucket="extract-test", Key=f"portfolios/{name}", Body=(tmp_path / name).read_bytes())
        source = "s3://extract-test/portfolios/exposure.xml"
    manifest = keep_area_bundle(AREA | {"exposure": source}, backend_config)
    assert [s["code"] for s in manifest.sites] == ["-41.300~174.800"] and manifest.sites[0]["assets"] == 2
    assert manifest.exposure["source"] == source and manifest.name.startswith("DEMO-mean-vs30_400-exposure_")
    store = backend_config.open_store()
    _, name = _version(store, f"extracts/DEMO/{manifest.name}")
    assert store.read_report(f"{name}/exposure/assets.csv") == (tmp_path / "assets.csv").read_bytes()
    assert "exposure_file = exposure/exposure.xml" in store.read_report(f"{name}/job_risk.ini").decode()
