"""Aggregate stored disaggregation realizations of a target over the logic tree, with closure.

Each leaf's realization only has its own tectonic region's TRT bin; here every realization is
placed on the model's common axes (all regions x Mag x Dist x Eps, 3 x 25 x 17 x 16 = 20,400 bins
for NSHM) so that leaves add bin by bin. The closure check compares the sum over bins of the mean,
as a probability, with the target's annual PoE: the disaggregation should account for all the
hazard at the level read off the mean curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hazflow.aggregate.engine import Aggregate, aggregate
from hazflow.aggregate.inputs import in_tree_order, provenance, require_all
from hazflow.aggregate.stats import DEFAULT_QUANTILES, prob_to_rate
from hazflow.aggregate.tree import CompositeTree
from hazflow.exceptions import DataIntegrityError
from hazflow.imtl import annual_poe
from hazflow.jobs import target_label
from hazflow.model import HazardModel
from hazflow.settings import CalcSettings
from hazflow.sites import Site
from hazflow.store import DisaggAggregate, DisaggRealization, Store

AXES = ("TRT", "Mag", "Dist", "Eps")


def common_edges(settings: CalcSettings) -> dict[str, np.ndarray]:
    return {"Mag": np.asarray(settings.mag_edges), "Dist": np.asarray(settings.dist_edges), "Eps": np.asarray(settings.eps_edges)}


def component_matrix(
    model: HazardModel, tree: CompositeTree, rows: Sequence[DisaggRealization], target: str
) -> tuple[float, np.ndarray]:
    """(iml, probabilities (n_components, n_trt * n_mag * n_dist * n_eps)) on the model's common axes."""
    chosen = in_tree_order(tree, rows, target, "disaggregation realizations")
    imls = {round(r.iml, 12) for r in chosen}
    if len(imls) != 1:
        raise DataIntegrityError(f"{target}: realizations disaggregated at different levels {sorted(imls)}")
    edges = common_edges(model.settings)
    trts = model.trts
    shape = (len(trts), len(edges["Mag"]) - 1, len(edges["Dist"]) - 1, len(edges["Eps"]) - 1)
    out = np.zeros((len(chosen),) + shape)
    for i, r in enumerate(chosen):
        if r.axes != AXES or r.values.shape[1:] != shape[1:]:
            raise DataIntegrityError(f"{target}: {r.leaf} x {r.gmm} has axes {r.axes} {r.values.shape}, expected {AXES} {shape}")
        for axis, expected in edges.items():
            if not np.allclose(r.bin_edges[axis], expected):
                raise DataIntegrityError(f"{target}: {r.leaf} x {r.gmm} has other {axis} bin edges than the settings'")
        for j, trt in enumerate(r.trts):
            out[i, trts.index(trt)] = r.values[j]
    return float(chosen[0].iml), out.reshape(len(chosen), -1)


def plan_disagg_aggregation(
    store: Store,
    model: HazardModel,
    tree: CompositeTree,
    sites: Sequence[Site],
    vs30s: Sequence[float],
    imts: Sequence[str],
    poes: Sequence[float],
) -> list[tuple[Site, float, str, float]]:
    """The (site, VS30, IMT, PoE) targets; fails before any compute, listing every missing realization."""
    targets = [(s, v, i, p) for s in sites for v in vs30s for i in imts for p in poes]

    def check(site: Site, vs30: float, imt: str, poe: float):
        rows = store.get_disagg_realizations(model.name, site.code, vs30, imt, poe)
        return lambda: component_matrix(model, tree, rows, target_label(site.id, vs30, imt, poe))

    require_all(((target_label(s.id, v, i, p), check(s, v, i, p)) for s, v, i, p in targets), "Run the disaggregations first.")
    return targets


def closure(mean_prob: np.ndarray, poe: float, investigation_time: float = 1.0) -> float:
    """Sum over bins of the mean, as a probability over the investigation time, / the target's annual PoE."""
    total_rate = prob_to_rate(mean_prob, investigation_time).sum()
    return float(-np.expm1(-total_rate * investigation_time) / annual_poe(poe))


def aggregate_disagg(
    store: Store,
    model: HazardModel,
    tree: CompositeTree,
    site: Site,
    vs30: float,
    imt: str,
    poe: float,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_samples: int = 10_000,
    seed: int = 42,
) -> tuple[list[DisaggAggregate], Aggregate]:
    """Compute, check closure and store the statistics of one disaggregation target."""
    target = f"{model.name} {target_label(site.id, vs30, imt, poe)}"
    rows = store.get_disagg_realizations(model.name, site.code, vs30, imt, poe)
    iml, probs = component_matrix(model, tree, rows, target)
    result = aggregate(tree, probs, model.settings.investigation_time, tuple(quantiles), n_samples=n_samples, seed=seed)
    closed = closure(result.stats["mean"], poe, model.settings.investigation_time)
    shape = (len(model.trts), -1, *[len(e) - 1 for e in list(common_edges(model.settings).values())[1:]])
    prov = provenance(tree, rows, result, seed=seed if result.method == "sampling" else None)
    out = [
        DisaggAggregate(
            model.name,
            site.code,
            float(vs30),
            imt,
            float(poe),
            name,
            iml,
            AXES,
            model.trts,
            common_edges(model.settings),
            values.reshape(shape),
            closed,
            prov,
        )  # fmt: skip
        for name, values in result.stats.items()
    ]
    store.put_disagg_aggregates(out)
    return out, result
