"""The steps of area_extract: an area's hazard bundle for OpenQuake's risk calculators.

Missing hazard is computed, never guessed: the classical runs of the sites that have no realizations
(the sites together, one OpenQuake run per leaf x VS30, as hazard_realizations plans them), then the
aggregation of every site without the requested curve. The CLI runs the steps in turn
(`compute_missing`, then `extract_area`: the bundle under a folder); the DAG maps them: `plan_jobs`
-> run and ingest each job (hazard_realizations' steps) -> `plan_targets` -> `aggregate_batch` for each
batch -> `keep_bundle` (the bundle written to a scratch folder and kept in the store under
`extracts/<model>/`, S3 on aws) -> `summarise`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hazflow.aggregate.hazard import component_array
from hazflow.aggregate.tree import CompositeTree
from hazflow.config import Config
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.extract.bundle import KEPT_POINTER as POINTER
from hazflow.extract.bundle import KEPT_PREFIX as STORE_PREFIX
from hazflow.extract.bundle import BundleManifest, collect_curves, missing_hazard, write_bundle
from hazflow.extract.exposure import ExposureSelection, select_sites
from hazflow.extract.request import AreaRequest
from hazflow.ingest.realizations import ingest_job
from hazflow.model.sites import Site
from hazflow.openquake.runner import engine_version
from hazflow.openquake.spec import JobSpec
from hazflow.plan.batches import split
from hazflow.plan.request import HazardAggregationRequest, HazardRequest
from hazflow.run.job import run_job
from hazflow.steps import XCom, deployment
from hazflow.steps.hazard_aggregation import HazardBatchResult, HazardTarget, aggregate_hazard_batch
from hazflow.steps.hazard_realizations import job_batches
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


def resolve_area(params: Mapping[str, Any], config: Config) -> tuple[AreaRequest, ExposureSelection | None]:
    """The validated request; with an exposure, narrowed to the sites OpenQuake will give its assets
    to (associated once per exposure, sites and distance, then read back), before any hazard is read."""
    request = AreaRequest.parse(params)
    if not request.exposure:
        return request, None
    selection = select_sites(
        request.exposure, list(request.sites), request.asset_hazard_distance, request.area.text, config.work_dir,
        config.openquake(), config.aws_endpoint, config.aws_region,
    )  # fmt: skip
    return request.keep(selection.kept, selection.exposure.digest), selection


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
    request, _ = resolve_area(params, config)
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
    request, _ = resolve_area(params, config)
    return split([HazardTarget(s, v) for s, v in _missing_targets(request, config.open_store())])


def aggregate_area_batch(params: Mapping[str, Any], targets: Sequence[HazardTarget], config: Config) -> HazardBatchResult:
    """hazard_aggregation's batch step for the area's sites: every IMT, the NSHM quantiles and the requested one."""
    request = AreaRequest.parse(params)  # the candidate sites will do: the batch's targets are the sites
    return aggregate_hazard_batch(request.hazard_params(tuple(t.site for t in targets)), targets, config)


def compute_missing(params: Mapping[str, Any], config: Config) -> ComputeResult:
    """Run, ingest and aggregate what the area lacks, here, step by step (the CLI's `--compute`).
    OpenQuake runs `config.oq_parallel` jobs at a time, each its own process; ingests follow in turn."""
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


def extract_area(params: Mapping[str, Any], config: Config, dest: Path) -> BundleManifest:
    """Validate, compute the missing hazard when `compute` is set (else refuse it), write the bundle under `dest`."""
    request, exposure = resolve_area(params, config)
    computed = compute_missing(params, config).to_dict() if request.compute else {}
    manifest = write_bundle(request, config.open_store(), dest, exposure)
    manifest.computed = computed
    return manifest


def bundle_store_name(request: AreaRequest) -> str:
    """Where the store keeps a request's bundle: `extracts/<model>/<name>/`, one folder per version
    written (`versions/<version>/`, the bundle's files and its zip) and `CURRENT.json`, the pointer."""
    return f"{STORE_PREFIX}/{request.model.name}/{request.name}"


def keep_area_bundle(params: Mapping[str, Any], config: Config) -> BundleManifest:
    """Write the bundle (every curve must be stored) and keep it in the store as a new version: each
    file and the zip under `versions/<version>/`, then the pointer `CURRENT.json` naming it, last.
    A reader that follows the pointer sees one whole version, never files of two (S3 has no rename:
    a rerun rewriting the same names would mix them); two writers each finish their own version, and
    the pointer names the last. The manifest gives the store's locations."""
    request, exposure = resolve_area(params, config)
    store = config.open_store()
    prefix = bundle_store_name(request)
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"  # unique per writer, sorts by time
    kept = f"{prefix}/versions/{version}"
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_bundle(request, store, Path(tmp), exposure)
        for rel in manifest.files:
            store.put_report(f"{kept}/{rel}", Path(manifest.folder) / rel)
        zip_name = f"{kept}/{request.name}.zip"
        store.put_report(zip_name, Path(manifest.zip))
        manifest.folder, manifest.zip = store.report_uri(kept), store.report_uri(zip_name)
        pointer = Path(tmp) / POINTER
        pointer.write_text(json.dumps({"name": request.name, "version": version, "folder": manifest.folder,
                                       "zip": manifest.zip, "files": list(manifest.files)}, indent=1))  # fmt: skip
        store.put_report(f"{prefix}/{POINTER}", pointer)
    logger.info("bundle %s kept at %s (version %s)", request.name, manifest.zip, version)
    return manifest


def summarise_bundle(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the DAG's summary shows of a kept bundle: where it is and what it holds."""
    request = manifest["request"]
    return {
        "bundle": manifest["zip"], "folder": manifest["folder"], "name": manifest["name"], "sites": len(manifest["sites"]),
        "imts": request["imts"], "stat": request["stat"], "vs30": request["vs30"], "model": request["model"],
        "oq_version": sorted(manifest["provenance"].get("oq_version", {})),
    }  # fmt: skip


# --- the DAG's tasks: XCom values ---
def plan_jobs(params: Mapping[str, Any], config: Config | None = None) -> list[XCom]:
    """`plan`: the classical jobs of the sites without realizations, in batches as hazard_realizations
    maps them (none: nothing to run)."""
    return job_batches(plan_area_jobs(params, deployment(config)))


def plan_targets(params: Mapping[str, Any], config: Config | None = None) -> list[list[XCom]]:
    """`targets`: the (site, VS30) targets still lacking the curve, in batches."""
    return [[t.to_dict() for t in batch] for batch in area_targets(params, deployment(config))]


def aggregate_batch(batch: list[XCom], params: Mapping[str, Any], config: Config | None = None) -> XCom:
    """`aggregate`: hazard_aggregation's batch step for the area's sites."""
    return aggregate_area_batch(params, [HazardTarget.from_dict(t) for t in batch], deployment(config)).to_dict()


def keep_bundle(params: Mapping[str, Any], config: Config | None = None) -> XCom:
    """`bundle`: the bundle kept in the store; its manifest."""
    return keep_area_bundle(params, deployment(config)).to_dict()


def summarise(kept: XCom) -> XCom:
    """`summary`: where the bundle is and what it holds."""
    return summarise_bundle(kept)
