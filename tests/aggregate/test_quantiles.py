"""Meet-in-the-middle quantiles against full enumeration (every composite, stable sort, midpoint
convention) on random trees of 2-5 blocks, with ties, zero weights, zero rates and empty bins."""

from __future__ import annotations

from math import prod

import numpy as np
import pytest

from hazflow.aggregate.engine import composite_rates
from hazflow.aggregate.quantiles import MAX_SIDE, SEARCHES, choose_split, mitm_quantiles
from hazflow.aggregate.stats import weighted_quantiles
from hazflow.aggregate.tree import Axis, CompositeTree, Term, build_tree
from hazflow.model.logic_tree import load_model
from hazflow.model.nshm import DEFAULT_QUANTILES

QS = np.array((0.0, *DEFAULT_QUANTILES, 1.0))


def random_tree(rng: np.random.Generator, n_blocks: int, zero_weights: bool = False) -> CompositeTree:
    """Blocks of one source axis and one GMM axis each, 1-2 fault systems per block; the axes of
    a block are not adjacent (source axes first, GMM axes after), as in real trees."""
    source_axes, gmm_axes, terms, n_rows = [], [], [], 0
    for k in range(n_blocks):
        n_source, n_gmm, n_fs = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 3))
        for axes, n, name in ((source_axes, n_source, "source"), (gmm_axes, n_gmm, "gmm")):
            w = rng.dirichlet(np.ones(n))
            if zero_weights and n > 2:
                w[rng.integers(n)] = 0.0
                w /= w.sum()
            axes.append(Axis(f"{name}:{k}", tuple(f"{name}{k}-{i}" for i in range(n)), w))
        rows = np.arange(n_rows, n_rows + n_fs * n_source * n_gmm).reshape(n_fs, n_source, n_gmm)
        n_rows += rows.size
        terms.append(Term(k, n_blocks + k, tuple(f"FS{k}.{f}" for f in range(n_fs)), rows))
    components = tuple((f"leaf{r}", "g") for r in range(n_rows))
    return CompositeTree(tuple(source_axes + gmm_axes), tuple(terms), components, False)


def random_rates(rng: np.random.Generator, tree: CompositeTree, n_bins: int, kind: str) -> np.ndarray:
    n = len(tree.components)
    if kind == "continuous":  # spread over decades, as disaggregation bins are
        rates = rng.random((n, n_bins)) * 10.0 ** rng.uniform(-7, -1, (n, n_bins))
    elif kind == "ties":  # small dyadic values: sums are exact in any order, so ties are real ties
        rates = rng.integers(0, 4, (n, n_bins)) / 1024.0
    else:  # "zeros": most components contribute nothing, some bins are empty
        rates = rng.random((n, n_bins)) * (rng.random((n, n_bins)) < 0.3) * 1e-3
        rates[:, ::3] = 0.0
    return rates


def enumerated(tree: CompositeTree, rates: np.ndarray, qs: np.ndarray = QS) -> np.ndarray:
    return weighted_quantiles(composite_rates(tree, rates), tree.composite_weights(), qs)


def assert_equal_to_enumeration(got: np.ndarray, tree: CompositeTree, rates: np.ndarray, qs: np.ndarray = QS) -> None:
    """Equal at 1e-12 relative, or within 1e-12 of the bin's largest composite rate.

    Both methods place the composites at positions from cumulative weights rounded differently
    (a sequential sum over every composite there, sums per side here), about 1e-16 apart. A
    quantile interpolated between two composites far apart in rate moves by that difference times
    the slope, which can exceed 1e-12 of a small quantile (one just above a run of zeros); it stays
    below 1e-12 of the bin's scale. Picking a wrong composite moves it by the gap between
    neighbouring composites, orders of magnitude more.
    """
    expected = enumerated(tree, rates, qs)
    scale = composite_rates(tree, rates).max(axis=1)
    bad = ~(np.abs(got - expected) <= np.maximum(1e-12 * np.abs(expected), 1e-12 * scale[None, :]))
    assert not bad.any(), f"{bad.sum()} quantiles differ: got {got[bad]}, enumeration {expected[bad]}"


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("kind", ["continuous", "ties", "zeros"])
@pytest.mark.parametrize("n_blocks", [2, 3, 4, 5])
@pytest.mark.parametrize("seed", range(4))
def test_equals_full_enumeration(seed, n_blocks, kind, search):
    rng = np.random.default_rng(1000 * n_blocks + seed)
    tree = random_tree(rng, n_blocks, zero_weights=seed % 2 == 1)
    rates = random_rates(rng, tree, 9, kind)
    # q = 1 with zero-weight composites at the top: their positions are sum(w) / sum(w), 1 or 1 + ulp
    # depending on how the cumulative sum rounds, so enumeration itself is arbitrary there
    qs = QS[:-1] if seed % 2 == 1 else QS
    assert_equal_to_enumeration(mitm_quantiles(tree, rates, qs, search=search), tree, rates, qs)


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("seed", range(3))
def test_many_pairs_per_quantile(seed, search):
    """Trees with thousands of composites, so each quantile's search runs for several steps."""
    rng = np.random.default_rng(seed)
    tree = random_tree(rng, 3)
    while tree.n_composites < 2000:
        tree = random_tree(rng, 3)
    rates = random_rates(rng, tree, 5, "continuous")
    assert_equal_to_enumeration(mitm_quantiles(tree, rates, QS, search=search), tree, rates)


@pytest.mark.parametrize("search", SEARCHES)
def test_a_run_of_ties_wider_than_the_window(search):
    """Most composites at rate 0, the quantiles inside and at the edge of that run."""
    rng = np.random.default_rng(5)
    tree = random_tree(rng, 4)
    while tree.n_composites < 3000:
        tree = random_tree(rng, 4)
    rates = np.zeros((len(tree.components), 4))
    rates[rng.random(len(tree.components)) < 0.1, 1] = 1.0 / 64
    rates[rng.random(len(tree.components)) < 0.02, 2] = 3.0 / 64
    qs_fine = np.linspace(0, 1, 101)
    assert_equal_to_enumeration(mitm_quantiles(tree, rates, qs_fine, search=search), tree, rates, qs_fine)


@pytest.fixture(scope="module")
def nshm_tree() -> CompositeTree:
    return build_tree(load_model("NSHM_v1.0.4"))


@pytest.mark.parametrize("search", SEARCHES)
def test_nshm_split_and_bins_of_the_real_tree(nshm_tree, search):
    tree = nshm_tree
    sizes = [prod(tree.shape[a] for a in block) for block in tree.blocks()]
    split = choose_split(sizes)
    assert sizes == [108, 756, 12] and split is not None
    assert (split.n_small, split.n_large) == (108, 9072)
    rng = np.random.default_rng(2)
    levels = np.linspace(0.1, 2.0, 3)
    scale = 10 ** rng.normal(0, 0.3, (len(tree.components), 1))
    rates = 1e-3 * scale * np.exp(-3 * levels)[None, :]
    rates[rng.random(len(tree.components)) < 0.2, 2] = 0.0
    assert_equal_to_enumeration(mitm_quantiles(tree, rates, QS, search=search), tree, rates)


def test_a_tree_of_one_block_does_not_split():
    assert choose_split([500]) is None
    assert choose_split([MAX_SIDE * 2, MAX_SIDE * 2]) is None
