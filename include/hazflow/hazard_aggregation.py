"""Aggregate stored hazard-curve realizations of a target (site, VS30, IMT) over the logic tree."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hazflow.aggregate.engine import aggregate
from hazflow.aggregate.inputs import in_tree_order, provenance, require_all
from hazflow.aggregate.stats import DEFAULT_QUANTILES
from hazflow.aggregate.tree import CompositeTree
from hazflow.exceptions import DataIntegrityError
from hazflow.jobs import target_label
from hazflow.model import HazardModel
from hazflow.sites import Site
from hazflow.store import HazardAggregate, HazardRealization, Store


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


def aggregate_hazard(
    store: Store,
    model: HazardModel,
    tree: CompositeTree,
    site: Site,
    vs30: float,
    imts: Sequence[str],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> list[HazardAggregate]:
    """Compute and store mean, std, cov and quantiles for each IMT at (site, VS30); returns what was stored."""
    out: list[HazardAggregate] = []
    for imt in imts:
        target = f"{model.name} {target_label(site.id, vs30, imt)}"
        rows = store.get_hazard_realizations(model.name, site.code, vs30, imt)
        levels, probs = component_array(tree, rows, target)
        result = aggregate(tree, probs, investigation_time=model.settings.investigation_time, quantiles=tuple(quantiles))
        prov = provenance(tree, rows, result)
        out += [
            HazardAggregate(model.name, site.code, float(vs30), imt, name, levels, values, prov)
            for name, values in result.stats.items()
        ]
    store.put_hazard_aggregates(out)
    return out


def plan_hazard_aggregation(
    store: Store, model: HazardModel, tree: CompositeTree, sites: Sequence[Site], vs30s: Sequence[float], imts: Sequence[str]
) -> list[tuple[Site, float]]:
    """The (site, VS30) targets to aggregate; fails before any compute if any realization is missing."""

    def check(site: Site, vs30: float, imt: str) -> Callable[[], object]:
        return lambda: component_array(
            tree, store.get_hazard_realizations(model.name, site.code, vs30, imt), target_label(site.id, vs30, imt)
        )

    require_all(
        ((target_label(s.id, v, i), check(s, v, i)) for s in sites for v in vs30s for i in imts),
        "Run hazard_realizations for them first.",
    )
    return [(site, vs30) for site in sites for vs30 in vs30s]
