from __future__ import annotations

import numpy as np
import pytest

from hazflow.disagg import disagg_jobs, read_targets, validate_poes
from hazflow.exceptions import BadRequest
from hazflow.imtl import level_at_poe
from hazflow.sites import resolve_sites
from hazflow.store import HazardAggregate


@pytest.fixture
def curves(config, demo):
    store = config.open_store()
    site = resolve_sites(["WLG"])[0]
    levels = np.asarray(demo.settings.levels)
    rows = [
        HazardAggregate("DEMO", site.code, 400.0, imt, "mean", levels, s * np.exp(-levels * k))
        for imt, s, k in (("PGA", 2e-2, 6.0), ("SA(0.5)", 3e-2, 4.0))
    ]
    store.put_hazard_aggregates(rows)
    return store, site, {r.imt: r for r in rows}


def test_targets_read_their_level_off_the_mean_curve(curves, demo):
    store, site, rows = curves
    targets = read_targets(store, demo, site, 400, ["PGA", "SA(0.5)"], [0.1, 0.02])
    assert [t.label for t in targets] == [
        "WLG vs30=400 PGA 10%/50yr", "WLG vs30=400 PGA 2%/50yr", "WLG vs30=400 SA(0.5) 10%/50yr", "WLG vs30=400 SA(0.5) 2%/50yr",
    ]  # fmt: skip
    for t in targets:
        assert t.iml == level_at_poe(rows[t.imt].levels, rows[t.imt].values, t.poe)
    assert targets[0].iml < targets[1].iml  # rarer means stronger


def test_jobs_group_the_imts_of_a_leaf_site_and_poe(curves, demo):
    store, site, _ = curves
    targets = read_targets(store, demo, site, 400, ["PGA", "SA(0.5)"], [0.1, 0.02])
    jobs = disagg_jobs(demo, demo.leaves, targets, "3.26.2")
    assert len(jobs) == 6 * 2
    assert jobs[0].imts == ("PGA", "SA(0.5)") and jobs[0].imls == (targets[0].iml, targets[2].iml)
    assert len({j.key for j in jobs}) == len(jobs)


@pytest.mark.parametrize(
    "imts, poes, message",
    [(["SA(1.5)"], [0.1], "no aggregated mean hazard curve"), (["PGA"], [0.999], "outside the mean PGA curve")],
)
def test_missing_curve_or_poe_beyond_it(curves, demo, imts, poes, message):
    store, site, _ = curves
    with pytest.raises(BadRequest, match=message):
        read_targets(store, demo, site, 400, imts, poes)


@pytest.mark.parametrize("poes", [[0.0], [1.0], [-0.1], ["x"], [], [0.1, 0.1]])
def test_bad_poes(poes):
    with pytest.raises(BadRequest) as info:
        validate_poes(poes)
    assert info.value.field == "poes"
