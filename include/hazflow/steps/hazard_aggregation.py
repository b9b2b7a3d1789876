"""The steps of hazard_aggregation: stored hazard-curve realizations of each target (site, VS30,
every IMT) aggregated over the logic tree, stored with provenance, and plotted.

`plan`, `aggregate_batch` and `summarise` are what the DAG's tasks and `python -m hazflow
aggregate-hazard` call, with the same Params; each returns its XCom value.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hazflow.aggregate.engine import aggregate
from hazflow.aggregate.hazard import component_array
from hazflow.aggregate.inputs import provenance, require_all
from hazflow.aggregate.methods import DEFAULT_QUANTILE_METHOD
from hazflow.aggregate.tree import CompositeTree
from hazflow.config import Config
from hazflow.model.logic_tree import HazardModel
from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.model.sites import Site
from hazflow.openquake.spec import target_label
from hazflow.plan.batches import batch_label as label_of_batch
from hazflow.plan.batches import split
from hazflow.plan.request import HazardAggregationRequest
from hazflow.report.summary import summarise_hazard_aggregation
from hazflow.steps import XCom, deployment
from hazflow.store import HazardAggregate, Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HazardTarget:
    """One (site, VS30) whose curves of every requested IMT are aggregated together."""

    site: Site
    vs30: float

    @property
    def label(self) -> str:
        return target_label(self.site.id, self.vs30)

    def to_dict(self) -> dict[str, Any]:
        return {"site": vars(self.site), "vs30": self.vs30}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HazardTarget:
        return cls(Site(**data["site"]), float(data["vs30"]))


@dataclass(frozen=True)
class HazardBatchResult:
    """What aggregating a batch of targets stored: counts, and where its plots are."""

    targets: int
    statistics: int
    plots: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"targets": self.targets, "statistics": self.statistics, "plots": list(self.plots)}


def aggregate_hazard(
    store: Store,
    model: HazardModel,
    tree: CompositeTree,
    site: Site,
    vs30: float,
    imts: Sequence[str],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    method: str = DEFAULT_QUANTILE_METHOD,
) -> list[HazardAggregate]:
    """Compute and store mean, std, cov and quantiles for each IMT at (site, VS30); returns what was stored."""
    out: list[HazardAggregate] = []
    for imt in imts:
        target = f"{model.name} {target_label(site.id, vs30, imt)}"
        rows = store.get_hazard_realizations(model.name, site.code, vs30, imt)
        levels, probs = component_array(tree, rows, target)
        result = aggregate(
            tree, probs, investigation_time=model.settings.investigation_time, quantiles=tuple(quantiles), method=method
        )
        prov = provenance(tree, rows, result)
        out += [
            HazardAggregate(model.name, site.code, float(vs30), imt, name, levels, values, prov)
            for name, values in result.stats.items()
        ]
    store.put_hazard_aggregates(out)
    return out


def required_targets(
    store: Store, model: HazardModel, tree: CompositeTree, sites: Sequence[Site], vs30s: Sequence[float], imts: Sequence[str]
) -> list[HazardTarget]:
    """The (site, VS30) targets to aggregate; fails before any compute if any realization is missing."""

    def check(site: Site, vs30: float, imt: str) -> Callable[[], object]:
        return lambda: component_array(
            tree, store.get_hazard_realizations(model.name, site.code, vs30, imt), target_label(site.id, vs30, imt)
        )

    require_all(
        ((target_label(s.id, v, i), check(s, v, i)) for s in sites for v in vs30s for i in imts),
        "Run hazard_realizations for them first.",
    )
    return [HazardTarget(site, vs30) for site in sites for vs30 in vs30s]


def plan_hazard_aggregation(params: Mapping[str, Any], config: Config) -> list[list[HazardTarget]]:
    """Validate the request, check every needed realization is stored (listing what is missing, before
    any compute), and batch the targets for mapping."""
    request = HazardAggregationRequest.parse(params, runnable=False)
    store = config.open_store()
    targets = required_targets(store, request.model, request.tree(), request.sites, request.vs30s, request.imts)
    logger.info("hazard aggregation of %s: %d target(s), every realization stored", request.model.name, len(targets))
    return split(targets)


def aggregate_hazard_batch(params: Mapping[str, Any], targets: Sequence[HazardTarget], config: Config) -> HazardBatchResult:
    """Aggregate each target of a batch for every IMT; store the statistics and a plot per IMT."""
    from hazflow.report.plots import hazard_plot_name, plot_hazard_curve

    request = HazardAggregationRequest.parse(params, runnable=False)
    store, tree, name = config.open_store(), request.tree(), request.model.name  # the tree's layout serves every target
    statistics, plots = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for t in targets:
            rows = aggregate_hazard(
                store, request.model, tree, t.site, t.vs30, request.imts, request.quantiles, request.quantile_method
            )
            statistics += len(rows)
            for imt in request.imts:
                png = plot_hazard_curve([r for r in rows if r.imt == imt], t.site, Path(tmp) / "plot.png")
                plots.append(store.put_report(hazard_plot_name(name, t.site, t.vs30, imt), png))
            logger.info("%s: %d statistics stored", t.label, len(rows))
    return HazardBatchResult(len(targets), statistics, tuple(plots))


# --- the DAG's tasks and the CLI: XCom values ---
def plan(params: Mapping[str, Any], config: Config | None = None) -> list[list[XCom]]:
    """`plan`: the targets in batches (one mapped `aggregate` each)."""
    return [[t.to_dict() for t in batch] for batch in plan_hazard_aggregation(params, deployment(config))]


def batch_label(batch: list[XCom]) -> str:
    """What the UI shows for a batch: its first target, and how many more."""
    return label_of_batch(HazardTarget.from_dict(batch[0]).label, len(batch))


def aggregate_batch(batch: list[XCom], params: Mapping[str, Any], config: Config | None = None) -> XCom:
    """`aggregate`: every target of the batch, stored and plotted."""
    return aggregate_hazard_batch(params, [HazardTarget.from_dict(t) for t in batch], deployment(config)).to_dict()


def summarise(batches: list[XCom]) -> XCom:
    """`summary`: targets, statistics and plots of every batch."""
    return summarise_hazard_aggregation(batches)
