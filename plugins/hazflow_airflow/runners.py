"""The `run` step of disagg_realizations: one batch, on this worker or as an ECS task on M5.

Both runners stage the batch spec under the store root and end with the worker's result manifest
(`hazflow.run.worker`). In between, `local` runs the worker's function in this process; `ecs` starts
the same entrypoint as the command of an ECS task through the Amazon provider's
`EcsRunTaskOperator` (capacity provider, awslogs, reattach, waiter) and waits for it. The operator
is built when the task runs, not when the DAG file is parsed, so parsing never imports boto3. The
runner is the DAG run's `runner` Param, whose default is the deployment's HAZFLOW_RUNNER.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    from hazflow.config import Config

RUNNERS = ("local", "ecs")


def run_with_runner(batch: dict[str, Any], runner: str, force: bool, context: Any) -> dict[str, Any]:
    """Run one batch with `runner`; the `run` XCom from the worker's manifest, failures raised by class."""
    from hazflow.plan.disagg import BatchRef
    from hazflow.run.ecs import task_result
    from hazflow.run.worker import run_planned_batch, stage_planned_batch
    from hazflow_airflow.tasks import config

    ref, c = BatchRef.from_dict(batch), config()
    if runner == "local":
        return run_planned_batch(ref, force, c)
    uri = stage_planned_batch(ref, force, c)
    return task_result(ref, uri, run_on_ecs(uri, c, context), c)


def run_on_ecs(uri: str, config: Config, context: Any) -> datetime:
    """Start the worker for the batch spec at `uri` as an ECS task and wait for it; when this attempt
    started. A failure is raised as the retry policy should see it (`hazflow.run.ecs.task_failure`)."""
    from hazflow.run.ecs import task_failure

    started = datetime.now(UTC)
    try:
        ecs_operator(uri, config, context["ti"].task_id).execute(context)
    except Exception as e:  # noqa: BLE001 - classified for the retry policy
        failure = task_failure(e, uri, started, config)
        if failure is e:
            raise
        raise failure from e
    return started


def ecs_operator(uri: str, config: Config, task_id: str) -> EcsRunTaskOperator:
    """The provider's operator for one batch spec, with the deployment's ECS settings."""
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    from hazflow.run.ecs import EcsSettings, run_task_overrides

    settings = EcsSettings.from_env()
    return EcsRunTaskOperator(
        task_id=task_id,
        overrides=run_task_overrides(uri, config, settings),
        aws_conn_id=None,  # boto3's own chain: the worker's role in AWS, AWS_* variables elsewhere
        region_name=config.aws_region,
        **settings.operator_arguments(),
    )
