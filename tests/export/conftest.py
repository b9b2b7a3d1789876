"""A store with one aggregated DEMO disaggregation target (WLG, 400 m/s, PGA, 10 % in 50 years) and
aggregated hazard curves for WLG, from synthetic realizations: what every export reads."""

from __future__ import annotations

import numpy as np
import pytest

from hazflow.aggregate.tree import build_tree
from hazflow.model.sites import resolve_sites
from hazflow.steps.disagg_aggregation import aggregate_disagg
from hazflow.store import HazardAggregate
from tests.steps.test_disagg_aggregation import _realizations, _store

PARAMS = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]}


@pytest.fixture
def exported_store(config, demo):
    site = resolve_sites(["WLG"])[0]
    store = _store(config, _realizations(demo, site))
    aggregates, _, summary = aggregate_disagg(store, demo, build_tree(demo), site, 400, "PGA", 0.1, quantiles=(0.1, 0.5, 0.9))
    levels = np.asarray(demo.settings.levels)
    store.put_hazard_aggregates(
        [HazardAggregate("DEMO", site.code, 400.0, "PGA", agg, levels, 1e-2 * np.exp(-4 * levels) * f, '{"oq_version": "3.26.2"}')
         for agg, f in (("mean", 1.0), ("0.1", 0.5), ("0.9", 1.7))]
    )  # fmt: skip
    return store, site, aggregates, summary
