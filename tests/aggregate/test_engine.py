"""The engine against brute-force enumeration of composite branches on random small trees."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hazflow.aggregate.engine import aggregate, composite_rates, exact_mean_rate, quantile_method
from hazflow.aggregate.stats import equal_weight_quantiles, weighted_quantiles
from hazflow.aggregate.tree import Axis, CompositeTree, Term, build_tree
from hazflow.exceptions import BadRequest
from hazflow.model.logic_tree import GmmBranch, HazardModel, Leaf, SourceGroup
from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.model.settings import CalcSettings

TRTS = ("Active Shallow Crust", "Subduction Interface")


def random_model(seed: int) -> HazardModel:
    """Fault systems A (crust), B and C (interface, sharing its GMM branches; B+C correlated on odd seeds), D (crust)."""
    rng = np.random.default_rng(seed)
    sizes = {"A": int(rng.integers(1, 4)), "B": int(rng.integers(1, 4)), "C": int(rng.integers(1, 3)), "D": 2}
    trt = {"A": TRTS[0], "B": TRTS[1], "C": TRTS[1], "D": TRTS[0]}
    leaves = tuple(
        Leaf(f"{fs}-{i}", fs, i, float(w), trt[fs], (f"{fs}{i}.xml",), "")
        for fs, n in sizes.items()
        for i, w in enumerate(rng.dirichlet(np.ones(n)), start=1)
    )
    gmms = tuple(
        GmmBranch(t, f"G{k}", (("x", float(j)),), float(w))
        for k, t in enumerate(TRTS)
        for j, w in enumerate(rng.dirichlet(np.ones(int(rng.integers(1, 4)))))
    )
    by_fs = {fs: [leaf for leaf in leaves if leaf.fault_system == fs] for fs in sizes}
    groups = [SourceGroup(("A",), tuple((x.id,) for x in by_fs["A"]), tuple(x.weight for x in by_fs["A"]))]
    if seed % 2:
        pairs = [(b.id, c.id) for b in by_fs["B"] for c in by_fs["C"]][: max(2, sizes["B"])]
        weights = rng.dirichlet(np.ones(len(pairs)))
        groups.append(SourceGroup(("B", "C"), tuple(pairs), tuple(float(w) for w in weights)))
    else:
        for fs in ("B", "C"):
            groups.append(SourceGroup((fs,), tuple((x.id,) for x in by_fs[fs]), tuple(x.weight for x in by_fs[fs])))
    groups.append(SourceGroup(("D",), tuple((x.id,) for x in by_fs["D"]), tuple(x.weight for x in by_fs["D"])))
    return HazardModel("RANDOM", "", leaves, gmms, CalcSettings(), None, tuple(groups))


def random_components(model: HazardModel, seed: int, n_bins: int = 7) -> dict[tuple[str, str], np.ndarray]:
    """Probabilities per component; fault system D contributes nothing at some bins, C nothing at all on seed 4."""
    rng = np.random.default_rng(seed + 1000)
    out = {}
    for leaf in model.leaves:
        for g in model.gmms_for(leaf.trt):
            p = rng.random(n_bins) * 10.0 ** rng.uniform(-6, -1, n_bins)
            if leaf.fault_system == "D":
                p[::2] = 0.0
            if leaf.fault_system == "C" and seed == 4:
                p[:] = 0.0
            out[(leaf.id, g.id)] = p
    return out


def composite_branches(model: HazardModel):
    """Every composite branch from the model itself (not the tree): the product of source-group choices
    and one GMM branch per region; yields (weight, its component (leaf, GMM id) per fault system)."""
    trt_of = {leaf.fault_system: leaf.trt for leaf in model.leaves}
    trts = list(dict.fromkeys(trt_of.values()))
    gmm_choices = [[g for g in model.gmm_branches if g.trt == t] for t in trts]
    for choice in itertools.product(*(zip(g.choices, g.weights, strict=True) for g in model.source_groups), *gmm_choices):
        sources, gmms = choice[: len(model.source_groups)], choice[len(model.source_groups) :]
        gmm_of = {t: g for t, g in zip(trts, gmms, strict=True)}
        weight = np.prod([w for _, w in sources]) * np.prod([g.weight for g in gmms])
        picked = {
            fs: (leaf_id, gmm_of[trt_of[fs]].id)
            for group, (leaf_ids, _) in zip(model.source_groups, sources, strict=True)
            for fs, leaf_id in zip(group.fault_systems, leaf_ids, strict=True)
        }
        yield weight, picked


def brute_force(model: HazardModel, components, investigation_time: float, quantiles) -> dict[str, np.ndarray]:
    """Enumerate every composite branch (product of source-group choices and one GMM branch per region)."""
    values, weights = [], []
    for weight, picked in composite_branches(model):
        values.append(sum(-np.log1p(-components[component]) / investigation_time for component in picked.values()))
        weights.append(weight)
    v, w = np.array(values), np.array(weights)
    w = w / w.sum()
    mean = w @ v
    std = np.sqrt(w @ (v - mean) ** 2)
    out = {
        "mean": 1 - np.exp(-mean * investigation_time),
        "std": std,
        "cov": np.where(mean > 0, std / np.where(mean > 0, mean, 1), 0),
    }
    for q in quantiles:
        column = []
        for b in range(v.shape[1]):
            order = np.argsort(v[:, b], kind="stable")
            cw = np.cumsum(w[order])
            column.append(np.interp(q, cw - w[order] / 2, v[order, b]))
        out[f"{q:g}"] = 1 - np.exp(-np.array(column) * investigation_time)
    return out


def as_array(tree, components) -> np.ndarray:
    return np.stack([components[c] for c in tree.components])


@pytest.mark.parametrize("method", ["auto", "enumeration"])
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("investigation_time", [1.0, 50.0])
def test_every_statistic_matches_brute_force(seed, investigation_time, method):
    model = random_model(seed)
    components = random_components(model, seed)
    tree = build_tree(model)
    result = aggregate(tree, as_array(tree, components), investigation_time, method=method)
    expected = brute_force(model, components, investigation_time, DEFAULT_QUANTILES)
    # these trees have two blocks (crust A+D, interface B+C): auto takes meet-in-the-middle
    assert result.method == {"auto": "meet-in-the-middle"}.get(method, method)
    assert result.n_composites == len(tree.composite_weights())
    assert set(result.stats) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(result.stats[name], value, rtol=1e-9, atol=1e-300, err_msg=name)


def test_shared_gmm_branch_counts_once():
    """B and C share the interface GMM axis: composite weights multiply its weight once."""
    model = random_model(2)
    tree = build_tree(model)
    interface = [a for a in tree.axes if a.name == "gmm:Subduction Interface"]
    assert len(interface) == 1
    assert tree.composite_weights().sum() == pytest.approx(1.0)
    assert [len(b) for b in tree.blocks()] == [3, 3]  # {A, D, crust GMM} and {B, C, interface GMM}


def test_mean_is_linear_in_marginal_weights():
    model = random_model(3)
    tree = build_tree(model)
    probs = as_array(tree, random_components(model, 3))
    rates = -np.log1p(-probs)
    np.testing.assert_allclose(exact_mean_rate(tree, probs), composite_rates(tree, rates) @ tree.composite_weights(), rtol=1e-12)


def test_quantile_convention_hand_computed():
    """Values 1..5, weights 1, 0, 0, 1, 1: positions 1/6, 1/3, 1/3, 1/2, 5/6, so the median is 4.0
    (OpenQuake's cumsum/sum convention gives 3.5). q = 0.25 lies between 1/6 (value 1) and 1/3
    (value 2): 1 + (0.25 - 1/6) / (1/6) = 1.5."""
    values = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    weights = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(weighted_quantiles(values, weights, np.array([0.5, 0.0, 1.0, 0.25])), [[4.0], [1.0], [5.0], [1.5]])


def test_subset_renormalises_and_says_so():
    model = random_model(0)
    keep = [leaf.id for leaf in model.leaves if leaf.id != "A-1"] if any(leaf.id == "A-2" for leaf in model.leaves) else None
    if keep is None:
        pytest.skip("seed 0 has a single A leaf")
    tree = build_tree(model, leaves=keep)
    assert tree.renormalised and tree.axes[0].weights.sum() == pytest.approx(1.0)
    components = random_components(model, 0)
    sub = HazardModel(model.name, "", tuple(x for x in model.leaves if x.id in keep), model.gmm_branches, model.settings, None,
                      tuple(SourceGroup(g.fault_systems, tuple(c for c in g.choices if set(c) <= set(keep)),
                                        tuple(w for c, w in zip(g.choices, g.weights, strict=True) if set(c) <= set(keep))) for g in model.source_groups))  # fmt: skip
    expected = brute_force(sub, components, 1.0, (0.5,))
    result = aggregate(tree, as_array(tree, components), quantiles=(0.5,))
    np.testing.assert_allclose(result.stats["mean"], expected["mean"], rtol=1e-9)
    np.testing.assert_allclose(result.stats["0.5"], expected["0.5"], rtol=1e-9)


def test_sampling_converges_to_the_exact_statistics():
    model = random_model(5)
    tree = build_tree(model)
    probs = as_array(tree, random_components(model, 5, n_bins=40))
    exact = aggregate(tree, probs)
    sampled = aggregate(tree, probs, n_samples=20_000, seed=7, method="sampling")
    assert sampled.method == "sampling" and sampled.n_samples == 20_000
    np.testing.assert_array_equal(sampled.stats["mean"], exact.stats["mean"])  # the mean stays exact
    assert 0 < sampled.convergence < 0.05
    # Each sampled quantile sits where the exact weighted CDF is within a DKW bound of q
    # (20,000 samples: |F_n - F| > 0.02 has probability < 2 exp(-16)). Values cannot be compared
    # directly: on a small discrete tree the exact quantile interpolates between atoms.
    values = composite_rates(tree, -np.log1p(-probs)).T
    weights = tree.composite_weights()
    for q in (0.05, 0.5, 0.95):
        x = -np.log1p(-sampled.stats[f"{q:g}"])
        below = ((values < x - 1e-15) * weights[:, None]).sum(axis=0)
        at_or_below = ((values <= x + 1e-15) * weights[:, None]).sum(axis=0)
        assert np.all(below - 0.02 - 1 / 20_000 <= q) and np.all(q <= at_or_below + 0.02)
    again = aggregate(tree, probs, n_samples=20_000, seed=7, method="sampling")
    np.testing.assert_array_equal(again.stats["0.9"], sampled.stats["0.9"])  # seeded: reproducible


def test_equal_weight_shortcut_is_the_weighted_convention():
    values = np.random.default_rng(3).random((501, 6))
    values[:50, 2] = 0.0  # ties
    qs = np.array(DEFAULT_QUANTILES + (0.0, 1.0))
    np.testing.assert_allclose(equal_weight_quantiles(values, qs), weighted_quantiles(values.T, np.ones(501), qs), rtol=1e-12)


def test_zero_everywhere_is_zero_not_nan():
    model = random_model(1)
    tree = build_tree(model)
    result = aggregate(tree, np.zeros((len(tree.components), 3)))
    for name, value in result.stats.items():
        np.testing.assert_array_equal(value, 0.0, err_msg=name)


def one_block_tree() -> CompositeTree:
    """One fault system, 3 source branches x 2 GMM branches: one block, nothing to split."""
    axes = (
        Axis("source:A", ("a1", "a2", "a3"), np.array([0.5, 0.3, 0.2])),
        Axis("gmm:crust", ("g1", "g2"), np.array([0.6, 0.4])),
    )
    rows = np.arange(6).reshape(1, 3, 2)
    return CompositeTree(axes, (Term(0, 1, ("A",), rows),), tuple((f"a{i}", f"g{j}") for i in (1, 2, 3) for j in (1, 2)), False)


def test_auto_falls_back_by_tree_and_budget():
    """Meet-in-the-middle where the blocks split; else enumeration within the budget, else sampling.
    An unknown method, or meet-in-the-middle for a tree that cannot split, is refused by name."""
    assert quantile_method(build_tree(random_model(2)), 7, 17) == "meet-in-the-middle"
    tree = one_block_tree()
    assert quantile_method(tree, 7, 17) == "enumeration"
    assert quantile_method(tree, 7, 17, budget=6 * 7 - 1) == "sampling"
    probs = np.random.default_rng(0).random((6, 7)) * 1e-3
    assert aggregate(tree, probs).method == "enumeration"
    with pytest.raises(BadRequest, match="do not split"):
        aggregate(tree, probs, method="meet-in-the-middle")
    with pytest.raises(BadRequest, match="unknown quantile method 'bootstrap'"):
        aggregate(tree, probs, method="bootstrap")


def test_enumeration_asked_for_by_name_is_held_to_the_budget():
    """Named explicitly, enumeration skipped its budget: NSHM's 979,776 composites x a disaggregation's
    bins asked for without limit. Refused before anything is computed; within the budget it runs."""
    tree = one_block_tree()
    probs = np.random.default_rng(0).random((6, 7)) * 1e-3
    assert aggregate(tree, probs, method="enumeration", budget=6 * 7).method == "enumeration"
    with pytest.raises(
        BadRequest, match="quantile_method: enumeration of 6 composite branches x 7 bins is over the budget of 41"
    ):
        aggregate(tree, probs, method="enumeration", budget=6 * 7 - 1)


def test_bad_inputs():
    tree = build_tree(random_model(1))
    with pytest.raises(BadRequest, match="component values"):
        aggregate(tree, np.zeros((1, 3)))
    with pytest.raises(BadRequest, match="quantiles"):
        aggregate(tree, np.zeros((len(tree.components), 3)), quantiles=(1.5,))
    with pytest.raises(BadRequest, match="no branch of fault system"):
        build_tree(random_model(1), leaves=["A-1"])


@pytest.mark.parametrize("seed", range(4))
def test_window_quantiles_equal_the_stable_sort_on_large_rows(seed):
    """Rows of >= 100,000 values take the histogram-window path: same answer as a full stable sort,
    with ties, zeros and zero weights."""
    rng = np.random.default_rng(seed)
    n = 150_000
    row = 10 ** rng.uniform(-12, -2, n)
    row[rng.random(n) < 0.2] = 0.0
    row[:5000] = row[5000]  # a block of ties
    row[rng.random(n) < 0.05] = 3.3e-7  # scattered ties
    weights = rng.random(n)
    weights[rng.random(n) < 0.01] = 0.0
    qs = np.array(DEFAULT_QUANTILES + (0.0, 1.0, 0.2 + 1e-9))
    order = np.argsort(row, kind="stable")
    w = weights[order]
    expected = np.interp(qs, (np.cumsum(w) - 0.5 * w) / weights.sum(), row[order])
    got = weighted_quantiles(np.stack([row, row[::-1]]), weights, qs)
    # 1e-10, not exact: the weight before a window is a histogram sum, added in another order than a cumsum
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-10)
    order = np.argsort(row[::-1], kind="stable")
    w = weights[order]
    np.testing.assert_allclose(got[:, 1], np.interp(qs, (np.cumsum(w) - 0.5 * w) / weights.sum(), row[::-1][order]), rtol=1e-10)


@pytest.mark.parametrize("p", [0.0, 1e-12, 1e-6, 9.99e-4, 1e-3, 0.1, 0.9])
def test_prob_to_rate_series_matches_log1p(p):
    from hazflow.aggregate.stats import prob_to_rate

    assert prob_to_rate(np.array([p]), 1.0)[0] == pytest.approx(-np.log1p(-p), rel=1e-12, abs=0)


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_block_layout_holds_the_same_composites(seed):
    from hazflow.aggregate.engine import blocked_row
    from hazflow.aggregate.tree import block_values_of

    model = random_model(seed)
    tree = build_tree(model)
    rates = -np.log1p(-as_array(tree, random_components(model, seed)))
    blocks, canonical, weights = tree.block_layout()
    block_values = [block_values_of(tree, block, rates)[0] for block in blocks]
    blocked = np.stack([blocked_row(block_values, b) for b in range(rates.shape[1])])
    np.testing.assert_allclose(blocked, composite_rates(tree, rates)[:, canonical], rtol=1e-14)
    np.testing.assert_array_equal(weights, tree.composite_weights()[canonical])


@pytest.mark.parametrize("bad", [-1e-9, 1.0, 2.0, np.nan])
def test_probabilities_outside_0_1_are_refused_before_any_statistic(bad):
    """The quantile method orders non-negative rates by their bits: bad input must not reach it."""
    from hazflow.exceptions import DataIntegrityError

    tree = build_tree(random_model(1))
    probs = np.full((len(tree.components), 3), 1e-3)
    probs[0, 1] = bad
    with pytest.raises(DataIntegrityError, match=r"must lie in \[0, 1\)"):
        aggregate(tree, probs)
