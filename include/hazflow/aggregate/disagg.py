"""Disaggregation realizations as the aggregation reads them, and the closure of a result.

Each leaf's realization only has its own tectonic region's TRT bin; here every realization is
placed on the model's common axes (all regions x Mag x Dist x Eps, 3 x 25 x 17 x 16 = 20,400 bins
for NSHM) so that leaves add bin by bin. The closure compares the sum over bins of the mean, as a
probability, with the target's annual PoE: the disaggregation should account for all the hazard at
the level read off the mean curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hazflow.aggregate.inputs import in_tree_order
from hazflow.aggregate.stats import annual_poe, prob_to_rate
from hazflow.aggregate.tree import CompositeTree
from hazflow.exceptions import DataIntegrityError
from hazflow.model.logic_tree import HazardModel
from hazflow.model.settings import CalcSettings
from hazflow.store import DisaggRealization

AXES = ("TRT", "Mag", "Dist", "Eps")


def common_edges(settings: CalcSettings) -> dict[str, np.ndarray]:
    return {"Mag": np.asarray(settings.mag_edges), "Dist": np.asarray(settings.dist_edges), "Eps": np.asarray(settings.eps_edges)}


def component_matrix(
    model: HazardModel, tree: CompositeTree, rows: Sequence[DisaggRealization], target: str, target_stat: str = "mean"
) -> tuple[float, np.ndarray]:
    """(iml, probabilities (n_components, n_trt * n_mag * n_dist * n_eps)) on the model's common axes;
    the realizations must share one level, read off the `target_stat` curve, and the model's settings."""
    chosen = in_tree_order(tree, rows, target, "disaggregation realizations")
    stats = {r.target_stat for r in chosen}
    if stats != {target_stat}:
        raise DataIntegrityError(
            f"{target}: realizations disaggregated at levels read off the {'/'.join(sorted(stats))} hazard curve, "
            f"not the request's target_stat {target_stat}"
        )
    imls = {round(r.iml, 12) for r in chosen}
    if len(imls) != 1:
        raise DataIntegrityError(f"{target}: realizations disaggregated at different levels {sorted(imls)}")
    digests = {r.settings_digest for r in chosen}
    if digests != {model.settings.digest()}:
        raise DataIntegrityError(
            f"{target}: realizations computed with settings {sorted(digests)}, not the request's {model.settings.digest()} "
            f"(epsilon_star={str(model.settings.epsilon_star).lower()}); disaggregate again, or aggregate with the settings they had"
        )
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


def closure(mean_prob: np.ndarray, poe: float, investigation_time: float = 1.0, reference: float | None = None) -> float:
    """Sum over bins of the mean, as a probability over the investigation time, / the target's annual
    PoE (or / `reference`, an annual PoE: see `closure_reference`)."""
    total_rate = prob_to_rate(mean_prob, investigation_time).sum()
    return float(-np.expm1(-total_rate * investigation_time) / (annual_poe(poe) if reference is None else reference))


def closure_ok(closure_value: float, tolerance: float) -> bool:
    """Whether a closure is within `tolerance` (relative, e.g. 0.05) of 1."""
    return bool(abs(closure_value - 1.0) <= tolerance)
