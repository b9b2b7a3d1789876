"""The `ecs` runner's Airflow side: the Amazon provider's `EcsRunTaskOperator`, deferrable, one mapped
instance per batch, raising hazflow's failure classes; and its trigger, which stops the ECS task when
a user kills, clears or marks the Airflow task while the triggerer waits on it.

`disagg_realizations` maps `BatchEcsRunTaskOperator` over the `ecs.stage` XComs (`.partial().expand_kwargs()`):
each carries the batch's RunTask overrides, its spec URI and the deployment's ECS settings, so the
rendered overrides of every instance are in the UI. The operator starts the task (or, on a retry,
`reattach`es to the one still running under the same `startedBy`), then defers: the triggerer polls
DescribeTasks and forwards the container's CloudWatch lines, no worker slot is held. When the task
has stopped, `execute_complete` checks its exit and returns its ARN for `ecs.collect`.

Failures reach the retry policy by class (`hazflow.run.ecs.task_failure`): the worker's manifest
failures (a `TransientError` inside the worker is retried, a `DataIntegrityError` fails at once), or
the ECS error classified (throttling and capacity retried; a missing cluster, access denied failed at
once). The class is also pushed as XCom `failure`, for `ecs.collect` to raise after the last try.

Importing this module imports the provider (boto3); only `disagg_realizations` does, at parse time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, NoReturn

from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.providers.amazon.aws.triggers.ecs import TaskDoneTrigger
from airflow.sdk import BaseOperator
from airflow.triggers.base import TriggerEvent

STOP_REASON = "hazflow: the Airflow task waiting on it was killed, cleared or marked by a user"


class StoppingTaskDoneTrigger(TaskDoneTrigger):
    """The provider's `TaskDoneTrigger`, plus what the provider's operator `on_kill` does on a worker:
    stop the ECS task when a user acts on the deferred Airflow task (Airflow >= 3.3 calls `on_kill`
    of a trigger then; never on a triggerer restart, which hands the trigger over).

    It also forwards the container's last CloudWatch lines before its event. The provider forwards
    them in a `finally` after its `yield`, which runs only if the consumer resumes or closes the
    trigger: lines written after the last poll (the worker's batch summary among them) reached the
    Airflow task log or not by timing."""

    _logs_token: str | None = None  # where the lines forwarded so far end (CloudWatch's forward token)

    async def _forward_logs(self, logs_client: Any, next_token: str | None = None) -> str | None:
        """The provider's, resuming after the last line forwarded by any caller: no line twice."""
        self._logs_token = await super()._forward_logs(logs_client, self._logs_token or next_token)
        return self._logs_token

    async def run(self) -> AsyncIterator[TriggerEvent]:
        events: AsyncGenerator[TriggerEvent, None] = super().run()  # type: ignore[assignment]  # an async generator
        try:
            async for event in events:
                if self.log_group and self.log_stream:
                    await self._forward_last_lines()
                yield event
                return
        finally:
            await events.aclose()

    async def _forward_last_lines(self) -> None:
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        region = self.log_region_name if self.log_region_name is not None else self.region_name
        hook = AwsLogsHook(aws_conn_id=self.aws_conn_id, region_name=region, verify=self.verify, config=self.botocore_config)
        async with await hook.get_async_conn() as logs_client:
            await self._forward_logs(logs_client)

    async def on_kill(self) -> None:
        from airflow.providers.amazon.aws.hooks.ecs import EcsHook

        hook = EcsHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
        )
        async with await hook.get_async_conn() as client:
            await client.stop_task(cluster=self.cluster, task=self.task_arn, reason=STOP_REASON)
        self.log.info("Stopped ECS task %s: %s", self.task_arn, STOP_REASON)


class BatchEcsRunTaskOperator(EcsRunTaskOperator):
    """`EcsRunTaskOperator` for one batch spec: deferrable, reattaching, labelled with the batch,
    failing with hazflow's classes. Returns `{"ecs_task_arn", "spec_uri"}`."""

    template_fields = (*EcsRunTaskOperator.template_fields, "spec_uri", "batch_label")

    def __init__(self, *, spec_uri: str, batch_label: str = "", **kwargs: Any) -> None:
        super().__init__(**{"deferrable": True, "reattach": True, **kwargs})
        self.spec_uri, self.batch_label = spec_uri, batch_label

    def defer(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None, timeout: Any = None) -> NoReturn:
        if type(trigger) is TaskDoneTrigger:  # the provider's; ours also stops the task on a user's kill
            trigger = StoppingTaskDoneTrigger(**trigger.serialize()[1])
        BaseOperator.defer(self, trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def execute(self, context: Any) -> Any:
        context["label"] = self.batch_label  # the instance's name in the UI (`map_index_template`)
        try:
            return super().execute(context)  # defers (TaskDeferred is not an Exception) once the task runs
        except Exception as e:  # noqa: BLE001 - classified for the retry policy
            failure = self._failure(e, self.arn, context)
            if failure is e:
                raise
            raise failure from e

    # returns what ecs.collect reads (the provider returns the last log line)
    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, str]:  # type: ignore[override]
        context["label"] = self.batch_label
        arn = (event or {}).get("task_arn") or self.arn
        try:
            super().execute_complete(context, event)
        except Exception as e:  # noqa: BLE001 - classified for the retry policy
            failure = self._failure(e, arn, context)
            if failure is e:
                raise
            raise failure from e
        return {"ecs_task_arn": str(self.arn), "spec_uri": self.spec_uri}

    def _failure(self, error: Exception, arn: str | None, context: Any) -> BaseException:
        """The error as the retry policy should see it (`error` itself if no hazflow class fits: the
        ordinary retries); its class and message kept as XCom `failure` for `ecs.collect`."""
        from hazflow.config import Config
        from hazflow.exceptions import boundary_class
        from hazflow.run.ecs import task_failure

        failure = task_failure(error, self.spec_uri, arn, Config.from_env())
        context["ti"].xcom_push(key="failure", value={"error_class": boundary_class(failure), "message": str(failure)[:4000]})
        return failure
