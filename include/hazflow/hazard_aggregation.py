"""Aggregate stored hazard-curve realizations of a target (site, VS30, IMT) over the logic tree."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from hazflow.aggregate.engine import Aggregate, aggregate
from hazflow.aggregate.stats import DEFAULT_QUANTILES
from hazflow.aggregate.tree import CompositeTree
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model import HazardModel
from hazflow.sites import Site
from hazflow.store import DisaggRealization, HazardAggregate, HazardRealization, Store


class MissingRealizations(BadRequest):
    """Some component realizations the aggregation needs are not in the store."""


R = TypeVar("R", HazardRealization, DisaggRealization)


def in_tree_order(tree: CompositeTree, rows: Sequence[R], target: str, what: str = "component realizations") -> list[R]:
    """The stored rows of the tree's components, in its row order; lists exactly which are missing."""
    by_component = {(r.leaf, r.gmm): r for r in rows}
    missing = [f"{leaf} x {gmm}" for leaf, gmm in tree.components if (leaf, gmm) not in by_component]
    if missing:
        raise MissingRealizations(
            "realizations", f"{len(missing)} of {len(tree.components)} {what} missing for {target}: {', '.join(missing)}"
        )
    return [by_component[c] for c in tree.components]


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


def provenance(tree: CompositeTree, rows: Sequence[HazardRealization], result: Aggregate) -> str:
    """JSON saying what a stored aggregate was computed from and how."""
    used = {(r.leaf, r.gmm): r for r in rows}
    keys = sorted({used[c].job_key for c in tree.components})
    first = used[tree.components[0]]
    return json.dumps(
        {
            "components": len(tree.components),
            "composites": result.n_composites,
            "method": result.method,
            "renormalised": result.renormalised,
            "leaves": sorted({leaf for leaf, _ in tree.components}),
            "job_keys_digest": hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16],
            "jobs": len(keys),
            "oq_version": first.oq_version,
            "settings_digest": first.settings_digest,
        },
        sort_keys=True,
    )


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
        target = f"{model.name} {site.id} vs30={vs30:g} {imt}"
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


def validate_quantiles(quantiles: Sequence[float], field: str = "quantiles") -> tuple[float, ...]:
    values = []
    for q in quantiles:
        try:
            value = float(q)
        except (TypeError, ValueError):
            raise BadRequest(field, f"a quantile must be a number in [0, 1], got {q!r}") from None
        if not 0.0 <= value <= 1.0:
            raise BadRequest(field, f"a quantile must be a number in [0, 1], got {q!r}")
        values.append(value)
    if len(set(values)) != len(values):
        raise BadRequest(field, "duplicate quantiles")
    return tuple(values)


def plan_hazard_aggregation(
    store: Store, model: HazardModel, tree: CompositeTree, sites: Sequence[Site], vs30s: Sequence[float], imts: Sequence[str]
) -> list[tuple[Site, float]]:
    """The (site, VS30) targets to aggregate; fails before any compute if any realization is missing."""
    problems = []
    for site in sites:
        for vs30 in vs30s:
            for imt in imts:
                try:
                    component_array(
                        tree, store.get_hazard_realizations(model.name, site.code, vs30, imt), f"{site.id} vs30={vs30:g} {imt}"
                    )
                except MissingRealizations as e:
                    problems.append(e.message)
    if problems:
        raise MissingRealizations("realizations", "; ".join(problems) + ". Run hazard_realizations for them first.")
    return [(site, vs30) for site in sites for vs30 in vs30s]
