"""The contributors table over the logic tree against brute-force enumeration of the composite
branches, and the rules that turn the pass's source names into contributors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hazflow.aggregate.contributors import ContributorTable, azimuth, contributor_of, contributor_table
from hazflow.aggregate.stats import weighted_quantiles
from hazflow.aggregate.tree import build_tree
from hazflow.model.sites import Site
from hazflow.store.records import NO_CONTRIBUTORS, DisaggRealization, contributor_rows
from tests.aggregate.test_engine import composite_branches, random_model

SITE = Site("WLG", -41.30, 174.78, "Wellington", False)
# per fault system, the pass's labels: a fault whose sections name a parent, a second source, a
# background; the rest, in every realization
LABELS = {
    "A": [("A@Alpine", "fault"), ("A@Hope", "fault"), ("bgA", "background")],
    "B": [("B@Hikurangi", "fault")],
    "C": [("C@Hikurangi", "fault"), ("slab", "background")],  # the same parent as B's: one contributor
    "D": [("D@Alpine", "fault")],  # and as A's, from another fault system
}


def realization(model, leaf: str, gmm: str, table: np.ndarray) -> DisaggRealization:
    """A component realization at WLG's PGA target with its contributors `table` (bins not looked at)."""
    axes = ("TRT", "Mag", "Dist", "Eps")
    return DisaggRealization(
        model.name, leaf, gmm, SITE.code, 400.0, "PGA", 0.1, 0.3, axes, ("t",), {}, np.ones((1,) * 4), contributors=table
    )


def realizations(model, seed: int) -> list[DisaggRealization]:
    """Component realizations with random rates by label (some labels absent from some realizations)."""
    rng = np.random.default_rng(seed)
    rows = []
    for leaf in model.leaves:
        for g in model.gmms_for(leaf.trt):
            labels = [*LABELS[leaf.fault_system], ("the rest", "rest")]
            keep = [label for label in labels if rng.random() > 0.2]
            n = len(keep)
            table = contributor_rows(
                [name for name, _ in keep], [kind for _, kind in keep], rng.random(n) * 10.0 ** rng.uniform(-6, -2, n),
                rng.uniform(5, 8, n), rng.uniform(1, 200, n), rng.uniform(-2, 2, n),
                SITE.lon + rng.uniform(-1, 1, n), SITE.lat + rng.uniform(-1, 1, n),
            )  # fmt: skip
            rows.append(realization(model, leaf.id, g.id, table))
    return rows


def brute_force(model, rows):
    """Per composite branch (from the model's groups, not the tree): weight, and each contributor's rate,
    rate x M, rate x R, rate x eps."""
    by_component = {(r.leaf, r.gmm): r for r in rows}
    fs_of = {leaf.id: leaf.fault_system for leaf in model.leaves}
    weights, sums = [], []
    for weight, picked in composite_branches(model):
        weights.append(weight)
        composite: dict[str, np.ndarray] = {}
        for leaf_id, gmm_id in picked.values():
            for row in by_component[(leaf_id, gmm_id)].contributors:
                name, _ = contributor_of(model, fs_of[leaf_id], str(row["name"]), str(row["kind"]))
                add = np.array([row["rate"], row["rate"] * row["mag"], row["rate"] * row["rrup"], row["rate"] * row["eps"]])
                composite[name] = composite.get(name, np.zeros(4)) + add
        sums.append(composite)
    return np.array(weights), sums


@pytest.mark.parametrize("seed", range(5))
def test_the_table_equals_brute_force_over_the_composite_branches(seed):
    model = random_model(seed)
    tree = build_tree(model)
    rows = realizations(model, seed)
    by_component = {(r.leaf, r.gmm): r for r in rows}
    table = contributor_table(model, tree, [by_component[c] for c in tree.components], SITE, quantiles=(0.1, 0.5, 0.9))
    assert table is not None and table.method == "enumeration"

    weights, sums = brute_force(model, rows)
    names = {name for composite in sums for name in composite}
    assert {row.name for row in table.rows} == names
    assert {"Alpine", "Hikurangi", "Hope", "bgA", "slab", "the rest"} >= names
    whole = np.array([sum(v[0] for v in composite.values()) for composite in sums])
    total = float(weights @ whole)
    assert table.total_rate == pytest.approx(total, rel=1e-12)
    assert sum(row.percent for row in table.rows) == pytest.approx(100.0, abs=1e-9)
    assert table.rows[-1].name == "the rest" and table.rows[-1].kind == "rest"
    rates = [row.rate for row in table.rows[:-1]]
    assert rates == sorted(rates, reverse=True)
    live = whole > 0
    for row in table.rows:
        mine = np.array([composite.get(row.name, np.zeros(4)) for composite in sums])  # (composites, 4)
        assert row.rate == pytest.approx(float(weights @ mine[:, 0]), rel=1e-12)
        assert row.percent == pytest.approx(100.0 * float(weights @ mine[:, 0]) / total, rel=1e-10)
        for got, k in ((row.m, 1), (row.r, 2), (row.eps, 3)):
            assert got == pytest.approx(float(weights @ mine[:, k]) / float(weights @ mine[:, 0]), rel=1e-10)
        share = 100.0 * mine[live, 0] / whole[live]
        w = weights[live]
        assert row.mean_percent == pytest.approx(float(w @ share / w.sum()), rel=1e-10, abs=1e-12)
        expected = weighted_quantiles(share[None, :], w, np.array([0.1, 0.5, 0.9]))[:, 0]
        np.testing.assert_allclose(list(row.percentiles.values()), expected, rtol=1e-10, atol=1e-12)
    hik = next(row for row in table.rows if row.name == "Hikurangi")
    assert hik.kind == "fault" and set(hik.fault_systems) <= {"B", "C"}
    rest = table.rows[-1]
    assert rest.lon is None and rest.azimuth is None
    assert all(row.lon is not None and 0 <= (row.azimuth or 0) < 360 for row in table.rows[:-1])


def test_sampling_beyond_the_budget_keeps_the_exact_split_of_the_mean():
    model = random_model(3)
    tree = build_tree(model)
    by_component = {(r.leaf, r.gmm): r for r in realizations(model, 3)}
    rows = [by_component[c] for c in tree.components]
    exact = contributor_table(model, tree, rows, SITE)
    sampled = contributor_table(model, tree, rows, SITE, n_samples=100_000, budget=1)
    assert exact is not None and sampled is not None
    assert sampled.method == "sampling" and sampled.composites == 100_000
    for a, b in zip(exact.rows, sampled.rows, strict=True):
        assert (a.name, a.percent, a.m) == (b.name, b.percent, b.m)
        assert b.mean_percent == pytest.approx(a.mean_percent, abs=0.5)


def test_no_recorded_contributors_is_no_table_and_a_gap_is_named():
    model = random_model(1)
    tree = build_tree(model)
    by_component = {(r.leaf, r.gmm): r for r in realizations(model, 1)}
    rows = [replace(by_component[c], contributors=NO_CONTRIBUTORS) for c in tree.components]
    assert contributor_table(model, tree, rows, SITE) is None
    rows[0] = by_component[tree.components[0]]
    table = contributor_table(model, tree, rows, SITE)
    assert table is not None and any("recorded no contributors" in w for w in table.warnings)


def test_a_table_round_trips_through_the_summary_document():
    model = random_model(2)
    tree = build_tree(model)
    by_component = {(r.leaf, r.gmm): r for r in realizations(model, 2)}
    table = contributor_table(model, tree, [by_component[c] for c in tree.components], SITE)
    assert table is not None
    notes = {"total_rate": table.total_rate, "spread": table.method, "composites": table.composites, "warnings": []}
    assert ContributorTable.from_dict(table.to_list(), notes) == table
    assert ContributorTable.from_dict([], {}) is None


@pytest.mark.parametrize(
    ("archived", "fault_system", "name", "kind", "expected"),
    [
        (False, "CRU", "WF_mid", "fault", ("Wellington fault", "fault")),  # DEMO's declaration
        (False, "CRU", "BG_WLG_2", "background", ("Wellington region background", "background")),
        (True, "CRU", "SW52@Wellington Hutt Valley", "fault", ("Wellington Hutt Valley", "fault")),
        (True, "CRU", "SW52@off_rupids", "fault", ("SW52", "source")),  # sections without parent names
        (True, "CRU", "RmlsZT0x", "background", ("CRU background", "background")),  # NSHM's distributed seismicity
        (False, "CRU", "A1", "background", ("A1", "background")),
        (True, "HIK", "the rest", "rest", ("the rest", "rest")),
    ],
)
def test_the_pass_names_become_stable_contributors(demo, archived, fault_system, name, kind, expected):
    model = replace(demo, archived=archived)
    assert contributor_of(model, fault_system, name, kind) == expected


def test_demo_declares_one_contributor_per_fault_across_its_branches(demo):
    names = {contributor_of(demo, "CRU", source, "fault")[0] for source in ("WF_low", "WF_mid", "WF_high")}
    assert names == {"Wellington fault"}


def test_a_leaf_without_parent_names_is_by_source_with_a_warning():
    model = random_model(0)
    tree = build_tree(model)
    rows = []
    for leaf, gmm in tree.components:
        table = contributor_rows(["X@off_rupids"], ["fault"], *(np.array([v]) for v in (1e-3, 6.0, 10.0, 0.5, 175.0, -41.0)))
        rows.append(realization(model, leaf, gmm, table))
    table = contributor_table(model, tree, rows, SITE)
    assert table is not None and [(r.name, r.kind) for r in table.rows] == [("X", "source"), ("the rest", "rest")]
    assert any("no section or fault names" in w for w in table.warnings)


@pytest.mark.parametrize(
    ("lon", "lat", "expected"), [(174.78, -40.3, 0.0), (175.78, -41.30, 90.0), (174.78, -42.3, 180.0), (173.78, -41.3, 270.0)]
)
def test_azimuth_from_the_site(lon, lat, expected):
    assert azimuth(SITE, lon, lat) == pytest.approx(expected, abs=0.4)
