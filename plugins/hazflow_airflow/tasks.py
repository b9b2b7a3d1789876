"""Task bodies: each is one domain step (`hazflow`) plus XCom shaping, with the configuration the
deployment gives (`HAZFLOW_*`, read when the task runs). Domain modules are imported inside each
body, so parsing a DAG file never loads numpy, h5py or AWS libraries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hazflow.config import Config

XCom = dict[str, Any]


def config() -> Config:
    """The deployment's configuration (the task's environment)."""
    from hazflow.config import Config

    return Config.from_env()


# --- hazard_realizations ---
def plan_hazard(params: Mapping[str, Any]) -> list[XCom]:
    from hazflow.plan.hazard import plan_hazard

    return [spec.to_dict() for spec in plan_hazard(params, config())]


def run_job(spec: XCom, force: bool) -> XCom:
    from hazflow.plan.jobs import JobSpec
    from hazflow.run.job import run_job

    c = config()
    return run_job(JobSpec.from_dict(spec), c.open_store(), c, force=force).to_dict()


def ingest_job(ran: XCom, force: bool) -> XCom:
    from hazflow.ingest.realizations import ingest_ran_job

    outcome = ingest_ran_job(ran["job_key"], config().open_store(), force=force).to_dict()
    return outcome | {"openquake_ran": not ran["skipped"]}  # did this DAG run start OpenQuake for the job?


def summarise_jobs(outcomes: list[XCom]) -> XCom:
    from hazflow.report.summary import summarise_outcomes

    return summarise_outcomes(outcomes)


def summarise_hazard_request(params: Mapping[str, Any], outcomes: list[XCom]) -> XCom:
    from hazflow.plan.hazard import summarise_hazard_request

    return summarise_hazard_request(params, outcomes)


# --- hazard_aggregation ---
def plan_hazard_aggregation(params: Mapping[str, Any]) -> list[list[XCom]]:
    from hazflow.aggregate.hazard import plan_hazard_aggregation

    return [[t.to_dict() for t in batch] for batch in plan_hazard_aggregation(params, config())]


def hazard_batch_label(batch: list[XCom]) -> str:
    from hazflow.aggregate.hazard import HazardTarget
    from hazflow.plan.batches import batch_label

    return batch_label(HazardTarget.from_dict(batch[0]).label, len(batch))


def aggregate_hazard_batch(batch: list[XCom], params: Mapping[str, Any]) -> XCom:
    from hazflow.aggregate.hazard import HazardTarget, aggregate_hazard_batch

    return aggregate_hazard_batch(params, [HazardTarget.from_dict(t) for t in batch], config()).to_dict()


def summarise_hazard_aggregation(batches: list[XCom]) -> XCom:
    from hazflow.report.summary import summarise_hazard_aggregation

    return summarise_hazard_aggregation(batches)


# --- disagg_realizations ---
def plan_disagg_realizations(params: Mapping[str, Any]) -> XCom:
    from hazflow.plan.disagg import plan_disagg_realizations

    return plan_disagg_realizations(params, config()).to_dict()


def ingest_disagg_batch(ran: XCom, force: bool) -> list[XCom]:
    from hazflow.ingest.realizations import ingest_planned_batch

    outcomes = ingest_planned_batch(ran["plan_id"], ran["batch"], config().open_store(), force=force)
    return [o.to_dict() | {"openquake_ran": ran["ran"].get(o.job_key, False)} for o in outcomes]


def summarise_disagg_realizations(plan_id: str, ingested: list[list[XCom]]) -> XCom:
    from hazflow.report.summary import summarise_disagg_request

    return summarise_disagg_request(plan_id, [o for batch in ingested for o in batch], config().open_store())


# --- disagg_aggregation ---
def plan_disagg_aggregation(params: Mapping[str, Any]) -> list[list[XCom]]:
    from hazflow.aggregate.disagg import plan_disagg_aggregation

    return [[t.to_dict() for t in batch] for batch in plan_disagg_aggregation(params, config())]


def disagg_batch_label(batch: list[XCom]) -> str:
    from hazflow.aggregate.disagg import DisaggTarget
    from hazflow.plan.batches import batch_label

    return batch_label(DisaggTarget.from_dict(batch[0]).label, len(batch))


def aggregate_disagg_batch(batch: list[XCom], params: Mapping[str, Any]) -> list[XCom]:
    from hazflow.aggregate.disagg import DisaggTarget, aggregate_disagg_batch

    return [r.to_dict() for r in aggregate_disagg_batch(params, [DisaggTarget.from_dict(t) for t in batch], config())]


def summarise_disagg_aggregation(batches: list[list[XCom]], exported: XCom, params: Mapping[str, Any]) -> XCom:
    from hazflow.plan.request import DisaggAggregationRequest
    from hazflow.report.summary import summarise_disagg_aggregation

    r = DisaggAggregationRequest.parse(params, runnable=False)
    return summarise_disagg_aggregation(batches, r.closure_tolerance, r.fail_on_closure, exported)


def export_disagg_aggregation(params: Mapping[str, Any]) -> XCom:
    from hazflow.export.request import keep_export

    return keep_export(params, config()).to_dict()


# --- coverage_backfill ---
def coverage_fill(params: Mapping[str, Any]) -> tuple[list[XCom], list[XCom]]:
    """The mapped arguments of one `fill` (TriggerDagRunOperator) per request to start, and the gaps found."""
    from hazflow.plan.coverage import coverage_fill

    found = coverage_fill(params["manifest"], params["max_runs"], config())
    fill = [{"conf": conf | {"runner": params["runner"]}, "wait_for_completion": bool(params["wait"])} for conf in found.confs]
    return fill, [gap.to_dict() for gap in found.gaps]


# --- area_extract ---
def plan_area_jobs(params: Mapping[str, Any]) -> list[XCom]:
    from hazflow.extract.compute import plan_area_jobs

    return [spec.to_dict() for spec in plan_area_jobs(params, config())]


def area_targets(params: Mapping[str, Any]) -> list[list[XCom]]:
    from hazflow.extract.compute import area_targets

    return [[t.to_dict() for t in batch] for batch in area_targets(params, config())]


def aggregate_area_batch(batch: list[XCom], params: Mapping[str, Any]) -> XCom:
    from hazflow.aggregate.hazard import HazardTarget
    from hazflow.extract.compute import aggregate_area_batch

    return aggregate_area_batch(params, [HazardTarget.from_dict(t) for t in batch], config()).to_dict()


def keep_area_bundle(params: Mapping[str, Any]) -> XCom:
    from hazflow.extract.steps import keep_area_bundle

    return keep_area_bundle(params, config()).to_dict()


def summarise_area_extract(kept: XCom) -> XCom:
    from hazflow.extract.steps import summarise_bundle

    return summarise_bundle(kept)
