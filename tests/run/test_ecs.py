"""The ECS request hazflow sends for one batch, and how ECS failures meet the retry policy."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from hazflow.config import Config
from hazflow.exceptions import DeploymentError, TransientError
from hazflow.run.ecs import EcsSettings, classify_ecs_error, run_task_overrides, worker_environment

AWS_ENV = {
    "HAZFLOW_STORE_BACKEND": "aws",
    "HAZFLOW_STORE_ROOT": "s3://bucket/hazflow",
    "HAZFLOW_AWS_STAGE": "prod",
    "AWS_DEFAULT_REGION": "ap-southeast-2",
}
AWS_CONFIG = Config.from_env(AWS_ENV)


@pytest.mark.parametrize(("share", "warm"), [("1", "1"), ("0", "0")])
def test_overrides_run_the_worker_as_one_bash_string_with_the_store_settings(share, warm):
    # the deployment's settings, read by Config, go on to the worker, which renders passes as the plan
    # keyed them and starts OpenQuake as the deployment does
    config = Config.from_env(AWS_ENV | {"HAZFLOW_ONEPASS_SHARE_SITES": share, "HAZFLOW_OQ_WARM": warm})
    settings = EcsSettings(container="oq", oq_parallel=8)
    (override,) = run_task_overrides("s3://bucket/hazflow/batches/p/0001.json", config, settings)["containerOverrides"]
    assert override["name"] == "oq"
    assert override["command"] == ["python -m hazflow.run.worker run-batch s3://bucket/hazflow/batches/p/0001.json"]
    env = {e["name"]: e["value"] for e in override["environment"]}
    assert env == {
        "HAZFLOW_STORE_BACKEND": "aws",
        "HAZFLOW_STORE_ROOT": "s3://bucket/hazflow",
        "HAZFLOW_AWS_STAGE": "prod",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "HAZFLOW_OQ_PARALLEL": "8",
        "HAZFLOW_OQ_TIMEOUT": "3600",
        "HAZFLOW_ONEPASS_SHARE_SITES": share,
        "HAZFLOW_OQ_WARM": warm,
    }  # fmt: skip  (no endpoint: real AWS; a moto endpoint is passed on when set)
    assert Config.from_env(env).store_root == "s3://bucket/hazflow"  # what the worker reads back


@pytest.mark.parametrize(("root", "passed"), [("s3://nshm/sources", True), ("/data/nshm-sources", False), (None, False)])
def test_an_s3_source_root_reaches_the_workers_a_folder_does_not(root, passed):
    config = Config(store_backend="aws", store_root="s3://bucket/hazflow", nshm_sources=root)
    env = worker_environment(config, EcsSettings())
    assert env.get("HAZFLOW_NSHM_SOURCES") == (root if passed else None)


@pytest.mark.parametrize("backend, root", [("local", "/data/store"), ("aws", "/data/store")])
def test_ecs_needs_an_aws_store_on_s3(backend, root):
    with pytest.raises(DeploymentError, match="runner ecs: the OpenQuake containers reach the store only through AWS"):
        worker_environment(Config(store_backend=backend, store_root=root), EcsSettings())


def test_operator_arguments_use_the_m5_capacity_provider_reattach_and_awslogs():
    args = EcsSettings.from_env({"HAZFLOW_ECS_CLUSTER": "nshm", "HAZFLOW_ECS_WAITER_DELAY": "30"}).operator_arguments()
    assert args["cluster"] == "nshm" and args["launch_type"] is None and args["reattach"] is True
    assert args["capacity_provider_strategy"] == [{"capacityProvider": "hazflow-m5", "weight": 1}]
    assert args["awslogs_stream_prefix"] == "hazflow/openquake" and args["container_name"] == "openquake"
    assert args["waiter_delay"] == 30
    with pytest.raises(DeploymentError, match="HAZFLOW_ECS_OQ_PARALLEL"):
        EcsSettings.from_env({"HAZFLOW_ECS_OQ_PARALLEL": "eight"})


class RunTaskFailures(Exception):
    """Shaped like the provider's EcsOperatorError: RunTask's `failures`."""

    def __init__(self, *reasons: str) -> None:
        super().__init__("failures")
        self.failures = [{"arn": "arn:aws:ecs:...", "reason": r} for r in reasons]


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "RunTask")


class EcsTaskFailToStart(Exception):
    pass


@pytest.mark.parametrize(
    "error, expected",
    [
        (RunTaskFailures("RESOURCE:MEMORY"), TransientError),
        (RunTaskFailures("RESOURCE:CPU", "AGENT"), TransientError),
        (RunTaskFailures("MISSING"), DeploymentError),
        (RunTaskFailures("RESOURCE:CPU", "ATTRIBUTE"), DeploymentError),
        (_client_error("ThrottlingException"), TransientError),
        (_client_error("ServerException", 500), TransientError),
        (_client_error("ClusterNotFoundException"), DeploymentError),
        (_client_error("InvalidParameterException"), DeploymentError),
        (_client_error("AccessDeniedException"), DeploymentError),
        (EndpointConnectionError(endpoint_url="https://ecs"), TransientError),
        (EcsTaskFailToStart("CannotPullContainerError"), TransientError),
        (RuntimeError("The task was stopped because the host instance terminated: Host EC2 (instance i-1) terminated."), TransientError),
        (RuntimeError("This task is not in success state"), RuntimeError),
    ],
    ids=["no-memory-yet", "no-cpu-agent", "missing", "attribute", "throttled", "5xx", "no-cluster", "bad-parameter",
         "access-denied", "connection", "failed-to-start", "host-terminated", "task-failed"],
)  # fmt: skip
def test_ecs_failures_are_classified_for_the_retry_policy(error, expected):
    assert isinstance(classify_ecs_error(error), expected)


def _manifest(tmp_path, arn: str, failures=()):
    from hazflow.run.batch import Failure
    from hazflow.run.worker import Manifest, manifest_uri

    spec = str(tmp_path / "0000.json")
    failures = tuple(Failure(f"k{i}", f"job {i}", "it broke", "", name) for i, name in enumerate(failures))
    manifest = Manifest(spec, "p", 0, "batch 0", "ip-10-0-0-1", "2026-11-26T00:00:00+00:00", "", 1.0, (), failures, arn)
    (tmp_path / manifest_uri("0000.json")).write_bytes(manifest.to_json())
    return spec, Config(store_root=tmp_path)


@pytest.mark.parametrize(
    "failures, raised",
    [(("TransientError",), "TransientError"), (("OpenQuakeError", "DataIntegrityError"), "DataIntegrityError"), ((), None)],
)
def test_the_manifest_of_the_task_waited_for_decides_the_class(tmp_path, failures, raised):
    from hazflow.plan.disagg import BatchRef
    from hazflow.run.ecs import task_failure, task_result

    spec, config = _manifest(tmp_path, "arn:task/this", failures)
    ecs_error = Exception("This task is not in success state")
    failure = task_failure(ecs_error, spec, "arn:task/this", config)
    assert (type(failure).__name__ if failure is not ecs_error else None) == raised
    ref = BatchRef("p", 0, "batch 0", 1, 1)
    if raised:
        with pytest.raises(type(failure)):
            task_result(ref, spec, "arn:task/this", config)
    else:
        assert task_result(ref, spec, "arn:task/this", config)["spec"] == spec


def test_a_manifest_another_task_left_is_never_taken_for_this_tasks(tmp_path):
    from hazflow.exceptions import DataIntegrityError
    from hazflow.plan.disagg import BatchRef
    from hazflow.run.ecs import task_failure, task_result

    spec, config = _manifest(tmp_path, "arn:task/earlier-attempt", ("DataIntegrityError",))
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "RunTask")
    assert isinstance(task_failure(throttled, spec, "arn:task/this", config), TransientError)  # the ECS error, classified
    with pytest.raises(
        DataIntegrityError, match="arn:task/this ended without writing its manifest .* of ECS task arn:task/earlier"
    ):
        task_result(BatchRef("p", 0, "batch 0", 1, 1), spec, "arn:task/this", config)
