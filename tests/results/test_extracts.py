"""The Area extract view's numbers: the bundles area_extract kept, each at the version its pointer
names, with its maps, zip and files, and how many versions were written."""

from __future__ import annotations

import numpy as np

from hazflow.extract.area import bbox_area
from hazflow.extract.grid import area_sites
from hazflow.extract.request import AreaRequest
from hazflow.results.extracts import kept_bundles
from hazflow.steps.area_extract import keep_area_bundle
from hazflow.store import HazardAggregate
from tests.extract.conftest import AREA, PROVENANCE, synthetic_curve
from tests.extract.test_area import WLG_BOX


def test_the_kept_bundles_are_listed_at_their_current_version_with_their_maps(config, demo):
    store = config.open_store()
    levels = np.asarray(demo.settings.levels)
    store.put_hazard_aggregates(
        [HazardAggregate("DEMO", s.code, 400.0, imt, agg, levels, synthetic_curve(levels, i, imt, agg), PROVENANCE)
         for i, s in enumerate(area_sites(bbox_area(WLG_BOX))) for imt in ("PGA", "SA(0.5)") for agg in ("mean", "0.9")]
    )  # fmt: skip
    assert kept_bundles(store) == []
    keep_area_bundle(AREA, config)
    latest = keep_area_bundle(AREA, config)  # a second version: the pointer names it
    (bundle,) = kept_bundles(store, "DEMO")
    name = AreaRequest.parse(AREA).name
    assert (bundle["model"], bundle["name"], bundle["versions"]) == ("DEMO", name, 2)
    assert bundle["uri"] == latest.zip and bundle["zip"].endswith(f"/versions/{bundle['version']}/{name}.zip")
    assert store.read_report(bundle["zip"])[:2] == b"PK"  # the zip, as kept
    assert sorted(m.rsplit("/", 1)[1] for m in bundle["maps"]) == ["hazard_map-mean-PGA.png", "hazard_map-mean-SA(0.5).png"]
    assert all(store.read_report(m)[:4] == b"\x89PNG" for m in bundle["maps"])
    assert [f.split(f"/versions/{bundle['version']}/")[1] for f in bundle["files"]] == latest.files
    assert kept_bundles(store, "NSHM_v1.0.4") == []
