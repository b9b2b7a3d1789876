"""Hazard-curve realizations as the aggregation reads them: one matrix of the tree's components,
checked to share one level grid and one set of settings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hazflow.aggregate.inputs import in_tree_order
from hazflow.aggregate.tree import CompositeTree
from hazflow.exceptions import DataIntegrityError
from hazflow.store import HazardRealization


def component_array(tree: CompositeTree, rows: Sequence[HazardRealization], target: str) -> tuple[np.ndarray, np.ndarray]:
    """(levels, probabilities (n_components, n_levels)) in the tree's row order; lists exactly what is missing."""
    chosen = in_tree_order(tree, rows, target)
    levels = chosen[0].levels
    digests = {r.settings_digest for r in chosen}
    if len(digests) != 1:
        raise DataIntegrityError(f"{target}: realizations computed with different settings {sorted(digests)}")
    if any(not np.array_equal(r.levels, levels) for r in chosen):
        raise DataIntegrityError(f"{target}: realizations on different level grids")
    return levels, np.stack([r.values for r in chosen])
