from __future__ import annotations

import numpy as np
import pytest

from hazflow.aggregate.disagg import AXES, closure, common_edges, component_matrix
from hazflow.aggregate.engine import composite_rates, exact_mean_rate
from hazflow.aggregate.inputs import MissingRealizations
from hazflow.aggregate.stats import weighted_quantiles
from hazflow.aggregate.tree import build_tree
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.sites import resolve_sites
from hazflow.plan.imtl import annual_poe
from hazflow.steps.disagg_aggregation import aggregate_disagg
from hazflow.store import DisaggRealization, LedgerEntry


def _realizations(demo, site, iml=0.3, scale=1.0):
    edges = common_edges(demo.settings)
    shape = (1, 25, 17, 16)
    rng = np.random.default_rng(0)
    rows = []
    for leaf, gmm in build_tree(demo).components:
        trt = demo.leaf(leaf).trt
        values = np.zeros(shape)
        values[0, rng.integers(25), rng.integers(17), rng.integers(16)] = scale * rng.uniform(1e-5, 1e-4)
        rows.append(
            DisaggRealization(
                "DEMO",
                leaf,
                gmm,
                site.code,
                400.0,
                "PGA",
                0.1,
                iml,
                AXES,
                (trt,),
                edges,
                values,
                f"j-{leaf}",
                "3.26.2",
                demo.settings.digest(),
            )
        )
    return rows


def _store(config, rows):
    store = config.open_store()
    for leaf in {r.leaf for r in rows}:
        entry = LedgerEntry(f"j-{leaf}", "disagg", "DEMO", leaf, 400.0, (rows[0].site,), ("PGA",), "done", poe=0.1)
        store.put_disagg_realizations([r for r in rows if r.leaf == leaf], entry)
    return store


def test_each_leaf_lands_on_its_region_of_the_common_axes(demo):
    site = resolve_sites(["WLG"])[0]
    tree = build_tree(demo)
    rows = _realizations(demo, site)
    iml, probs = component_matrix(demo, tree, rows, "t")
    assert iml == 0.3 and probs.shape == (15, 3 * 25 * 17 * 16)
    cube = probs.reshape(15, 3, 25, 17, 16)
    for i, (leaf, _) in enumerate(tree.components):
        region = demo.trts.index(demo.leaf(leaf).trt)
        assert cube[i, region].sum() > 0 and cube[i].sum() == cube[i, region].sum()


def test_stored_aggregate_mean_and_closure(config, demo):
    site = resolve_sites(["WLG"])[0]
    store = _store(config, _realizations(demo, site))
    tree = build_tree(demo)
    out, result, summary = aggregate_disagg(store, demo, tree, site, 400, "PGA", 0.1, quantiles=(0.5, 0.95))
    stats = {a.agg: a for a in out}
    assert set(stats) == {"mean", "std", "cov", "0.5", "0.95"} and result.method == "meet-in-the-middle"
    _, probs = component_matrix(demo, tree, store.get_disagg_realizations("DEMO", site.code, 400, "PGA", 0.1), "t")
    np.testing.assert_allclose(stats["mean"].values.ravel(), -np.expm1(-exact_mean_rate(tree, probs)), rtol=1e-12)
    # stored quantiles are full enumeration's (every composite, stable sort, midpoint convention)
    composites = composite_rates(tree, -np.log1p(-probs))
    enumerated = weighted_quantiles(composites, tree.composite_weights(), np.array([0.5, 0.95]))
    stored = -np.log1p(-np.stack([stats["0.5"].values.ravel(), stats["0.95"].values.ravel()]))
    assert np.all(np.abs(stored - enumerated) <= 1e-12 * np.maximum(enumerated, composites.max(axis=1)))
    assert np.count_nonzero(enumerated[1]) >= 10  # the check is not on empty bins alone
    expected = (1 - np.exp(-(-np.log1p(-stats["mean"].values)).sum())) / annual_poe(0.1)
    assert stats["mean"].closure == pytest.approx(expected, rel=1e-9)
    assert store.get_disagg_aggregates("DEMO", site.code, 400.0, "PGA", 0.1)[0].closure == stats["mean"].closure


def test_the_summary_is_stored_with_the_target_and_adds_up(config, demo):
    from hazflow.aggregate.stats import prob_to_rate
    from hazflow.report.mre import summarise_mre
    from hazflow.report.target_summary import stored_summaries

    site = resolve_sites(["WLG"])[0]
    store = _store(config, _realizations(demo, site))
    out, _, summary = aggregate_disagg(store, demo, build_tree(demo), site, 400, "PGA", 0.1, quantiles=(0.5,))
    mean = next(a for a in out if a.agg == "mean")
    assert summary.mre == summarise_mre(mean) and summary.mre.closure == pytest.approx(mean.closure, rel=1e-12)
    # the split of the mean over the tree is the stored mean's own total, leaf by leaf and by fault system
    assert summary.contributions.total_rate == pytest.approx(float(prob_to_rate(mean.values, 1.0).sum()), rel=1e-9)
    assert sum(summary.contributions.by_leaf.values()) == pytest.approx(100.0, abs=1e-9)
    assert set(summary.contributions.by_leaf) == set(demo.leaf_ids)
    assert sum(s.percent_of_mean for s in summary.contributions.by_fault_system.values()) == pytest.approx(100.0, abs=1e-9)
    assert summary.contributions.method == "enumeration" and summary.target_stat == "mean"
    assert stored_summaries(store, "DEMO", site) == [summary] == stored_summaries(store, None, site)


def test_closure_is_one_when_the_bins_hold_the_target_poe():
    p1 = annual_poe(0.1)
    bins = np.full(10, -np.expm1(np.log1p(-p1) / 10))  # ten equal bins whose union has probability p1
    assert closure(bins, 0.1) == pytest.approx(1.0, rel=1e-12)


def test_missing_and_inconsistent_realizations(config, demo):
    site = resolve_sites(["WLG"])[0]
    tree = build_tree(demo)
    rows = _realizations(demo, site)
    with pytest.raises(
        MissingRealizations, match=r"1 of 15 disaggregation realizations missing for t: SLAB-1 x Atkinson2022SSlab"
    ):
        component_matrix(demo, tree, [r for r in rows if not (r.leaf == "SLAB-1" and r.gmm.startswith("Atkinson"))], "t")
    rows[3] = DisaggRealization(**{**vars(rows[3]), "iml": 0.31})
    with pytest.raises(DataIntegrityError, match="different levels"):
        component_matrix(demo, tree, rows, "t")


def _batch(config, demo, tolerance=None, fail=None):
    """`aggregate_disagg_batch` of one WLG target on synthetic realizations (closure about 0.08)."""
    from hazflow.steps.disagg_aggregation import DisaggTarget, aggregate_disagg_batch

    site = resolve_sites(["WLG"])[0]
    store = _store(config, _realizations(demo, site))
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], "quantiles": [0.5]}
    params |= {k: v for k, v in {"closure_tolerance": tolerance, "fail_on_closure": fail}.items() if v is not None}
    results = aggregate_disagg_batch(params, [DisaggTarget(site, 400.0, "PGA", 0.1)], config)
    return store, site, [r.to_dict() for r in results]


@pytest.mark.parametrize("tolerance, ok", [(None, False), (0.05, False), (0.9999, True)])
def test_a_closure_outside_the_tolerance_is_flagged_in_result_provenance_and_plot(config, demo, tolerance, ok):
    import json

    from hazflow.report.plots import closure_flag

    store, site, results = _batch(config, demo, tolerance)
    assert results[0]["closure"] < 0.1 and results[0]["closure_ok"] is ok  # 0.08: far from 1
    for stat in store.get_disagg_aggregates("DEMO", site.code, 400.0, "PGA", 0.1):
        prov = json.loads(stat.provenance)
        assert prov["closure_ok"] is ok and prov["closure_tolerance"] == (tolerance or 0.05)
    mean = next(a for a in store.get_disagg_aggregates("DEMO", site.code, 400.0, "PGA", 0.1) if a.agg == "mean")
    assert closure_flag(mean) == ("" if ok else f" OUTSIDE 1 +- {tolerance or 0.05:g}")
    stem = "disagg/DEMO/WLG/DEMO-WLG-vs400-PGA-poe10"
    kept = [f"{stem}-contributions.png", f"{stem}-mre.png", f"{stem}-summary.json", f"{stem}.png"]
    assert store.reports("disagg/DEMO") == kept
    assert results[0]["plots"] == [store.report_uri(n) for n in (kept[3], kept[1], kept[0])]
    assert "mean M" in results[0]["summary"] and "fault systems:" in results[0]["summary"]


def test_the_summary_lists_targets_outside_and_fail_on_closure_names_them(config, demo):
    from hazflow.report.summary import summarise_disagg_aggregation

    _, _, results = _batch(config, demo)
    summary = summarise_disagg_aggregation([results], 0.05, fail_on_closure=False)
    assert summary["closure_outside"] == [results[0]["label"]] and summary["closure_tolerance"] == 0.05
    with pytest.raises(DataIntegrityError, match=r"1 of 1 target\(s\) have a closure outside 1 \+- 0.05: WLG vs30=400 PGA"):
        summarise_disagg_aggregation([results], 0.05, fail_on_closure=True)
    closed = [r | {"closure": 1.01, "closure_ok": True} for r in results]
    assert summarise_disagg_aggregation([closed], 0.05, fail_on_closure=True)["closure_outside"] == []


def test_realizations_of_other_settings_are_refused_naming_epsilon_star(demo):
    from dataclasses import replace

    site = resolve_sites(["WLG"])[0]
    star = replace(demo, settings=demo.settings.with_overrides(epsilon_star=True))
    rows = _realizations(demo, site)  # computed without epsilon*
    with pytest.raises(DataIntegrityError, match=r"not the request's [0-9a-f]{16} \(epsilon_star=true\)"):
        component_matrix(star, build_tree(star), rows, "t")
    component_matrix(demo, build_tree(demo), rows, "t")  # with the settings they had


def test_a_median_target_is_aggregated_as_such_and_judged_against_the_mean_curve(config, demo):
    """Realizations at the median curve's level: the aggregation needs target_stat 0.5 to take them, and judges
    the closure against the mean curve's PoE at that level (the mean disaggregation holds the mean hazard)."""
    import json
    from dataclasses import replace

    from hazflow.plan.imtl import annual_poe_at_level
    from hazflow.steps.disagg_aggregation import required_targets
    from hazflow.store import HazardAggregate

    site = resolve_sites(["WLG"])[0]
    store = _store(config, [replace(r, target_stat="0.5") for r in _realizations(demo, site)])
    tree = build_tree(demo)
    with pytest.raises(DataIntegrityError, match="read off the 0.5 hazard curve, not the request's target_stat mean"):
        aggregate_disagg(store, demo, tree, site, 400, "PGA", 0.1, quantiles=(0.5,))
    with pytest.raises(DataIntegrityError, match="no aggregated mean hazard curve to judge the closure of a 0.5 target"):
        required_targets(store, demo, tree, [site], [400.0], ["PGA"], [0.1], "0.5")  # before any compute
    levels = np.asarray(demo.settings.levels)
    mean_curve = 1e-2 * np.exp(-4 * levels)
    store.put_hazard_aggregates([HazardAggregate("DEMO", site.code, 400.0, "PGA", "mean", levels, mean_curve)])
    out, _, summary = aggregate_disagg(store, demo, tree, site, 400, "PGA", 0.1, quantiles=(0.5,), target_stat="0.5")
    mean = next(a for a in out if a.agg == "mean")
    reference = annual_poe_at_level(levels, mean_curve, 0.3)
    assert mean.closure == pytest.approx(closure(mean.values, 0.1) * annual_poe(0.1) / reference, rel=1e-12)
    prov = json.loads(mean.provenance)
    assert prov["target_stat"] == "0.5" and prov["closure_reference_annual_poe"] == pytest.approx(reference, rel=1e-12)
    assert summary.target_stat == "0.5" and summary.mre.closure == pytest.approx(mean.closure, rel=1e-9)


def test_iml_mode_aggregates_the_targets_named_by_their_levels_poes(config, demo, monkeypatch):
    from dataclasses import replace

    from hazflow.plan.imtl import poe_of_level
    from hazflow.steps.disagg_aggregation import DisaggTarget, aggregate_disagg_batch, plan_disagg_aggregation
    from hazflow.store import HazardAggregate

    site = resolve_sites(["WLG"])[0]
    levels = np.asarray(demo.settings.levels)
    mean_curve = 1e-2 * np.exp(-4 * levels)
    poe = poe_of_level(levels, mean_curve, 0.3)
    store = _store(config, [replace(r, poe=poe) for r in _realizations(demo, site)])  # disaggregated at 0.3 g
    params = {
        "model": "DEMO",
        "sites": ["WLG"],
        "vs30s": [400],
        "imts": ["PGA"],
        "poes": [],
        "imls": {"PGA": 0.3},
        "quantiles": [0.5],
    }
    with pytest.raises(BadRequest, match="imls: no aggregated mean hazard curve for WLG vs30=400 PGA"):
        plan_disagg_aggregation(params, config)
    store.put_hazard_aggregates([HazardAggregate("DEMO", site.code, 400.0, "PGA", "mean", levels, mean_curve)])
    (batch,) = plan_disagg_aggregation(params, config)
    assert batch == [DisaggTarget(site, 400.0, "PGA", poe)]
    (result,) = aggregate_disagg_batch(params, batch, config)
    assert result.iml == 0.3 and result.label == f"WLG vs30=400 PGA {poe * 100:g}%/50yr"
    mean = next(a for a in store.get_disagg_aggregates("DEMO", site.code, 400.0, "PGA", poe) if a.agg == "mean")
    assert mean.closure == pytest.approx(closure(mean.values, poe), rel=1e-12)


SOURCES = {"CRU": ["WF_mid", "BG_WLG_1"], "HIK": ["HIK_b095"], "SLAB": ["SLAB_NI"]}  # DEMO's, by fault system


def _with_contributors(demo, rows):
    """Each realization's rate (its bins') split over its leaf's DEMO sources, 70 % to the first."""
    from dataclasses import replace

    from hazflow.aggregate.stats import prob_to_rate
    from hazflow.store.records import contributor_rows

    out = []
    for r in rows:
        names = SOURCES[demo.leaf(r.leaf).fault_system]
        total = float(prob_to_rate(r.values, 1.0).sum())
        shares = np.array([0.7, 0.3])[: len(names)] if len(names) > 1 else np.array([1.0])
        n = len(names)
        kinds = ["background" if name.startswith(("BG", "SLAB")) else "fault" for name in names]
        table = contributor_rows(names, kinds, total * shares, np.full(n, 6.5), np.full(n, 12.0), np.full(n, 0.4),
                                 np.full(n, 174.9), np.full(n, -41.2))  # fmt: skip
        out.append(replace(r, contributors=table))
    return out


def test_the_summary_lists_the_contributors_named_across_leaves(config, demo, tmp_path):
    from hazflow.export.contributors_csv import write_contributors_csv
    from hazflow.report.plots import plot_contributors
    from hazflow.report.target_summary import stored_summaries

    site = resolve_sites(["WLG"])[0]
    store = _store(config, _with_contributors(demo, _realizations(demo, site)))
    _, _, summary = aggregate_disagg(store, demo, build_tree(demo), site, 400, "PGA", 0.1, quantiles=(0.5,))
    table = summary.contributors
    assert table is not None and not table.warnings
    names = [row.name for row in table.rows]
    # DEMO's three Wellington-fault sources are one contributor; every source of the tree is listed
    expected = {"Wellington fault", "Wellington region background", "Hikurangi interface", "North Island intraslab background"}
    assert set(names) == expected | {"the rest"} and names[-1] == "the rest"
    assert table.rows[-1].percent == 0.0 and table.rows[-1].m is None  # nothing under the floor: the rest is empty
    assert sum(row.percent for row in table.rows) == pytest.approx(100.0, abs=1e-9)
    assert table.total_rate == pytest.approx(summary.contributions.total_rate, rel=1e-9)
    cru = summary.contributions.by_fault_system["CRU"].percent_of_mean
    wf = next(row for row in table.rows if row.name == "Wellington fault")
    assert wf.percent == pytest.approx(0.7 * cru, rel=1e-9) and wf.kind == "fault" and wf.m == pytest.approx(6.5)
    document = summary.to_dict()
    assert [row["name"] for row in document["contributors"]] == names and document["contributors_notes"]["floor"] == 1e-4
    assert stored_summaries(store, "DEMO", site) == [summary]  # the table round-trips through the kept JSON
    csv_text = write_contributors_csv(table, tmp_path / "c.csv").read_text().splitlines()
    assert csv_text[0].startswith("name,kind,fault_systems,percent") and len(csv_text) == 1 + len(names)
    assert plot_contributors(summary, tmp_path / "c.png").stat().st_size > 10_000
