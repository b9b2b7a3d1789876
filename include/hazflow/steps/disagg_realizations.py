"""The steps of disagg_realizations: plan a request into batches of OpenQuake passes, run each batch
where the `runner` Param says (here, or as an ECS task), ingest what it computed, and count the
request from the ledger; the summary carries the conf that starts disagg_aggregation.

Where a batch runs is a branch in the graph (`first_task`), one task group per runner:
- `local.run` runs the worker's function on this Airflow worker (`run_local`);
- `ecs.stage` writes the batch spec and returns the operator arguments of its ECS task
  (`stage_for_ecs`), `ecs.run_task` runs the same worker entrypoint as that task's command, and
  `ecs.collect` reads the task's manifest (`collect_from_ecs`).
Both end with the same `run` XCom (`hazflow.run.worker.finish_batch`) for their group's `ingest`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hazflow.config import Config
from hazflow.exceptions import DataIntegrityError, OpenQuakeError, rebuild
from hazflow.ingest.realizations import ingest_planned_batch
from hazflow.openquake.runner import engine_version
from hazflow.plan.batches import DEFAULT_BATCH_CAP, map_cap
from hazflow.plan.disagg import BatchRef, load_plan, plan_disagg
from hazflow.plan.request import DisaggRequest
from hazflow.report.summary import summarise_outcomes
from hazflow.run.ecs import EcsSettings, require_reachable_store, run_task_overrides, task_result
from hazflow.run.worker import run_planned_batch, stage_planned_batch
from hazflow.steps import XCom, deployment
from hazflow.store import Store
from hazflow.store.records import FINISHED_STATES

logger = logging.getLogger(__name__)

FIRST_TASKS = {"local": "local.run", "ecs": "ecs.stage"}


@dataclass(frozen=True)
class PlannedRequest:
    """What planning a disaggregation request returns: the kept plan's id, its batches, its counts,
    and the conf that starts `disagg_aggregation` for exactly this realization set."""

    plan_id: str
    batches: tuple[BatchRef, ...]
    aggregation_conf: dict[str, Any]
    jobs: int
    runs: int
    skipped: int
    passes: int  # OpenQuake processes to start
    engine: str

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self)) | {"batches": [b.to_dict() for b in self.batches]}


def plan_disagg_realizations(params: Mapping[str, Any], config: Config) -> PlannedRequest:
    """Validate a request (Params or command line), read each target's level, key every run, skip
    those done (unless `force`), group the rest into passes, cut those into at most `batch_cap`
    batches and keep the plan in the store. The engine is the request's `disagg_engine`, by default
    the deployment's (`HAZFLOW_DISAGG_ENGINE`). With `runner` ecs the store must be one the
    containers reach (checked here, before any compute) and a batch fills an ECS task's cores."""
    request = DisaggRequest.parse({"disagg_engine": config.disagg_engine} | dict(params), runnable=True)
    per_batch = 1
    if params.get("runner") == "ecs":
        require_reachable_store(config)
        per_batch = EcsSettings.from_env().oq_parallel
    store = config.open_store()
    curves = config.curves_source(request.model.settings.levels)
    force, cap = bool(params.get("force", False)), params.get("batch_cap", DEFAULT_BATCH_CAP)
    if cap == DEFAULT_BATCH_CAP:  # the default is held to the deployment's map limit; a cap asked for is checked against it
        cap = map_cap(cap)
    oq_version = engine_version(config.oq_python)
    plan = plan_disagg(request, store, oq_version, force=force, batch_cap=cap, curves=curves, min_passes_per_batch=per_batch)
    store.put_plan(plan.plan_id, plan.to_document())
    refs = tuple(
        BatchRef(plan.plan_id, i, plan.batch_label(i), len(plan.batch_runs(i)), len(plan.batch_passes(i)))
        for i in range(len(plan.batches))
    )
    logger.info(
        "plan %s: %d jobs = %d runs; %d already done, %d to do in %d %s pass(es), %d batch(es)",
        plan.plan_id, plan.jobs, plan.total_runs, plan.skipped, len(plan.keys), len(plan.passes), plan.engine, len(refs),
    )  # fmt: skip
    conf = {
        k: v for k, v in request.to_conf().items() if k not in ("disagg_engine", "contributors")
    }  # it reads rows, whatever made them
    return PlannedRequest(plan.plan_id, refs, conf, plan.jobs, plan.total_runs, plan.skipped, len(plan.passes), plan.engine)


def summarise_disagg_request(plan_id: str, ingested: Iterable[Mapping[str, Any]], store: Store) -> dict[str, Any]:
    """The whole request by ledger state (the runs planned to do), plus what this DAG run ran; raises
    if any run did not finish, so that no aggregation starts on a partial set."""
    plan = load_plan(plan_id, store)
    states = store.ledger_states(plan.keys)
    counts = Counter(states.get(k, "not run") for k in plan.keys)
    ran = summarise_outcomes(ingested)
    result = {
        "plan_id": plan.plan_id,
        "jobs": plan.jobs,
        "runs": plan.total_runs,
        "skipped": plan.skipped,  # finished before this DAG run: not planned
        "to_do": len(plan.keys),
        "states": dict(sorted(counts.items())),  # of the runs to do, from the ledger
        "passes": len(plan.passes),  # OpenQuake passes planned for them
        "engine": plan.engine,
    } | {k: ran[k] for k in ("openquake_runs", "openquake_passes", "reused", "oq_seconds", "hdf5_bytes", "rows_ingested")}
    logger.info("disagg_realizations summary: %s", result)
    unfinished = [plan.run_label(i) for i, k in enumerate(plan.keys) if states.get(k) not in FINISHED_STATES]
    if unfinished:
        shown = ", ".join(unfinished[:10]) + (f" (+{len(unfinished) - 10} more)" if len(unfinished) > 10 else "")
        raise DataIntegrityError(
            f"{len(unfinished)} of {len(plan.keys)} runs did not finish: {shown}; see `python -m hazflow ledger`"
        )
    return result


# --- the DAG's tasks and the CLI: XCom values ---
def plan(params: Mapping[str, Any], config: Config | None = None) -> XCom:
    """`plan`: the kept plan's id and counts, its batches (one mapped `run` each) and the aggregation conf."""
    return plan_disagg_realizations(params, deployment(config)).to_dict()


def first_task(runner: str) -> str:
    """`runner`: the task the branch follows for `runner`, one of the `runner` Param's values."""
    return FIRST_TASKS[runner]


def run_local(batch: XCom, force: bool, config: Config | None = None) -> XCom:
    """`local.run`: stage the batch spec and run it in this process; its `run` XCom, failures raised by class."""
    return run_planned_batch(BatchRef.from_dict(batch), force, deployment(config))


def stage_for_ecs(batch: XCom, force: bool, config: Config | None = None) -> XCom:
    """`ecs.stage`: stage the batch spec where the ECS task reads it; the `BatchEcsRunTaskOperator`
    arguments of its task: the deployment's ECS settings, the RunTask overrides (worker command, environment)."""
    ref, c = BatchRef.from_dict(batch), deployment(config)
    uri, settings = stage_planned_batch(ref, force, c), EcsSettings.from_env()
    return settings.operator_arguments() | {
        "overrides": run_task_overrides(uri, c, settings),
        "spec_uri": uri,
        "batch_label": ref.label,
        "region_name": c.aws_region,
    }


def collect_from_ecs(batch: XCom, ended: XCom | None, failure: XCom | None, config: Config | None = None) -> XCom:
    """`ecs.collect`: the `run` XCom of a batch whose ECS task ended: from its manifest if
    `ecs.run_task` returned `ended` (`{"ecs_task_arn", "spec_uri"}`); otherwise its recorded failure,
    raised by class."""
    ref = BatchRef.from_dict(batch)
    if ended is None:
        if failure is None:  # stopped by a user, or failed before it could say why
            raise OpenQuakeError(
                f"the ECS task of batch {ref.label} did not succeed and recorded no failure (see ecs.run_task's log)"
            )
        raise rebuild(str(failure["error_class"]), str(failure["message"]), where=f"ECS task of batch {ref.label}")
    return task_result(ref, ended["spec_uri"], ended["ecs_task_arn"], deployment(config))


def ingest(ran: XCom, force: bool, config: Config | None = None) -> list[XCom]:
    """`ingest`: the batch's realizations stored; per run its outcome and whether this DAG run
    started OpenQuake for it."""
    outcomes = ingest_planned_batch(ran["plan_id"], ran["batch"], deployment(config).open_store(), force=force)
    return [o.to_dict() | {"openquake_ran": ran["ran"].get(o.job_key, False)} for o in outcomes]


def summarise(plan_id: str, ingested: list[list[XCom]], config: Config | None = None) -> XCom:
    """`summary`: the request counted from the ledger; raises if a run did not finish."""
    return summarise_disagg_request(plan_id, [o for batch in ingested for o in batch], deployment(config).open_store())
