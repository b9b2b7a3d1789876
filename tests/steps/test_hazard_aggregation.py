"""Aggregating stored realizations: missing ones listed, settings checked, provenance and idempotency."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from hazflow.aggregate.engine import aggregate
from hazflow.aggregate.inputs import MissingRealizations
from hazflow.aggregate.tree import build_tree
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.sites import resolve_sites
from hazflow.plan.fields import validate_fractions
from hazflow.steps.hazard_aggregation import aggregate_hazard, required_targets
from hazflow.store import HazardRealization, LedgerEntry


@pytest.fixture
def filled(config, demo):
    """A store with synthetic realizations of every DEMO component at WLG, VS30 400, PGA."""
    store = config.open_store()
    site = resolve_sites(["WLG"])[0]
    levels = np.asarray(demo.settings.levels)
    rng = np.random.default_rng(1)
    tree = build_tree(demo)
    rows = []
    for leaf, gmm in tree.components:
        curve = np.exp(-levels * rng.uniform(3, 8)) * 10 ** rng.uniform(-3, -1.5)
        rows.append(
            HazardRealization(
                "DEMO", leaf, gmm, site.code, 400.0, "PGA", levels, curve, f"job-{leaf}", "3.26.2", demo.settings.digest()
            )
        )
    for leaf in demo.leaf_ids:  # one job per leaf, as ingest writes them
        store.put_hazard_realizations([r for r in rows if r.leaf == leaf], _entry(leaf, site))
    return store, site, tree, rows


def _entry(leaf: str, site) -> LedgerEntry:
    return LedgerEntry(f"job-{leaf}", "hazard", "DEMO", leaf, 400.0, (site.code,), ("PGA",), "done")


def test_aggregates_are_the_engine_on_the_stored_rows(filled, demo):
    store, site, tree, rows = filled
    stored = aggregate_hazard(store, demo, tree, site, 400, ["PGA"])
    by = {(r.leaf, r.gmm): r.values for r in rows}
    expected = aggregate(tree, np.stack([by[c] for c in tree.components]))
    assert {a.agg for a in stored} == set(expected.stats) and len(stored) == 20
    for a in stored:
        np.testing.assert_array_equal(a.values, expected.stats[a.agg])
    prov = json.loads(stored[0].provenance)
    assert prov["components"] == 15 and prov["composites"] == 72 and prov["jobs"] == 6 and prov["method"] == "meet-in-the-middle"
    assert prov["settings_digest"] == demo.settings.digest() and prov["renormalised"] is False
    again = aggregate_hazard(store, demo, tree, site, 400, ["PGA"])
    assert len(store.get_hazard_aggregates("DEMO", site.code, 400.0)) == len(again) == 20


def test_missing_realizations_are_listed_exactly(config, filled, demo):
    store, site, tree, rows = filled
    keep = [r for r in rows if r.leaf == "CRU-2" and not r.gmm.startswith("Bradley")]
    store.put_hazard_realizations(keep, _entry("CRU-2", site))
    with pytest.raises(
        MissingRealizations, match=r"1 of 15 component realizations missing for .*: CRU-2 x Bradley2013\(sigma_mu_epsilon=0.0\)$"
    ):
        aggregate_hazard(store, demo, tree, site, 400, ["PGA"])
    with pytest.raises(MissingRealizations, match="15 of 15 .* CHC vs30=400 PGA") as info:
        required_targets(store, demo, tree, resolve_sites(["CHC"]), [400], ["PGA"])
    assert info.value.field == "realizations" and "Run hazard_realizations" in info.value.message


def test_a_subset_needs_only_its_realizations_and_says_it_was_renormalised(filled, demo):
    store, site, _, _ = filled
    tree = build_tree(demo, leaves=["CRU-1", "HIK-1", "SLAB-1"])
    stored = aggregate_hazard(store, demo, tree, site, 400, ["PGA"], quantiles=(0.5,))
    assert json.loads(stored[0].provenance)["renormalised"] is True
    assert {a.agg for a in stored} == {"mean", "std", "cov", "0.5"}


def test_mixed_settings_are_refused(filled, demo):
    store, site, tree, rows = filled
    first = rows[0]
    changed = [replace(first, settings_digest="other")] + [r for r in rows[1:] if r.leaf == first.leaf]
    store.put_hazard_realizations(changed, _entry(first.leaf, site))
    with pytest.raises(DataIntegrityError, match="different settings"):
        aggregate_hazard(store, demo, tree, site, 400, ["PGA"])


@pytest.mark.parametrize("quantiles", [[1.5], ["x"], [0.5, 0.5]])
def test_bad_quantiles(quantiles):
    with pytest.raises(BadRequest) as info:
        validate_fractions(quantiles, "quantiles", "quantile", open_interval=False, allow_empty=True)
    assert info.value.field == "quantiles"


def test_a_batch_is_labelled_by_its_first_target_and_how_many_more():
    from hazflow.model.sites import resolve_sites
    from hazflow.steps.hazard_aggregation import HazardTarget, batch_label

    wlg, chc = resolve_sites(["WLG", "CHC"])
    batch = [HazardTarget(wlg, 400.0).to_dict(), HazardTarget(chc, 400.0).to_dict()]
    assert batch_label(batch) == "WLG vs30=400 (+1 more)"
    assert batch_label(batch[:1]) == "WLG vs30=400"
