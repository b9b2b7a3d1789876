"""A store holding aggregated hazard curves (mean and 0.9) of PGA and SA(0.5) at VS30 400 for the six
NSHM 0.1 degree grid sites in a box around Wellington: synthetic curves, real levels, real store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hazflow.extract.area import bbox_area
from hazflow.extract.grid import area_sites
from hazflow.store import HazardAggregate
from tests.extract.test_area import WLG_BOX

AREA = {"model": "DEMO", "bbox": WLG_BOX, "vs30": 400, "imts": ["PGA", "SA(0.5)"]}
PROVENANCE = json.dumps({"oq_version": "3.26.2", "settings_digest": "9ace2d867dae57b7", "job_keys_digest": "1a7f4cf17860725a",
                         "leaves": ["CRU-1", "CRU-2", "CRU-3", "HIK-1", "HIK-2", "SLAB-1"], "composites": 72})  # fmt: skip


def synthetic_curve(levels: np.ndarray, site: int, imt: str, agg: str) -> np.ndarray:
    """A decreasing PoE curve, different at each site, IMT and statistic."""
    scale = (1 + 0.1 * site) * (1.3 if imt == "PGA" else 1.0) * (2.0 if agg == "0.9" else 1.0)
    return 0.05 * np.exp(-levels / (0.08 * scale))


@pytest.fixture
def area_store(config, demo):
    """(store, the six sites) with every curve an extract of AREA needs."""
    store = config.open_store()
    sites = area_sites(bbox_area(WLG_BOX))
    levels = np.asarray(demo.settings.levels)
    store.put_hazard_aggregates(
        [HazardAggregate("DEMO", s.code, 400.0, imt, agg, levels, synthetic_curve(levels, i, imt, agg), PROVENANCE)
         for i, s in enumerate(sites) for imt in ("PGA", "SA(0.5)") for agg in ("mean", "0.9")]
    )  # fmt: skip
    return store, sites
