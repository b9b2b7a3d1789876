"""Disaggregation planning: the product, IMT grouping, keys, skipping, batching and bad requests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hazflow.exceptions import BadRequest, DataIntegrityError, StorageError
from hazflow.model.nshm import NSHM_IMTS, NSHM_POES, NSHM_VS30S
from hazflow.plan.disagg import DisaggPlan, plan_disagg
from hazflow.plan.imtl import levels_at_poes
from hazflow.plan.jobs import disagg_job
from hazflow.plan.request import DisaggRequest
from hazflow.store import HazardAggregate, LedgerEntry

OQ = "3.26.2"


def curve(levels: np.ndarray, scale: float, k: float) -> np.ndarray:
    """Annual PoE falling from `scale` at 0 g (an NSHM-like range: at most a few percent a year)."""
    return scale * np.exp(-k * levels)


@pytest.fixture
def store(config, demo):
    """Aggregated mean curves (and a std, which planning must ignore) for WLG and CHC at VS30 400."""
    store = config.open_store()
    levels = np.asarray(demo.settings.levels)
    rows = []
    for site, scale in (("-41.300~174.780", 0.05), ("-43.530~172.630", 0.03)):
        for imt, k in (("PGA", 6.0), ("SA(0.5)", 4.0)):
            rows.append(HazardAggregate("DEMO", site, 400.0, imt, "mean", levels, curve(levels, scale, k)))
            rows.append(HazardAggregate("DEMO", site, 400.0, imt, "std", levels, curve(levels, 0.9, 1.0)))
    store.put_hazard_aggregates(rows)
    return store


def demo_request(**changes) -> DisaggRequest:
    """WLG and CHC, two IMTs and PoEs, every leaf; `oq engine --run` per run (one run per pass) unless changed."""
    fields = {"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "poes": [0.1, 0.02]}
    return DisaggRequest.parse(fields | {"disagg_engine": "oq"} | changes)


def test_product_grouping_and_levels(store, demo):
    request = demo_request()
    plan = plan_disagg(request, store, OQ)
    assert (plan.jobs, plan.total_runs, len(plan.keys), plan.skipped) == (6 * 2 * 2 * 2, 6 * 2 * 2, 24, 0)
    specs = [s for b in range(len(plan.batches)) for s in plan.specs(b, demo)]
    assert [s.key for s in specs] == list(plan.keys) and len(set(plan.keys)) == 24
    assert specs[0].label == "WLG vs30=400 PGA,SA(0.5) 10%/50yr CRU-1"
    assert {s.imts for s in specs} == {("PGA", "SA(0.5)")}
    wlg = {a.imt: a for a in store.get_hazard_aggregates("DEMO", "-41.300~174.780", 400, agg="mean")}
    for spec in specs[:12]:  # WLG's runs: each IMT at the level of its own mean curve
        assert spec.sites[0].id == "WLG"
        expected = [levels_at_poes(wlg[i].levels, wlg[i].values, [spec.poe])[0] for i in spec.imts]
        assert spec.imls == pytest.approx(expected, rel=1e-12)


def test_bulk_keys_are_the_keys_of_specs_built_one_by_one(store, demo):
    plan = plan_disagg(demo_request(), store, OQ)
    for run, key in zip(plan.runs, plan.keys, strict=True):
        leaf, group = run
        g = plan.groups[group]
        imls = dict(zip(["PGA", "SA(0.5)"], g.imls, strict=True))
        assert disagg_job(demo, demo.leaves[leaf], g.vs30, g.site, g.poe, imls, OQ, engine="oq").key == key


@pytest.mark.parametrize("finished, skipped", [("done", True), ("no_ruptures", True), ("ran", False), ("failed", False)])
def test_runs_finished_in_the_ledger_are_skipped_unless_forced(store, finished, skipped):
    request = demo_request()
    first = plan_disagg(request, store, OQ)
    for key in first.keys[:5]:
        store.ledger_record(LedgerEntry(key, "disagg", "DEMO", "CRU-1", 400.0, (), (), finished))  # type: ignore[arg-type]
    again = plan_disagg(request, store, OQ)
    assert again.skipped == (5 if skipped else 0)
    assert again.keys == (first.keys[5:] if skipped else first.keys)
    assert (again.plan_id == first.plan_id) is not skipped  # the id follows what is left to do
    forced = plan_disagg(request, store, OQ, force=True)
    assert forced.skipped == 0 and forced.keys == first.keys


@pytest.mark.parametrize("cap, batches, sizes", [(512, 24, {1}), (5, 5, {4, 5}), (24, 24, {1}), (7, 7, {3, 4}), (1, 1, {24})])
def test_batches_are_contiguous_near_equal_and_under_the_cap(store, cap, batches, sizes):
    plan = plan_disagg(demo_request(), store, OQ, batch_cap=cap)
    assert len(plan.batches) == batches
    assert {stop - start for start, stop in plan.batches} == sizes
    assert [r for b in range(batches) for r in plan.batch_runs(b)] == list(range(24))


def test_batch_labels_name_the_first_run_and_the_rest(store):
    plan = plan_disagg(demo_request(), store, OQ, batch_cap=5)
    assert plan.batch_label(0) == "WLG vs30=400 PGA,SA(0.5) 10%/50yr CRU-1 (+4 more)"
    assert plan_disagg(demo_request(), store, OQ).batch_label(23) == "CHC vs30=400 PGA,SA(0.5) 2%/50yr SLAB-1"


NSHM = {"model": "NSHM_v1.0.4", "sites": ["NZ", "-WRE"], "vs30s": [400], "imts": NSHM_IMTS, "poes": list(NSHM_POES)}


def test_nshm_production_plan_without_levels():
    request = DisaggRequest.parse(NSHM | {"disagg_engine": "oq"}, runnable=False)
    plan = plan_disagg(request, None, OQ)
    assert (plan.jobs, plan.total_runs, len(plan.passes)) == (60_025, 12_005, 12_005)
    assert len(plan.batches) == 512 and {b - a for a, b in plan.batches} == {23, 24}
    with pytest.raises(DataIntegrityError, match="without levels"):
        plan.specs(0)


def test_nshm_in_one_pass_per_leaf_and_site_group():
    """49 leaves x 7 groups of at most 5 of the 35 sites: 343 OpenQuake processes instead of 12,005."""
    plan = plan_disagg(DisaggRequest.parse(NSHM, runnable=False), None, OQ)
    assert (plan.engine, plan.total_runs, len(plan.passes)) == ("hazardlib", 12_005, 343)
    assert {len(runs) for runs in plan.passes} == {5 * 7}  # 5 sites x 7 PoEs each
    assert sorted(r for runs in plan.passes for r in runs) == list(range(12_005))
    assert (
        len(plan.batches) == 343
        and plan.pass_label(0)
        == "AKL,BHE,CHC,DUD,GIS vs30=400 PGA,SA(0.2),SA(0.5),SA(1.5),SA(3.0) 2%,5%,10%,18%,39%,63%,86%/50yr PUY-1"
    )
    on_ecs = plan_disagg(DisaggRequest.parse(NSHM, runnable=False), None, OQ, min_passes_per_batch=8)  # an 8-vCPU task
    assert len(on_ecs.batches) == 43 and {b - a for a, b in on_ecs.batches} == {7, 8}


def test_a_request_too_large_for_one_dag_run_says_how_to_split_it():
    request = DisaggRequest.parse(NSHM | {"vs30s": NSHM_VS30S, "disagg_engine": "oq"}, runnable=False)
    assert request.jobs == 1_080_450
    with pytest.raises(BadRequest) as info:
        plan_disagg(request, None, OQ)
    assert info.value.field == "batch_cap"
    assert "216,090 OpenQuake processes" in str(info.value) and "one DAG run per VS30 (18 runs of about 12,005" in str(info.value)
    one_pass = plan_disagg(DisaggRequest.parse(NSHM | {"vs30s": NSHM_VS30S}, runnable=False), None, OQ)  # 6,174 processes fit
    assert (len(one_pass.passes), len(one_pass.batches)) == (6_174, 512)


def test_the_plan_document_round_trips_and_is_kept_in_the_store(store, demo):
    plan = plan_disagg(demo_request(), store, OQ, batch_cap=3)
    store.put_plan(plan.plan_id, plan.to_document())
    kept = DisaggPlan.from_document(store.get_plan(plan.plan_id))
    assert kept == plan
    assert [s.key for s in kept.specs(2, demo)] == list(plan.keys[16:24])


def test_a_plan_whose_keys_no_longer_match_its_model_is_refused(store, demo):
    doc = plan_disagg(demo_request(), store, OQ).to_document()
    doc["keys"][0] = "0" * 24
    with pytest.raises(DataIntegrityError, match="differs from the planned"):
        DisaggPlan.from_document(doc).specs(0, demo)


def test_an_unknown_plan_is_a_storage_error(store):
    with pytest.raises(StorageError, match="no plan"):
        store.get_plan("disagg-nothing")


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"sites": ["XXX"]}, "sites", "unknown site or list 'XXX'"),
        ({"sites": ["-41.3~"]}, "sites", "malformed location"),
        ({"sites": ["WLG", "WLG"]}, "sites", "more than once"),
        ({"sites": []}, "sites", "empty"),
        ({"poes": [0.0]}, "poes", "must lie in (0, 1)"),
        ({"poes": [1.0]}, "poes", "must lie in (0, 1)"),
        ({"poes": [0.1, 0.1]}, "poes", "duplicate"),
        ({"poes": []}, "poes", "empty"),
        ({"poes": [0.999999]}, "poes", "outside the mean PGA curve at WLG vs30=400's range"),
        ({"imts": ["SA(1.5)"]}, "imts", "no aggregated mean hazard curve of DEMO for WLG vs30=400 SA(1.5)"),
        ({"imts": ["PGA", "PGA"]}, "imts", "duplicate"),
        ({"vs30s": [750]}, "imts", "no aggregated mean hazard curve of DEMO for WLG vs30=750 PGA"),
        ({"vs30s": [400, 400]}, "vs30s", "duplicate"),
        ({"leaves": ["CRU-9"]}, "leaves", "CRU-9"),
        ({"leaves": []}, "leaves", "empty"),
        ({"batch_cap": 2000}, "batch_cap", "core.max_map_length"),
        ({"batch_cap": 0}, "batch_cap", "outside [1, 1024]"),
    ],
)
def test_bad_requests_fail_before_anything_is_written(store, config, monkeypatch, changes, field, message):
    """Through the `plan` task's own body; the store keeps only what the fixture put in it."""
    from hazflow.steps.disagg_realizations import plan as plan_disagg_realizations

    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], "leaves": ["all"]}
    params |= {"force": False, "batch_cap": 512, "runner": "local"}
    with pytest.raises(BadRequest) as info:
        plan_disagg_realizations(params | changes)
    assert info.value.field == field
    assert message in str(info.value)
    assert store.ledger_list() == []
    assert not list(config.store_root.glob("artifacts")) and not list(config.work_dir.glob("*"))
    import sqlite3

    with sqlite3.connect(config.store_root / "hazflow.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM plans").fetchone() == (0,)


def test_the_task_keeps_its_plan_and_returns_only_small_descriptors(store, config, monkeypatch):
    from hazflow.steps.disagg_realizations import plan as plan_disagg_realizations

    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    params = {"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "poes": [0.1, 0.02]}
    params |= {"leaves": ["all"], "force": False, "batch_cap": 4, "runner": "local"}
    out = plan_disagg_realizations(params | {"disagg_engine": "oq"})
    assert [b["runs"] for b in out["batches"]] == [6, 6, 6, 6]
    assert out["batches"][1] == {
        "plan_id": out["plan_id"], "batch": 1, "label": "WLG vs30=400 PGA,SA(0.5) 2%/50yr CRU-1 (+5 more)", "runs": 6, "passes": 6
    }  # fmt: skip
    # the request's realization set, with the settings and target statistic the aggregation checks
    assert out["aggregation_conf"] == {
        "model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400.0], "imts": ["PGA", "SA(0.5)"], "poes": [0.1, 0.02],
        "leaves": ["CRU-1", "CRU-2", "CRU-3", "HIK-1", "HIK-2", "SLAB-1"], "epsilon_star": False, "target_stat": "mean", "imls": {},
    }  # fmt: skip
    assert len(store.get_plan(out["plan_id"])["keys"]) == 24


def test_the_task_plans_one_pass_per_leaf_by_default(store, config, monkeypatch):
    """The default engine (hazardlib): the 4 runs of a leaf (2 sites x 2 PoEs) in one pass, 6 passes in 4 batches."""
    from hazflow.steps.disagg_realizations import plan as plan_disagg_realizations

    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    params = {"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "poes": [0.1, 0.02]}
    out = plan_disagg_realizations(params | {"leaves": ["all"], "force": False, "batch_cap": 4, "runner": "local"})
    assert (out["engine"], out["runs"], out["passes"]) == ("hazardlib", 24, 6)
    assert [(b["passes"], b["runs"]) for b in out["batches"]] == [(2, 8), (2, 8), (1, 4), (1, 4)]
    assert out["batches"][0]["label"] == "WLG,CHC vs30=400 PGA,SA(0.5) 10%,2%/50yr CRU-1 (+1 more)"
    assert "disagg_engine" not in out["aggregation_conf"]  # the aggregation reads rows, whatever computed them
    plan = DisaggPlan.from_document(store.get_plan(out["plan_id"]))
    (first, second) = plan.passes_of(0)
    assert [j.label for j in first.jobs] == [
        "WLG vs30=400 PGA,SA(0.5) 10%/50yr CRU-1", "WLG vs30=400 PGA,SA(0.5) 2%/50yr CRU-1",
        "CHC vs30=400 PGA,SA(0.5) 10%/50yr CRU-1", "CHC vs30=400 PGA,SA(0.5) 2%/50yr CRU-1",
    ]  # fmt: skip
    assert second.leaf == "CRU-2" and {j.engine for j in first.jobs} == {"hazardlib"}


def test_the_engine_is_in_every_key(store):
    one_pass, reference = plan_disagg(demo_request(disagg_engine="hazardlib"), store, OQ), plan_disagg(demo_request(), store, OQ)
    assert len(one_pass.keys) == len(reference.keys) == 24 and not set(one_pass.keys) & set(reference.keys)


def test_an_epsilon_star_plan_rebuilds_its_specs_with_the_setting(store, demo):
    """The batches of a kept plan are rebuilt from its request: epsilon_star must survive that (the keys say so)."""
    plans = {star: plan_disagg(demo_request(leaves=["CRU-1"], epsilon_star=star), store, OQ) for star in (False, True)}
    rebuilt = DisaggPlan.from_document(plans[True].to_document()).specs(0)  # the model loaded by name, then the setting
    assert [s.key for s in rebuilt] == list(plans[True].keys)[: len(rebuilt)] and all(s.settings.epsilon_star for s in rebuilt)
    assert set(plans[True].keys).isdisjoint(plans[False].keys)


def test_target_stat_reads_the_levels_off_that_statistic(store, demo):
    """target_stat = 0.5: each level is read off the aggregated median curve (NSHM's target_aggr)."""
    levels = np.asarray(demo.settings.levels)
    medians = {}
    for site, scale in (("-41.300~174.780", 0.02), ("-43.530~172.630", 0.01)):
        for imt, k in (("PGA", 6.0), ("SA(0.5)", 4.0)):
            medians[(site, imt)] = curve(levels, scale, k)
            store.put_hazard_aggregates([HazardAggregate("DEMO", site, 400.0, imt, "0.5", levels, medians[(site, imt)])])
    mean_plan = plan_disagg(demo_request(), store, OQ)
    median_plan = plan_disagg(demo_request(target_stat=0.5), store, OQ)
    for g in median_plan.groups:
        expected = [levels_at_poes(levels, medians[(g.site.code, imt)], [g.poe])[0] for imt in ("PGA", "SA(0.5)")]
        np.testing.assert_allclose(g.imls, expected, rtol=1e-12)
    assert [g.imls for g in median_plan.groups] != [g.imls for g in mean_plan.groups]
    specs = median_plan.specs(0, demo)
    assert all(s.target_stat == "0.5" for s in specs) and [s.key for s in specs] == list(median_plan.keys[: len(specs)])
    assert set(median_plan.keys).isdisjoint(mean_plan.keys)
    # the same level read off the mean or the median curve is the same OpenQuake work, but another target: another key
    spec = specs[0]
    assert (
        replace(spec, target_stat="mean").key != spec.key and "target_stat" not in replace(spec, target_stat="mean").target_part()
    )


def test_a_target_stat_not_stored_is_named_with_what_is(store):
    with pytest.raises(
        BadRequest, match=r"target_stat: no aggregated 0.9 hazard curve of DEMO for WLG vs30=400 PGA \(stored: mean, std\)"
    ):
        plan_disagg(demo_request(target_stat="0.9"), store, OQ)


def test_iml_mode_plans_each_level_as_a_target_named_by_its_poe(store, demo):
    """Levels given directly: a target per (site, IMT, level), named by the PoE the mean curve gives the
    level; at the level PoE mode reads off a PoE, it is PoE mode's target and OpenQuake work."""
    poe_mode = plan_disagg(demo_request(), store, OQ)
    levels = {g.site.code: g.imls for g in poe_mode.groups if g.poe == 0.1}  # (PGA, SA(0.5)) at 10 % in 50 years
    wlg = levels["-41.300~174.780"]
    request = demo_request(poes=[], imls={"PGA": [wlg[0], 0.3], "SA(0.5)": wlg[1]})
    assert (request.jobs, request.runs) == (6 * 2 * 3, 6 * 2 * 3)  # 6 leaves x 2 sites x 3 levels
    iml_mode = plan_disagg(request, store, OQ)
    assert len(iml_mode.groups) == 6 and all(len(g.imts) == 1 and len(g.imls) == 1 for g in iml_mode.groups)
    first = iml_mode.groups[0]
    assert (first.site.id, first.imts, first.imls) == ("WLG", ("PGA",), (wlg[0],))
    assert first.poe == pytest.approx(0.1, rel=1e-5)  # the PoE of the level PoE mode read off at 10 %
    same = [g for g in iml_mode.groups if g.site.id == "WLG" and g.imls in ((wlg[0],), (wlg[1],))]
    assert [g.poe for g in same] == pytest.approx([0.1, 0.1], rel=1e-5)
    specs = [s for b in range(len(iml_mode.batches)) for s in iml_mode.specs(b, demo)]
    pga = next(s for s in specs if (s.sites[0].id, s.leaf, s.imls) == ("WLG", "CRU-1", (wlg[0],)))
    reference = next(
        s
        for b in range(len(poe_mode.batches))
        for s in poe_mode.specs(b, demo)
        if (s.sites[0].id, s.leaf, s.poe) == ("WLG", "CRU-1", 0.1)
    )
    assert pga.imts == ("PGA",) and pga.imls == (reference.imls[0],)
    assert pga.leaf_part() == reference.leaf_part()  # the same OpenQuake inputs
    # one-pass engine: one pass per leaf x VS30 x site group x IMT (a pass shares one IMT set)
    hazardlib = plan_disagg(demo_request(poes=[], imls={"PGA": [0.2, 0.3], "SA(0.5)": 0.4}, disagg_engine="hazardlib"), store, OQ)
    assert len(hazardlib.passes) == 6 * 2
    rebuilt = DisaggPlan.from_document(hazardlib.to_document())
    assert sorted(s.key for b in range(len(rebuilt.batches)) for s in rebuilt.specs(b, demo)) == sorted(hazardlib.keys)
    assert (
        rebuilt.pass_label(0)
        == "WLG,CHC vs30=400 PGA "
        + ",".join(f"{p * 100:g}%" for p in dict.fromkeys(g.poe for g in hazardlib.groups if g.imts == ("PGA",)))
        + "/50yr CRU-1"
    )


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"imls": {"PGA": 0.2, "SA(0.5)": 0.3}}, "poes", "give poes or imls"),
        ({"poes": [], "imls": {"PGA": 0.2}}, "imls", "exactly the imts"),
        ({"poes": [], "imls": {"PGA": -1, "SA(0.5)": 0.3}}, "imls", "a level must be a number of g > 0"),
        ({"poes": [], "imls": [0.2, 0.3]}, "imls", "expected {IMT: level"),
        ({"poes": [], "imls": {"PGA": 0.2, "SA(0.5)": 0.3}, "target_stat": "0.5"}, "target_stat", "not read off a curve"),
    ],
)
def test_bad_levels_are_named(changes, field, message):
    with pytest.raises(BadRequest, match=message) as info:
        demo_request(**changes)
    assert info.value.field == field


def test_a_level_beyond_the_mean_curve_is_refused(store):
    with pytest.raises(BadRequest, match=r"imls: 50 g is outside the mean PGA curve at WLG vs30=400's range"):
        plan_disagg(demo_request(poes=[], imls={"PGA": 50.0, "SA(0.5)": 0.3}), store, OQ)
