"""disagg_realizations with `runner` ecs: the provider's EcsRunTaskOperator against moto_server
(RunTask, DescribeTasks, ListTasks, CloudWatch logs over HTTP), the worker entrypoint run as the
task's command by a stand-in ECS agent, and the results ingested on the Airflow side."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from hazflow.run.ecs import EcsSettings
from hazflow.store import open_store
from tests.dags.conftest import ECS_BUCKET as BUCKET
from tests.dags.conftest import dags_test, drop_queued_run
from tests.support.models import SLAB_BACKGROUND, copied_models, source_edited

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]


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
        states = run.states()
        assert {k: v for k, v in states.items() if k.startswith("local.")} == {"local.run": "skipped", "local.ingest": "skipped"}
        assert {states[f"ecs.{t}[{i}]"] for t in ("stage", "run_task", "collect", "ingest") for i in (0, 1)} == {"success"}
        # each waited in the trigger (StoppingTaskDoneTrigger), not on a worker, and resumed from it
        assert run.log.count("new_state=deferred") == 2 and run.log.count("[DAG TEST] Trigger completed") == 2
        assert "StoppingTaskDoneTrigger" in run.log
        ended = [run.xcom("ecs.run_task", map_index=i) for i in (0, 1)]
        assert sorted(e["ecs_task_arn"] for e in ended) == sorted(t.arn for t in ecs.ran)  # collect read those tasks' manifests
        assert run.labels("ecs.run_task") == run.labels("ecs.collect") == [b["label"] for b in run.xcom("plan")]
        for i, e in enumerate(ended):  # the overrides as the UI shows them: rendered for each mapped instance
            rendered = rendered_fields(run, "ecs.run_task", i)
            assert rendered["spec_uri"] == e["spec_uri"]
            assert rendered["overrides"]["containerOverrides"][0]["command"] == [
                f"python -m hazflow.run.worker run-batch {e['spec_uri']}"
            ]
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
    assert run.states()["plan"] == "failed" and not any(task.startswith(("local.run[", "ecs.stage[")) for task in run.states())


def rendered_fields(run, task_id: str, map_index: int) -> dict:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, map_index=map_index)
            .one()
        )
        return dict(row.rendered_fields)


class _TaskInstance:
    """What EcsRunTaskOperator reads of its task instance: reattach's key, and the XComs it pushes."""

    dag_id, task_id, run_id = "disagg_realizations", "ecs.run_task", "manual__test"

    def __init__(self, map_index: int = 0) -> None:
        self.map_index = map_index
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


@pytest.fixture
def on_moto(ecs, monkeypatch, tmp_path):
    """The operator's clients on the in-process moto; the Airflow side's store a bucket there."""
    import boto3

    from hazflow.config import Config

    bucket = f"ops-{tmp_path.name.lower().replace('_', '-')}"[:60]
    env = {
        "AWS_ENDPOINT_URL": ecs.url, "HAZFLOW_ECS_WAITER_DELAY": "1", "HAZFLOW_STORE_BACKEND": "aws",
        "HAZFLOW_STORE_ROOT": f"s3://{bucket}/h", "HAZFLOW_AWS_STAGE": "ops", "HAZFLOW_AWS_ENDPOINT": ecs.url,
        "HAZFLOW_WORK_DIR": str(tmp_path),
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=ecs.url, region_name="ap-southeast-2").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
    )
    return Config.from_env()


def operator(config, uri: str, map_index: int = 0):
    """The DAG's `ecs.run_task` instance for the batch spec at `uri`, with the arguments `ecs.stage` gives it."""
    from hazflow.run.ecs import EcsSettings, run_task_overrides
    from hazflow_airflow.ecs import BatchEcsRunTaskOperator

    settings = EcsSettings.from_env()
    arguments = settings.operator_arguments() | {
        "overrides": run_task_overrides(uri, config, settings),
        "region_name": config.aws_region,
    }
    return BatchEcsRunTaskOperator(task_id="run_task", spec_uri=uri, batch_label="batch 0", aws_conn_id=None, **arguments)


def staged(config, name: str = "plan") -> str:
    from hazflow.run.worker import BatchSpec, stage_batch

    return stage_batch(BatchSpec(name, 0, "batch 0", ()), config)


def run_trigger(trigger) -> dict:
    """What the triggerer does with the operator's trigger: run it to its event."""
    import asyncio

    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first_event())


def test_the_operator_defers_and_a_retry_reattaches_to_the_running_task(ecs, on_moto):
    from airflow.sdk.exceptions import TaskDeferred

    from hazflow_airflow.ecs import STOP_REASON, StoppingTaskDoneTrigger

    uri, ti = staged(on_moto, "reattach"), _TaskInstance(map_index=7)
    ecs.hold = True  # the task keeps running, as an OpenQuake batch does for hours
    try:
        with pytest.raises(TaskDeferred) as first:
            operator(on_moto, uri).execute({"ti": ti})
        trigger = first.value.trigger
        assert isinstance(trigger, StoppingTaskDoneTrigger) and trigger.task_arn in ecs.running()
        assert first.value.method_name == "execute_complete"

        with pytest.raises(TaskDeferred) as retried:  # the next try of the same task instance
            operator(on_moto, uri).execute({"ti": _TaskInstance(map_index=7)})
        assert retried.value.trigger.task_arn == trigger.task_arn  # reattached: no second RunTask
        assert [arn for arn in ecs.running() if ecs._tasks()[arn].started_by == ecs._tasks()[trigger.task_arn].started_by] == [
            trigger.task_arn
        ]

        import asyncio

        asyncio.run(trigger.on_kill())  # what the triggerer calls when a user kills the deferred task
        assert trigger.task_arn not in ecs.running() and ecs.stopped_reason(trigger.task_arn) == STOP_REASON
    finally:
        ecs.hold = False


def test_a_missing_cluster_fails_at_once_as_a_deployment_error(on_moto, monkeypatch):
    from hazflow.exceptions import DeploymentError

    monkeypatch.setenv("HAZFLOW_ECS_CLUSTER", "no-such-cluster")
    ti = _TaskInstance()
    with pytest.raises(DeploymentError, match="ECS ClusterNotFoundException"):
        operator(on_moto, staged(on_moto, "nocluster")).execute({"ti": ti})
    assert ti.xcoms["failure"]["error_class"] == "DeploymentError"  # for ecs.collect, after the last try


def test_a_worker_that_cannot_read_its_spec_fails_as_a_bad_request_through_the_trigger(ecs, on_moto):
    from airflow.sdk.exceptions import TaskDeferred

    from hazflow.exceptions import BadRequest
    from hazflow.remote import documents
    from hazflow.run.worker import read_manifest, spec_uri

    uri = spec_uri(on_moto.store_root, "badspec", 0)
    documents.write_bytes(uri, b'{"format": "something else"}', ecs.url)
    ti, op = _TaskInstance(), operator(on_moto, uri)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})
    event = run_trigger(deferred.value.trigger)
    with pytest.raises(BadRequest, match=r"0000.json: format"):  # the worker's class, from its manifest; not retried
        getattr(op, deferred.value.method_name)({"ti": ti}, event)
    assert ecs.ran[-1].exit_code == 2 and read_manifest(uri, on_moto).ecs_task_arn == ecs.ran[-1].arn
    assert ti.xcoms["ecs_task_arn"] == ecs.ran[-1].arn and ti.xcoms["failure"]["error_class"] == "BadRequest"


def test_the_containers_last_lines_reach_the_task_log_before_the_trigger_fires(ecs, on_moto, capfd):
    """A task that stopped before the trigger's first poll: its CloudWatch lines are in the task log
    when the event fires, once each (the provider forwards them after its `yield`, by timing). The
    trigger logs through structlog, to standard output, as the triggerer's task log reads it."""
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    from hazflow.remote import documents
    from hazflow.run.worker import spec_uri
    from tests.support.airflow_scheduler import wait_for

    uri = spec_uri(on_moto.store_root, "lastlines", 0)
    documents.write_bytes(uri, b'{"format": "something else"}', ecs.url)  # the worker says so and exits 2
    with pytest.raises(TaskDeferred) as deferred:
        operator(on_moto, uri).execute({"ti": _TaskInstance()})
    trigger = deferred.value.trigger
    wait_for("the ECS task to stop", lambda: any(t.arn == trigger.task_arn for t in ecs.ran), 120, 0.2)
    capfd.readouterr()

    async def first_event() -> tuple[dict, str]:
        async for event in trigger.run():
            return event.payload, capfd.readouterr().out  # the task log as the event fires
        raise AssertionError("the trigger ended without an event")

    payload, logged = asyncio.run(first_event())
    assert payload["status"] == "success" and payload["task_arn"] == trigger.task_arn
    assert logged.count("bad batch spec or configuration") == 1, logged  # the worker's last line
    assert "bad batch spec or configuration" not in capfd.readouterr().out  # not again when the trigger closes


@pytest.fixture
def first_task(ecs):
    """Change the world while the first ECS task the agent runs from now on runs, and only then:
    `first_task(enter, leave)`; the agent's hooks are removed after the test."""
    state: dict[str, object] = {}

    def install(enter: Callable[[], None], leave: Callable[[], None]) -> None:
        def before(arn: str) -> None:
            if "arn" not in state:
                state["arn"] = arn
                enter()

        def after(arn: str) -> None:
            if state.get("arn") == arn:
                leave()

        ecs.before_run, ecs.after_run = before, after

    yield install
    ecs.before_run = ecs.after_run = None


def test_a_transient_error_inside_the_ecs_worker_is_retried_and_the_retry_ingests(ecs, aws_env, tmp_path, first_task):
    """DynamoDB is down while the first ECS task runs: its worker fails its jobs as TransientError and
    says so in its manifest; the retry policy retries ecs.run_task, whose next ECS task runs the batch."""
    from tests.support.fault_proxy import OutageProxy

    conf, env = aws_env
    proxy = OutageProxy(ecs.url)  # the store's endpoint for the Airflow side and the workers alike
    first_task(proxy.down.set, proxy.down.clear)
    before = len(ecs.ran)
    try:
        run = dags_test(
            "disagg_realizations", conf | {"poes": [0.05], "runner": "ecs", "batch_cap": 1}, tmp_path / "store",
            env=env | {"HAZFLOW_AWS_ENDPOINT": proxy.url},
        )  # fmt: skip
        try:
            assert run.code == 0, run.log[-4000:]
            failed, retried = ecs.ran[before:]
            assert failed.exit_code == 1 and "TransientError" in failed.output and proxy.refused > 0
            assert retried.exit_code == 0 and "3 ran" in retried.output
            assert "Retry policy decision" in run.log and "action=retry" in run.log and "reason=transient" in run.log
            assert run.states()["ecs.run_task[0]"] == "success" and run.summary()["states"] == {"done": 3}
        finally:
            drop_queued_run(run)
    finally:
        proxy.close()


def test_a_data_integrity_error_inside_the_ecs_worker_fails_at_once(ecs, aws_env, tmp_path, first_task, monkeypatch):
    """A source file is edited while the ECS task runs (after the plan keyed the jobs on its old bytes):
    the worker refuses that leaf's job as DataIntegrityError; ecs.run_task fails without a retry and
    ecs.collect raises the same class."""
    conf, env = aws_env
    models = copied_models(tmp_path)  # the Airflow side and the ECS worker (the agent's child) both read it
    monkeypatch.setenv("HAZFLOW_MODELS_DIR", str(models))
    edit = source_edited(models / SLAB_BACKGROUND)
    first_task(edit.__enter__, lambda: edit.__exit__(None, None, None))
    before = len(ecs.ran)
    run = dags_test("disagg_realizations", conf | {"poes": [0.04], "runner": "ecs", "batch_cap": 1}, tmp_path / "store", env=env)
    try:
        assert run.code == 1
        (only,) = ecs.ran[before:]  # no second ECS task: not retried
        assert only.exit_code == 1 and "DataIntegrityError" in only.output
        assert "what OpenQuake would read changed since the job was planned" in run.log
        assert "action=fail" in run.log and "reason='data integrity'" in run.log and "action=retry" not in run.log
        states = run.states()
        assert states["ecs.run_task[0]"] == states["ecs.collect[0]"] == "failed"
        assert run.xcom("ecs.run_task", key="failure", map_index=0)["error_class"] == "DataIntegrityError"
    finally:
        drop_queued_run(run)
