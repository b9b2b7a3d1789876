"""The Disaggregation view's numbers, read from each store backend: a target's kept summary, its mean
matrix as percent of the recovered rate, the M-R marginal, its reports; a run's targets from its plan."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hazflow.aggregate.contributions import Contributions, FaultSystemShare
from hazflow.exceptions import BadRequest
from hazflow.model.sites import resolve_sites
from hazflow.report.mre import summarise_mre
from hazflow.report.target_summary import DisaggSummary, put_summary
from hazflow.results.disagg import run_targets, target, targets_of_site
from hazflow.results.hazard import NothingStored
from hazflow.store import DisaggAggregate

WLG = "-41.300~174.780"
EDGES = {
    "Mag": np.array([5.0, 6.0, 7.0, 8.0]),
    "Dist": np.array([0.0, 10.0, 30.0, 100.0]),
    "Eps": np.array([-1.0, 0.0, 1.0, 2.0]),
}


def mean_of(poe: float) -> DisaggAggregate:
    values = np.random.default_rng(int(poe * 1000)).random((2, 3, 3, 3)) * 1e-4  # (TRT, Mag, Dist, Eps) probabilities
    return DisaggAggregate(
        "DEMO", WLG, 400.0, "PGA", poe, "mean", 0.3, ("TRT", "Mag", "Dist", "Eps"), ("Crust", "Interface"), EDGES, values
    )


@pytest.fixture(scope="module")
def kept(module_store, tmp_path_factory):
    """Two targets of WLG (10 % and 2 % in 50 years), each with its mean and summary kept, and an export."""
    tmp_path = tmp_path_factory.mktemp("kept")
    (site,) = resolve_sites(["WLG"])
    shares = {"Crustal": FaultSystemShare(1e-3, 70.0, 68.0, {"0.1": 40.0, "0.9": 90.0}),
              "Hikurangi": FaultSystemShare(4e-4, 30.0, 32.0, {"0.1": 10.0, "0.9": 60.0})}  # fmt: skip
    contributions = Contributions(1.4e-3, {"CRU-1": 70.0, "HIK-1": 30.0}, shares, "enumeration", 72, 0.0)
    for poe in (0.1, 0.02):
        mean = mean_of(poe)
        module_store.put_disagg_aggregates([mean])
        summary = DisaggSummary(
            "DEMO", site, 400.0, "PGA", poe, 0.3, "mean", "enumeration", False, summarise_mre(mean), contributions
        )
        put_summary(module_store, summary, tmp_path)
    export = tmp_path / "export.json"
    export.write_text("{}")
    module_store.put_report("exports/DEMO/json/WLG/DEMO-WLG-vs400-PGA-poe10.json", export)
    module_store.put_report("exports/DEMO/json/WLG/DEMO-WLG-vs400-PGA-poe100.json", export)  # another target's: not listed
    return module_store


def test_a_sites_targets_are_listed_with_level_and_closure(kept):
    rows = targets_of_site(kept, "DEMO", "WLG")
    assert [(r["vs30"], r["imt"], r["poe"]) for r in rows] == [(400.0, "PGA", 0.1), (400.0, "PGA", 0.02)]
    assert all(r["iml"] == 0.3 and r["closure"] > 0 for r in rows)


def test_a_target_is_its_summary_its_mean_in_percent_and_its_reports(kept):
    got = target(kept, "DEMO", "WLG", "400", "PGA", "0.1")
    stored = json.loads(kept.read_report("disagg/DEMO/WLG/DEMO-WLG-vs400-PGA-poe10-summary.json"))
    assert got["summary"] == stored
    values = np.asarray(got["matrix"]["values"])
    mean = np.asarray(kept.get_disagg_aggregates("DEMO", WLG, 400.0, "PGA", 0.1)[0].values, dtype=float)
    np.testing.assert_allclose(values, 100 * mean / mean.sum(), rtol=1e-12)
    assert values.sum() == pytest.approx(100.0, rel=1e-12)
    np.testing.assert_allclose(np.asarray(got["mr"]), values.sum(axis=(0, 3)), rtol=1e-12)  # (Mag, Dist)
    assert got["matrix"]["axes"] == ["TRT", "Mag", "Dist", "Eps"] and got["matrix"]["edges"]["Mag"] == [5.0, 6.0, 7.0, 8.0]
    assert got["reports"]["json"] == ["exports/DEMO/json/WLG/DEMO-WLG-vs400-PGA-poe10.json"]
    assert got["reports"]["summary"] == ["disagg/DEMO/WLG/DEMO-WLG-vs400-PGA-poe10-summary.json"]


@pytest.mark.parametrize("args, error", [(("DEMO", "WLG", "400", "PGA", "1.5"), BadRequest), (("DEMO", "WLG", "400", "PGA", "0.05"), NothingStored),
                                         (("DEMO", "ATLANTIS", "400", "PGA", "0.1"), BadRequest), (("DEMO", "WLG", "750", "PGA", "0.1"), NothingStored)])  # fmt: skip
def test_a_bad_or_missing_target_is_refused(kept, args, error):
    with pytest.raises(error):
        target(kept, *args)


def test_a_runs_targets_come_from_its_plan():
    site = {"id": "WLG", "lat": -41.3, "lon": 174.78, "name": "Wellington", "backarc": False}
    plan = [[{"site": site, "vs30": 400, "imt": "PGA", "poe": 0.02}], [{"site": site, "vs30": 400, "imt": "PGA", "poe": 0.1}]]
    assert run_targets(plan) == [
        {"site": "WLG", "vs30": 400.0, "imt": "PGA", "poe": 0.1},
        {"site": "WLG", "vs30": 400.0, "imt": "PGA", "poe": 0.02},
    ]
    with pytest.raises(BadRequest, match="no plan yet"):
        run_targets(None)
