"""disagg_realizations with `runner` ecs: the provider's EcsRunTaskOperator against moto_server
(RunTask, DescribeTasks, ListTasks, CloudWatch logs over HTTP), the worker entrypoint run as the
task's command by a stand-in ECS agent, and the results ingested on the Airflow side."""

from __future__ import annotations

import re

import pytest

from hazflow.run.ecs import EcsSettings
from hazflow.store import open_store
from tests.dags.conftest import dags_test, drop_queued_run
from tests.support.ecs_agent import ecs_on_moto

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]

BUCKET = "hazflow-ecs-test"


@pytest.fixture(scope="module")
def ecs(tmp_path_factory):
    with ecs_on_moto(tmp_path_factory.mktemp("containers")) as agent:
        yield agent


@pytest.fixture(scope="module")
def aws_env(ecs, hazard_aggregated):
    """The Airflow side on the aws store (moto), seeded with the aggregated curves the plan reads levels from."""
    import boto3

    conf, local_root, run = hazard_aggregated
    assert run.code == 0, run.log[-3000:]
    boto3.client("s3", endpoint_url=ecs.url, region_name="ap-southeast-2").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
    )
    store = open_store("aws", f"s3://{BUCKET}/hazflow", stage="ecs", endpoint_url=ecs.url)
    store.put_hazard_aggregates(open_store("local", str(local_root)).get_hazard_aggregates("DEMO", "-41.300~174.780", 400, "PGA"))
    return conf, {
        "HAZFLOW_STORE_BACKEND": "aws",
        "HAZFLOW_STORE_ROOT": f"s3://{BUCKET}/hazflow",
        "HAZFLOW_AWS_STAGE": "ecs",
        "HAZFLOW_AWS_ENDPOINT": ecs.url,
        "AWS_ENDPOINT_URL": ecs.url,  # the operator's boto3 clients (ECS, CloudWatch logs)
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "HAZFLOW_ECS_WAITER_DELAY": "1",
        "HAZFLOW_ECS_OQ_PARALLEL": "2",
    }


def test_each_batch_runs_as_an_ecs_task_and_its_results_are_ingested(ecs, aws_env, tmp_path):
    conf, env = aws_env
    run = dags_test("disagg_realizations", conf | {"poes": [0.1], "runner": "ecs", "batch_cap": 2}, tmp_path / "store", env=env)
    try:
        assert run.code == 0, run.log[-4000:]
        planned = run.xcom("plan", key="plan")
        assert (planned["jobs"], planned["runs"], planned["skipped"], len(run.xcom("plan"))) == (3, 3, 0, 2)
        assert len(ecs.ran) == 2 and {t.exit_code for t in ecs.ran} == {0}
        settings = EcsSettings()
        for task in ecs.ran:
            (command,) = task.command  # one string: the image's entrypoint is `bash -c`
            assert re.fullmatch(
                rf"python -m hazflow.run.worker run-batch s3://{BUCKET}/hazflow/batches/disagg-\w+/000[01]\.json", command
            )
            assert (
                task.environment["HAZFLOW_STORE_BACKEND"] == "aws"
                and task.environment["HAZFLOW_STORE_ROOT"] == f"s3://{BUCKET}/hazflow"
            )
            assert task.environment["HAZFLOW_OQ_PARALLEL"] == "2" and task.capacity_provider == settings.capacity_provider
            assert task.started_by  # reattach's key: a retried task instance finds this task instead of starting another
            assert "hazflow.run.worker: batch" in task.output and "0 failed" in task.output
        assert "hazflow.run.worker: batch" in run.log  # the container's CloudWatch lines, in the Airflow task log
        summary = run.summary()
        assert (summary["openquake_runs"], summary["states"], summary["rows_ingested"]) == (3, {"done": 3}, 7)
        store = open_store("aws", env["HAZFLOW_STORE_ROOT"], stage="ecs", endpoint_url=ecs.url)
        assert len(store.get_disagg_realizations("DEMO", "-41.300~174.780", 400.0, "PGA", 0.1)) == 7
    finally:
        drop_queued_run(run)

    run = dags_test("disagg_realizations", conf | {"poes": [0.1], "runner": "ecs"}, tmp_path / "store", env=env)
    try:  # the same request again: everything is in the ledger, so no ECS task starts
        assert run.code == 0, run.log[-4000:]
        assert run.summary()["openquake_runs"] == 0 and len(ecs.ran) == 2
    finally:
        drop_queued_run(run)


def test_ecs_needs_the_aws_store_and_says_so_at_plan(hazard_aggregated):
    conf, local_root, _ = hazard_aggregated
    run = dags_test("disagg_realizations", conf | {"poes": [0.1], "runner": "ecs"}, local_root)
    assert run.code == 1
    assert "runner ecs: the OpenQuake containers reach the store only through AWS" in run.log
    assert run.states()["plan"] == "failed" and not any(task.startswith("run[") for task in run.states())


class _TaskInstance:
    """What EcsRunTaskOperator reads of its task instance: reattach's key, and the XCom it pushes."""

    dag_id, task_id, run_id, map_index = "disagg_realizations", "run", "manual__test", 0

    def __init__(self) -> None:
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


@pytest.fixture
def on_moto(ecs, monkeypatch, tmp_path):
    """The operator's clients on the in-process moto; a config whose store is a bucket there."""
    import boto3

    from hazflow.config import Config

    monkeypatch.setenv("AWS_ENDPOINT_URL", ecs.url)
    monkeypatch.setenv("HAZFLOW_ECS_WAITER_DELAY", "1")
    bucket = f"ops-{tmp_path.name.lower().replace('_', '-')}"[:60]
    boto3.client("s3", endpoint_url=ecs.url, region_name="ap-southeast-2").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
    )
    return Config(store_backend="aws", store_root=f"s3://{bucket}/h", aws_stage="ops", aws_endpoint=ecs.url, work_dir=tmp_path)


def test_a_missing_cluster_fails_at_once_as_a_deployment_error(on_moto, monkeypatch):
    from hazflow.exceptions import DeploymentError
    from hazflow.run.worker import BatchSpec, stage_batch
    from hazflow_airflow.runners import run_on_ecs

    monkeypatch.setenv("HAZFLOW_ECS_CLUSTER", "no-such-cluster")
    uri = stage_batch(BatchSpec("plan", 0, "label", ()), on_moto)
    with pytest.raises(DeploymentError, match="ECS ClusterNotFoundException"):
        run_on_ecs(uri, on_moto, {"ti": _TaskInstance()})


def test_a_worker_that_cannot_read_its_spec_fails_the_task_with_its_cloudwatch_lines(ecs, on_moto):
    from hazflow.run.worker import spec_uri
    from hazflow.store import documents
    from hazflow_airflow.runners import run_on_ecs

    uri = spec_uri(on_moto.store_root, "plan", 0)
    documents.write_bytes(uri, b'{"format": "something else"}', ecs.url)
    ti = _TaskInstance()
    with pytest.raises(
        Exception, match=r"(?s)This task is not in success state.*bad batch spec or configuration: .*0000.json: format"
    ):
        run_on_ecs(uri, on_moto, {"ti": ti})
    assert ecs.ran[-1].exit_code == 2 and ti.xcoms["ecs_task_arn"] == ecs.ran[-1].arn
