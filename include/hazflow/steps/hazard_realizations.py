"""The steps of hazard_realizations: one classical OpenQuake job per leaf x VS30 (the request's sites
together), run, ingested and counted; the summary carries the conf that starts hazard_aggregation."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from hazflow.config import Config
from hazflow.ingest.realizations import ingest_ran_job
from hazflow.openquake.runner import engine_version
from hazflow.openquake.spec import JobSpec
from hazflow.plan.request import HazardRequest
from hazflow.report.summary import summarise_outcomes
from hazflow.run.job import run_job
from hazflow.steps import XCom, deployment

logger = logging.getLogger(__name__)


def plan_hazard(params: Mapping[str, Any], config: Config) -> list[JobSpec]:
    """Validate a request (Params or command line) before any compute; every job spec in leaf x VS30
    order. Jobs already done are planned too: running one the ledger has is a no-op."""
    request = HazardRequest.parse(params, runnable=True)
    specs = request.jobs(engine_version(config.oq_python))
    logger.info("hazard request of %s: %d OpenQuake job(s) (leaf x VS30)", request.model.name, len(specs))
    return specs


def summarise_hazard_request(params: Mapping[str, Any], outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """hazard_realizations' summary: the counts of `summarise_outcomes`, and `aggregation_conf`, the
    hazard_aggregation request of exactly this realization set (model, sites, VS30s, IMTs, leaves)."""
    conf = HazardRequest.parse(params, runnable=False).to_conf()
    return summarise_outcomes(outcomes) | {"aggregation_conf": conf}


# --- the DAG's tasks and the CLI: XCom values ---
def plan(params: Mapping[str, Any], config: Config | None = None) -> list[XCom]:
    """`plan`: the job specs (one mapped `run` each)."""
    return [spec.to_dict() for spec in plan_hazard(params, deployment(config))]


def run(spec: XCom, force: bool, config: Config | None = None) -> XCom:
    """`run`: one job, unless the ledger has it (then nothing runs)."""
    c = deployment(config)
    return run_job(JobSpec.from_dict(spec), c.open_store(), c, force=force).to_dict()


def ingest(ran: XCom, force: bool, config: Config | None = None) -> XCom:
    """`ingest`: the job's realizations stored, and whether this DAG run started OpenQuake for it."""
    outcome = ingest_ran_job(ran["job_key"], deployment(config).open_store(), force=force).to_dict()
    return outcome | {"openquake_ran": not ran["skipped"]}


def summarise(params: Mapping[str, Any], outcomes: list[XCom]) -> XCom:
    """`summary`: counts, and the conf of the hazard_aggregation run to start."""
    return summarise_hazard_request(params, outcomes)
