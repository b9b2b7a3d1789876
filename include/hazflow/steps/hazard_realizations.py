"""The steps of hazard_realizations: one classical OpenQuake job per leaf x VS30 (the request's sites
together), planned in batches (one mapped `run` and `ingest` each), run, ingested and counted; the
summary carries the conf that starts hazard_aggregation.

NSHM's 49 leaves at its 18 VS30s are 882 jobs, and at 21 VS30s more than Airflow maps (1,024): so,
as disagg_realizations does, a list longer than the map cap (`hazflow.plan.batches.map_cap`, held to
`HAZFLOW_LIMIT_MAP_LENGTH`) is spread over that many batches; a short one keeps one job per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from hazflow.config import Config
from hazflow.exceptions import HazflowError
from hazflow.ingest.realizations import ingest_ran_job
from hazflow.openquake.runner import engine_version
from hazflow.openquake.spec import JobSpec
from hazflow.plan.batches import batch_label, split
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


def job_batches(specs: Sequence[JobSpec]) -> list[XCom]:
    """The specs in batches for mapping (`hazflow.plan.batches.split`), each `{"label", "specs"}`:
    its first job's label (`CRU-1 vs30=400`, `(+n more)` for a batch of several)."""
    return [
        {"label": batch_label(batch[0].label, len(batch)), "specs": [s.to_dict() for s in batch]} for batch in split(list(specs))
    ]


def run_batch(specs: Sequence[JobSpec], force: bool, config: Config) -> list[XCom]:
    """Run each job of a batch unless the ledger has it; every job is tried, then the batch fails as
    the first failure's class (a retry skips the jobs done: their ledger entries are kept)."""
    store, ran, failures = config.open_store(), [], []
    for spec in specs:
        try:
            ran.append(run_job(spec, store, config, force=force).to_dict())
        except HazflowError as e:
            logger.error("%s failed: %s", spec.label, e)
            failures.append(e)
    if failures:
        raise failures[0]
    return ran


def summarise_hazard_request(params: Mapping[str, Any], outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """hazard_realizations' summary: the counts of `summarise_outcomes`, and `aggregation_conf`, the
    hazard_aggregation request of exactly this realization set (model, sites, VS30s, IMTs, leaves)."""
    conf = HazardRequest.parse(params, runnable=False).to_conf()
    return summarise_outcomes(outcomes) | {"aggregation_conf": conf}


# --- the DAG's tasks and the CLI: XCom values ---
def plan(params: Mapping[str, Any], config: Config | None = None) -> list[XCom]:
    """`plan`: the job specs in batches (one mapped `run` each)."""
    return job_batches(plan_hazard(params, deployment(config)))


def run(batch: XCom, force: bool, config: Config | None = None) -> XCom:
    """`run`: each job of the batch, unless the ledger has it (then nothing runs)."""
    ran = run_batch([JobSpec.from_dict(s) for s in batch["specs"]], force, deployment(config))
    return {"label": batch["label"], "ran": ran}


def ingest(ran: XCom, force: bool, config: Config | None = None) -> list[XCom]:
    """`ingest`: each job's realizations stored, and whether this DAG run started OpenQuake for it."""
    store = deployment(config).open_store()
    return [
        ingest_ran_job(job["job_key"], store, force=force).to_dict() | {"openquake_ran": not job["skipped"]} for job in ran["ran"]
    ]


def summarise(params: Mapping[str, Any], outcomes: list[list[XCom]]) -> XCom:
    """`summary`: counts, and the conf of the hazard_aggregation run to start."""
    return summarise_hazard_request(params, [o for batch in outcomes for o in batch])
