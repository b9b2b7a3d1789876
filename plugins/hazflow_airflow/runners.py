"""The runner steps of disagg_realizations: where a batch's OpenQuake passes run.

The choice is a branch in the graph (`first_task`), one task group per runner:
- `local.run` runs the worker's function on this Airflow worker (`run_local`);
- `ecs.stage` writes the batch spec and returns the operator arguments of its ECS task
  (`stage_for_ecs`), `ecs.run_task` (`hazflow_airflow.ecs.BatchEcsRunTaskOperator`) runs the same
  worker entrypoint as that task's command, and `ecs.collect` reads the task's manifest
  (`collect_from_ecs`).
Both end with the same `run` XCom (`hazflow.run.worker.finish_batch`) for their group's `ingest`.
"""

from __future__ import annotations

from typing import Any

from hazflow_airflow.tasks import XCom, config

FIRST_TASKS = {"local": "local.run", "ecs": "ecs.stage"}


def first_task(runner: str) -> str:
    """The task the branch follows for `runner`, one of the `runner` Param's values."""
    return FIRST_TASKS[runner]


def run_local(batch: XCom, force: bool) -> XCom:
    """Stage the batch spec and run it in this process; its `run` XCom, failures raised by class."""
    from hazflow.plan.disagg import BatchRef
    from hazflow.run.worker import run_planned_batch

    return run_planned_batch(BatchRef.from_dict(batch), force, config())


def stage_for_ecs(batch: XCom, force: bool) -> dict[str, Any]:
    """Stage the batch spec where the ECS task reads it; the `BatchEcsRunTaskOperator` arguments of
    its task: the deployment's ECS settings, the RunTask overrides (worker command, environment)."""
    from hazflow.plan.disagg import BatchRef
    from hazflow.run.ecs import EcsSettings, run_task_overrides
    from hazflow.run.worker import stage_planned_batch

    ref, c = BatchRef.from_dict(batch), config()
    uri, settings = stage_planned_batch(ref, force, c), EcsSettings.from_env()
    return settings.operator_arguments() | {
        "overrides": run_task_overrides(uri, c, settings),
        "spec_uri": uri,
        "batch_label": ref.label,
        "region_name": c.aws_region,
    }


def collect_from_ecs(batch: XCom, ended: XCom | None, failure: XCom | None) -> XCom:
    """The `run` XCom of a batch whose ECS task ended: from its manifest if `ecs.run_task` returned
    `ended` (`{"ecs_task_arn", "spec_uri"}`); otherwise its recorded failure, raised by class."""
    from hazflow.exceptions import OpenQuakeError, rebuild
    from hazflow.plan.disagg import BatchRef
    from hazflow.run.ecs import task_result

    ref = BatchRef.from_dict(batch)
    if ended is None:
        if failure is None:  # stopped by a user, or failed before it could say why
            raise OpenQuakeError(
                f"the ECS task of batch {ref.label} did not succeed and recorded no failure (see ecs.run_task's log)"
            )
        raise rebuild(str(failure["error_class"]), str(failure["message"]), where=f"ECS task of batch {ref.label}")
    return task_result(ref, ended["spec_uri"], ended["ecs_task_arn"], config())
