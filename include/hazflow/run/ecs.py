"""Running a batch as an ECS task on M5 capacity: the deployment settings, the RunTask overrides
for the worker entrypoint, and which ECS failures pass with time.

The steps (`hazflow.steps.disagg_realizations`) and the Airflow operator (`hazflow_airflow.ecs`) are
thin layers over this; nothing here imports Airflow, so the request hazflow sends to ECS is built
and tested on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hazflow.config import SHARE_SITES_ENV, WARM_ENV, Config
from hazflow.exceptions import DataIntegrityError, DeploymentError, StorageError, TransientError
from hazflow.plan.disagg import BatchRef
from hazflow.remote.errors import error_code, is_transient
from hazflow.remote.uris import is_s3
from hazflow.run.worker import finish_batch, read_manifest

WORKER_COMMAND = "python -m hazflow.run.worker run-batch {uri}"

# RunTask `failures[].reason`s that clear up by themselves: no room on the instances yet (the
# capacity provider is scaling out), an agent reconnecting. Others (MISSING, ATTRIBUTE, ...) do not.
TRANSIENT_REASONS = ("RESOURCE:", "AGENT", "CAPACITY", "SERVICE UNAVAILABLE")
TRANSIENT_ECS_CODES = frozenset(
    {"ThrottlingException", "ServerException", "LimitExceededException", "ServiceUnavailableException"}
)


@dataclass(frozen=True)
class EcsSettings:
    """Where and how the OpenQuake worker runs on ECS: a deployment setting, read from HAZFLOW_ECS_*."""

    cluster: str = "hazflow"
    task_definition: str = "hazflow-openquake"
    container: str = "openquake"  # the container of the task definition that runs the worker
    capacity_provider: str = "hazflow-m5"  # an EC2 Auto Scaling group of M5 instances
    log_group: str = "/hazflow/openquake"
    log_prefix: str = "hazflow"  # awslogs-stream-prefix of the task definition
    oq_parallel: int = 8  # OpenQuake jobs at once per task: the vCPUs of an m5.2xlarge
    waiter_delay_s: int = 15
    waiter_max_attempts: int = 2880  # 12 h at 15 s: longer than any batch (Airflow's own timeout rules)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EcsSettings:
        env = os.environ if env is None else env
        d = cls()
        numbers = {}
        for name, var in (("oq_parallel", "HAZFLOW_ECS_OQ_PARALLEL"), ("waiter_delay_s", "HAZFLOW_ECS_WAITER_DELAY")):
            try:
                numbers[name] = int(env.get(var, getattr(d, name)))
            except ValueError:
                raise DeploymentError(f"{var}: not a whole number: {env[var]!r}") from None
        return cls(
            cluster=env.get("HAZFLOW_ECS_CLUSTER", d.cluster),
            task_definition=env.get("HAZFLOW_ECS_TASK_DEFINITION", d.task_definition),
            container=env.get("HAZFLOW_ECS_CONTAINER", d.container),
            capacity_provider=env.get("HAZFLOW_ECS_CAPACITY_PROVIDER", d.capacity_provider),
            log_group=env.get("HAZFLOW_ECS_LOG_GROUP", d.log_group),
            log_prefix=env.get("HAZFLOW_ECS_LOG_PREFIX", d.log_prefix),
            **numbers,
        )

    def operator_arguments(self) -> dict[str, Any]:
        """The EcsRunTaskOperator arguments that do not change between batches."""
        return {
            "cluster": self.cluster,
            "task_definition": self.task_definition,
            "container_name": self.container,
            "capacity_provider_strategy": [{"capacityProvider": self.capacity_provider, "weight": 1}],
            "launch_type": None,  # the capacity provider strategy decides (EC2, M5)
            "awslogs_group": self.log_group,
            "awslogs_stream_prefix": f"{self.log_prefix}/{self.container}",
            "reattach": True,  # a retried task instance finds its running ECS task instead of starting another
            "waiter_delay": self.waiter_delay_s,
            "waiter_max_attempts": self.waiter_max_attempts,
            "number_logs_exception": 30,
        }


def require_reachable_store(config: Config) -> None:
    """The OpenQuake containers reach the store only through AWS: refuse any other store."""
    if config.store_backend != "aws" or not is_s3(config.store_root):
        raise DeploymentError(
            f"runner ecs: the OpenQuake containers reach the store only through AWS, but HAZFLOW_STORE_BACKEND is "
            f"{config.store_backend!r} at {config.store_root}; use HAZFLOW_STORE_BACKEND=aws with an s3:// HAZFLOW_STORE_ROOT"
        )


def worker_environment(config: Config, settings: EcsSettings) -> dict[str, str]:
    """What the worker in the container needs to reach the same store as the Airflow side, and to
    render passes as the plan keyed them (whether a pass's sites may share a calculation), and to start
    OpenQuake as the deployment does (warm or cold)."""
    require_reachable_store(config)
    env = {
        "HAZFLOW_STORE_BACKEND": "aws",
        "HAZFLOW_STORE_ROOT": str(config.store_root),
        "HAZFLOW_AWS_STAGE": config.aws_stage,
        "AWS_DEFAULT_REGION": config.aws_region,
        "HAZFLOW_OQ_PARALLEL": str(settings.oq_parallel),
        "HAZFLOW_OQ_TIMEOUT": f"{config.oq_timeout_s:g}",
        SHARE_SITES_ENV: "1" if config.onepass_share_sites else "0",
        WARM_ENV: "1" if config.oq_warm else "0",
    }
    if config.aws_endpoint:  # a moto_server standing in for AWS (compose stack, tests)
        env["HAZFLOW_AWS_ENDPOINT"] = config.aws_endpoint
    if is_s3(config.nshm_sources):  # a folder root is not the container's:
        env["HAZFLOW_NSHM_SOURCES"] = config.nshm_sources  # it reads the copies the plan kept in the store
    return env


def run_task_overrides(spec_uri: str, config: Config, settings: EcsSettings) -> dict[str, Any]:
    """RunTask `overrides` for one batch: the worker command as one string (the OpenQuake image's
    entrypoint is `bash -c`) and its environment."""
    environment = [{"name": k, "value": v} for k, v in sorted(worker_environment(config, settings).items())]
    return {
        "containerOverrides": [
            {"name": settings.container, "command": [WORKER_COMMAND.format(uri=spec_uri)], "environment": environment}
        ]
    }


def classify_ecs_error(exc: BaseException) -> BaseException:
    """An ECS failure as hazflow's retry policy should see it: `TransientError` (throttling, no capacity
    yet, the host went away), `DeploymentError` (no such cluster or task definition, access denied,
    bad parameters), or the error itself (a task that ran and failed: the ordinary retries)."""
    failures = getattr(exc, "failures", None)
    if isinstance(failures, list) and failures:  # RunTask answered with failures instead of a task
        reasons = ", ".join(str(f.get("reason", "")) for f in failures)
        if all(str(f.get("reason", "")).upper().startswith(TRANSIENT_REASONS) for f in failures):
            return TransientError(f"ECS RunTask could not place the task yet ({reasons}); retried")
        return DeploymentError(f"ECS RunTask failed ({reasons}); check the cluster, task definition and capacity provider")
    code = error_code(exc)
    if code in TRANSIENT_ECS_CODES or is_transient(exc):
        return TransientError(f"ECS {code or type(exc).__name__} (transient, retried): {exc}")
    if code:  # ClusterNotFoundException, InvalidParameterException, AccessDeniedException, ...
        return DeploymentError(f"ECS {code} (permanent, not retried): {exc}")
    text = str(exc)
    if type(exc).__name__ == "EcsTaskFailToStart" or "host instance terminated" in text:
        return TransientError(f"ECS task did not run to the end ({text[:300]}); retried, the ledger keeps what finished")
    return exc


def task_result(ref: BatchRef, uri: str, task_arn: str, config: Config) -> dict[str, Any]:
    """The `run` step's result once the ECS task `task_arn` of spec `uri` has ended: its worker's
    manifest, which must be that task's (not one an earlier attempt left), with the batch's OpenQuake
    failures raised by class."""
    manifest = read_manifest(uri, config)
    if manifest.ecs_task_arn != task_arn:
        written_by = f"ECS task {manifest.ecs_task_arn}" if manifest.ecs_task_arn else "a worker outside ECS"
        raise DataIntegrityError(
            f"ECS task {task_arn} ended without writing its manifest ({uri}: the one there is of {written_by})"
        )
    return finish_batch(ref, uri, manifest)


def task_failure(error: BaseException, uri: str, task_arn: str | None, config: Config) -> BaseException:
    """What to raise when ECS task `task_arn` of spec `uri` failed: its worker's failures, of their
    most severe class, if its manifest lists them; otherwise the ECS error classified."""
    try:
        manifest = read_manifest(uri, config) if task_arn else None
    except StorageError:
        manifest = None
    if manifest is not None and manifest.ecs_task_arn == task_arn and not manifest.ok:
        return manifest.error()
    return classify_ecs_error(error)
