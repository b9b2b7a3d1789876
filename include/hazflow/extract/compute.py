"""Missing hazard of an area, computed (never guessed): the classical runs of the sites that have no
realizations (the sites together, one OpenQuake run per leaf x VS30, as hazard_realizations plans
them), then the aggregation of every site without the requested curve.

The CLI runs the steps in turn (`compute_missing`); the `area_extract` DAG maps them: `plan_area_jobs`
-> run and ingest each job -> `area_targets` -> `aggregate_area_batch` for each batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hazflow.aggregate.hazard import HazardBatchResult, HazardTarget, aggregate_hazard_batch, component_array
from hazflow.aggregate.tree import CompositeTree
from hazflow.config import Config
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.extract.bundle import collect_curves, missing_hazard
from hazflow.extract.request import AreaRequest
from hazflow.model.sites import Site
from hazflow.plan.batches import split
from hazflow.plan.jobs import JobSpec
from hazflow.plan.request import HazardAggregationRequest, HazardRequest
from hazflow.store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComputeResult:
    """What computing an area's missing hazard did."""

    sites: int  # sites that lacked the curve, each aggregated
    jobs: int  # classical jobs planned for the sites without realizations
    openquake_runs: int  # of which OpenQuake ran (the others the ledger had)

    def to_dict(self) -> dict[str, Any]:
        return vars(self).copy()


def _missing_targets(request: AreaRequest, store: Store) -> list[tuple[Site, float]]:
    missing = missing_hazard(request, store)
    if missing and not request.compute:
        collect_curves(request, store)  # raises, listing the sites (or naming a wrong stat or IMT)
    return [(s, v) for s, v in request.targets if s.code in missing]


def _has_realizations(store: Store, request: AreaRequest, tree: CompositeTree, site: Site, vs30: float) -> bool:
    try:
        for imt in request.imts:
            component_array(tree, store.get_hazard_realizations(request.model.name, site.code, vs30, imt), site.code)
    except (BadRequest, DataIntegrityError):  # missing, or not all of one kind: computed again
        return False
    return True


def _aggregation_request(request: AreaRequest) -> HazardAggregationRequest:
    return HazardAggregationRequest.parse(request.hazard_params(), runnable=False)


def plan_area_jobs(params: Mapping[str, Any], config: Config) -> list[JobSpec]:
    """The classical jobs the area's missing hazard needs: one per leaf x VS30 for the sites without
    realizations (none when every site has its curve); refuses missing hazard without `compute`."""
    from hazflow.openquake.runner import engine_version

    request = AreaRequest.parse(params)
    store = config.open_store()
    targets = _missing_targets(request, store)
    if not targets:
        logger.info("area %s: every site's %s curve is stored", request.name, request.stat)
        return []
    tree = _aggregation_request(request).tree()
    to_run = [(s, v) for s, v in targets if not _has_realizations(store, request, tree, s, v)]
    jobs = []
    for vs30 in sorted({v for _, v in to_run}):  # the sites of one VS30 share its runs
        sites = tuple(s for s, v in to_run if v == vs30)
        jobs += HazardRequest.parse(request.hazard_params(sites, vs30)).jobs(engine_version(config.oq_python))
    logger.info(
        "area %s: %d of %d site(s) lack the %s curve, %d of them realizations: %d classical job(s)",
        request.name, len(targets), len(request.sites), request.stat, len(to_run), len(jobs),
    )  # fmt: skip
    return jobs


def area_targets(params: Mapping[str, Any], config: Config) -> list[list[HazardTarget]]:
    """The (site, VS30) targets still lacking the curve, batched for mapping (none: nothing to aggregate)."""
    request = AreaRequest.parse(params)
    return split([HazardTarget(s, v) for s, v in _missing_targets(request, config.open_store())])


def aggregate_area_batch(params: Mapping[str, Any], targets: Sequence[HazardTarget], config: Config) -> HazardBatchResult:
    """hazard_aggregation's batch step for the area's sites: every IMT, the NSHM quantiles and the requested one."""
    return aggregate_hazard_batch(AreaRequest.parse(params).hazard_params(), targets, config)


def compute_missing(params: Mapping[str, Any], config: Config) -> ComputeResult:
    """Run, ingest and aggregate what the area lacks, here, step by step (the CLI's `--compute`).
    OpenQuake runs `config.oq_parallel` jobs at a time, each its own process; ingests follow in turn."""
    from concurrent.futures import ThreadPoolExecutor

    from hazflow.ingest.realizations import ingest_job
    from hazflow.run.job import run_job

    jobs = plan_area_jobs(params, config)
    store = config.open_store()
    with ThreadPoolExecutor(max(1, min(config.oq_parallel, len(jobs) or 1))) as pool:
        outcomes = list(pool.map(lambda spec: run_job(spec, store, config), jobs))
    for spec, outcome in zip(jobs, outcomes, strict=True):
        ingest_job(spec, store)
        logger.info("%s: %s", spec.label, "reused" if outcome.skipped else f"ran in {outcome.oq_seconds:.1f} s")
    targets = [t for batch in area_targets(params, config) for t in batch]
    if targets:
        aggregate_area_batch(params, targets, config)
    ran = sum(not o.skipped for o in outcomes)
    return ComputeResult(sites=len(targets), jobs=len(jobs), openquake_runs=ran)
