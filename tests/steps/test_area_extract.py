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


@pytest.fixture(params=["local", "aws"])
def backend_config(request, tmp_path, demo) -> Config:
    """A config of each backend whose store holds the curves AREA needs."""
    if request.param == "local":
        config = Config(store_root=tmp_path / "store", work_dir=tmp_path / "work")
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        request.getfixturevalue("fake_credentials")
        aws_client("s3", endpoint).create_bucket(
            Bucket="extract-test", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
        )
        config = Config(store_backend="aws", store_root="s3://extract-test/hazflow", work_dir=tmp_path / "work",
                        aws_stage="extract", aws_endpoint=endpoint)  # fmt: skip
    levels = np.asarray(demo.settings.levels)
    config.open_store().put_hazard_aggregates(
        [HazardAggregate("DEMO", s.code, 400.0, imt, "mean", levels, synthetic_curve(levels, i, imt, "mean"), PROVENANCE)
         for i, s in enumerate(area_sites(bbox_area(WLG_BOX))) for imt in ("PGA", "SA(0.5)")]
    )  # fmt: skip
    return config


def test_the_bundle_is_kept_in_the_store(backend_config):
    manifest = keep_area_bundle(AREA, backend_config)
    store = backend_config.open_store()
    name = f"extracts/DEMO/{AreaRequest.parse(AREA).name}"
    assert manifest.folder == store.report_uri(name) and manifest.zip == store.report_uri(f"{name}.zip")
    assert sorted(store.reports(name)) == sorted([f"{name}/{f}" for f in manifest.files] + [f"{name}.zip"])
    if backend_config.store_backend == "aws":
        assert manifest.zip.startswith("s3://extract-test/hazflow/reports/extracts/DEMO/")
    kept = json.loads(store.read_report(f"{name}/manifest.json"))
    assert kept["name"] == manifest.name and len(kept["sites"]) == 6
    with zipfile.ZipFile(io.BytesIO(store.read_report(f"{name}.zip"))) as z:
        assert f"{manifest.name}/hazard_curves/hazard_curve-mean-PGA.csv" in z.namelist()
    summary = summarise_bundle(manifest.to_dict())
    assert (summary["bundle"], summary["sites"], summary["imts"], summary["oq_version"]) == (
        manifest.zip,
        6,
        ["PGA", "SA(0.5)"],
        ["3.26.2"],
    )
    again = keep_area_bundle(AREA, backend_config)  # a rerun rewrites the same names
    assert again.files == manifest.files and sorted(store.reports(name)) == sorted(
        [f"{name}/{f}" for f in manifest.files] + [f"{name}.zip"]
    )
