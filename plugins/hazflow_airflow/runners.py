"""The `run` step of disagg_realizations: one batch, on this worker or as an ECS task on M5.

Both runners stage the batch spec under the store root and end with the worker's result manifest.
In between, `local` calls the worker entrypoint's function in this process; `ecs` starts the same
entrypoint as the command of an ECS task through the Amazon provider's `EcsRunTaskOperator`
(capacity provider, awslogs, reattach, waiter) and waits for it. The operator is built when the
task runs, not when the DAG file is parsed, so parsing never imports boto3. The runner is the DAG
run's `runner` Param, whose default is the deployment's HAZFLOW_RUNNER.
"""

from __future__ import annotations

from typing import Any

RUNNERS = ("local", "ecs")


def run_with_runner(batch: dict[str, Any], runner: str, force: bool, context: Any) -> dict[str, Any]:
    """Stage the batch spec, run it with `runner`, return the `run` XCom from the worker's manifest."""
    from hazflow.worker import read_manifest, run_batch_spec
    from hazflow_airflow.tasks import _config, finish_batch, stage_disagg_batch

    config = _config()
    uri = stage_disagg_batch(batch, force, config)
    if runner == "local":
        return finish_batch(batch, uri, run_batch_spec(uri, config))
    started = run_on_ecs(uri, config, context)
    manifest = read_manifest(uri, config)
    if not manifest.started_since(started):
        raise RuntimeError(f"the ECS task ended without writing its manifest ({uri}: only an earlier attempt's is there)")
    return finish_batch(batch, uri, manifest)


def ecs_operator(uri: str, config: Any, task_id: str):  # -> EcsRunTaskOperator
    """The provider's operator for one batch spec, with the deployment's ECS settings."""
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    from hazflow.aws.ecs import EcsSettings, run_task_overrides

    settings = EcsSettings.from_env()
    return EcsRunTaskOperator(
        task_id=task_id,
        overrides=run_task_overrides(uri, config, settings),
        aws_conn_id=None,  # boto3's own chain: the worker's role in AWS, AWS_* variables elsewhere
        region_name=config.aws_region,
        **settings.operator_arguments(),
    )


def run_on_ecs(uri: str, config: Any, context: Any):  # -> datetime: when this attempt started
    """Start the worker for `uri` as an ECS task and wait for it; errors classified for the retry policy."""
    from datetime import UTC, datetime

    from hazflow.aws.ecs import classify_ecs_error
    from hazflow.exceptions import StorageError
    from hazflow.worker import read_manifest

    started = datetime.now(UTC)
    operator = ecs_operator(uri, config, context["ti"].task_id)
    try:
        operator.execute(context)
        return started
    except Exception as e:  # noqa: BLE001 - classified below
        try:
            manifest = read_manifest(uri, config)
        except StorageError:
            manifest = None
        if manifest is not None and manifest.started_since(started) and not manifest.ok:  # OpenQuake failed: ordinary retries
            raise manifest.error() from e
        classified = classify_ecs_error(e)
        if classified is e:
            raise
        raise classified from e
