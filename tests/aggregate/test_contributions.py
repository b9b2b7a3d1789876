"""Contributions over the logic tree against brute-force enumeration of the composite branches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hazflow.aggregate.contributions import Contributions, component_rates, contributions
from hazflow.aggregate.stats import prob_to_rate, weighted_quantiles
from hazflow.aggregate.tree import build_tree
from tests.aggregate.test_engine import random_components, random_model


def brute_force_shares(model, components):
    """Per composite branch (enumerated from the model, not the tree): weight, and each fault system's rate."""
    trt_of = {leaf.fault_system: leaf.trt for leaf in model.leaves}
    trts = list(dict.fromkeys(trt_of.values()))
    gmm_choices = [[g for g in model.gmm_branches if g.trt == t] for t in trts]
    weights, by_fs, by_leaf = [], {fs: [] for fs in trt_of}, {}
    for choice in itertools.product(*(zip(g.choices, g.weights, strict=True) for g in model.source_groups), *gmm_choices):
        sources, gmms = choice[: len(model.source_groups)], choice[len(model.source_groups) :]
        gmm_of = {t: g for t, g in zip(trts, gmms, strict=True)}
        weight = np.prod([w for _, w in sources]) * np.prod([g.weight for g in gmms])
        weights.append(weight)
        for group, (leaf_ids, _) in zip(model.source_groups, sources, strict=True):
            for fs, leaf_id in zip(group.fault_systems, leaf_ids, strict=True):
                rate = float(prob_to_rate(components[(leaf_id, gmm_of[trt_of[fs]].id)], 1.0).sum())
                by_fs[fs].append(rate)
                by_leaf[leaf_id] = by_leaf.get(leaf_id, 0.0) + weight * rate
    return np.array(weights), {fs: np.array(v) for fs, v in by_fs.items()}, by_leaf


@pytest.mark.parametrize(("seed", "only"), [(s, None) for s in range(6)] + [(2, "A-1"), (5, "B-1")])
def test_shares_equal_brute_force_and_add_up(seed, only):
    """`only`: every other leaf contributes nothing, so that some composite branches have no rate at all."""
    model = random_model(seed)
    tree = build_tree(model)
    components = random_components(model, seed)
    if only:
        components = {c: p if c[0] == only else np.zeros_like(p) for c, p in components.items()}
    probs = np.stack([components[c] for c in tree.components])
    got = contributions(tree, component_rates(probs), quantiles=(0.1, 0.5, 0.9))

    weights, by_fs, by_leaf = brute_force_shares(model, components)
    whole = sum(by_fs.values())
    total = float(weights @ whole)
    assert got.method == "enumeration" and got.composites == len(weights)
    assert got.total_rate == pytest.approx(total, rel=1e-12)
    assert sum(got.by_leaf.values()) == pytest.approx(100.0, abs=1e-9)
    assert sum(s.percent_of_mean for s in got.by_fault_system.values()) == pytest.approx(100.0, abs=1e-9)
    for leaf, rate in by_leaf.items():
        assert got.by_leaf[leaf] == pytest.approx(100.0 * rate / total, rel=1e-10, abs=1e-12)
    live = whole > 0
    for fs, rates in by_fs.items():
        share = got.by_fault_system[fs]
        assert share.rate == pytest.approx(float(weights @ rates), rel=1e-12, abs=1e-300)
        pct = 100.0 * rates[live] / whole[live]
        w = weights[live]
        assert share.mean_percent == pytest.approx(float(w @ pct / w.sum()), rel=1e-10, abs=1e-12)
        expected = weighted_quantiles(pct[None, :], w, np.array([0.1, 0.5, 0.9]))[:, 0]
        np.testing.assert_allclose(list(share.percentiles.values()), expected, rtol=1e-10, atol=1e-12)
    assert got.empty_weight == pytest.approx(float(weights[~live].sum()), abs=1e-15)
    if only:
        assert got.empty_weight > 0 and got.by_leaf[only] == pytest.approx(100.0)


def test_sampling_beyond_the_budget_approaches_the_enumeration():
    model = random_model(3)
    tree = build_tree(model)
    probs = np.stack([random_components(model, 3)[c] for c in tree.components])
    exact = contributions(tree, component_rates(probs))
    sampled = contributions(tree, component_rates(probs), n_samples=200_000, budget=1)
    assert sampled.method == "sampling" and sampled.composites == 200_000
    assert sampled.by_leaf == exact.by_leaf  # the split of the mean is exact either way
    for fs, share in exact.by_fault_system.items():
        assert sampled.by_fault_system[fs].mean_percent == pytest.approx(share.mean_percent, abs=0.5)


def test_round_trips_through_a_dict():
    model = random_model(1)
    tree = build_tree(model)
    probs = np.stack([random_components(model, 1)[c] for c in tree.components])
    got = contributions(tree, component_rates(probs))
    assert Contributions.from_dict(got.to_dict()) == got


def test_rates_must_match_the_tree():
    tree = build_tree(random_model(0))
    with pytest.raises(ValueError, match="components"):
        contributions(tree, np.ones(len(tree.components) + 1))


def test_each_leaf_is_placed_in_its_fault_system():
    model = random_model(1)
    tree = build_tree(model)
    probs = np.stack([random_components(model, 1)[c] for c in tree.components])
    got = contributions(tree, component_rates(probs))
    in_tree = {leaf for leaf, _ in tree.components}  # a leaf no source-group choice picks is not in the tree
    assert got.leaf_fault_system == {leaf.id: leaf.fault_system for leaf in model.leaves if leaf.id in in_tree}
    assert set(got.by_leaf) == in_tree
