"""disagg_realizations, and the disagg_aggregation it starts, under a real scheduler and triggerer
(`airflow standalone`), on the aws store (moto) through a proxy that can take DynamoDB down: what
`airflow dags test` cannot show. A user clears a deferred ECS task instance; errors raised inside the
local runner's worker reach the retry policy by class (the ECS runner's: `test_ecs_runner.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.support.airflow_scheduler import Standalone, airflow_standalone, wait_for
from tests.support.fault_proxy import OutageProxy
from tests.support.models import SLAB_BACKGROUND, copied_models, source_edited

pytestmark = [pytest.mark.airflow, pytest.mark.openquake]
DAY = "2026-01-02T00:00:00+00:00"  # logical dates, which `airflow tasks clear` selects runs by


@pytest.fixture(scope="module")
def outage(ecs) -> Iterator[OutageProxy]:
    proxy = OutageProxy(ecs.url)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def airflow(aws_env, outage, tmp_path_factory) -> Iterator[Standalone]:
    """One `airflow standalone` for the module, its store reached through the outage proxy, its
    models a copy of hazflow's (a test edits a source file there); its tasks' OpenQuake runs fork
    the test worker's warm OpenQuake process, as a host's shared one serves its workers
    (HAZFLOW_OQ_WARM_SOCKET), instead of each `local.run` starting its own."""
    from tests.dags.conftest import shared_openquake

    _, env = aws_env
    home = tmp_path_factory.mktemp("scheduler")
    models = copied_models(home)
    settings = {
        "HAZFLOW_AWS_ENDPOINT": outage.url,
        "HAZFLOW_MODELS_DIR": str(models),
        "HAZFLOW_OQ_WARM_SOCKET": shared_openquake(),
    }
    with airflow_standalone(home / "airflow", env | settings) as running:
        running.cli("dags", "unpause", "disagg_realizations")
        yield running


def trigger(airflow: Standalone, run_id: str, day: int, request: dict) -> None:
    logical_date = f"2026-01-{day:02d}T00:00:00+00:00"
    airflow.cli(
        "dags",
        "trigger",
        "disagg_realizations",
        "--run-id",
        run_id,
        "--logical-date",
        logical_date,
        "--conf",
        json.dumps(request),
    )


def reaches(airflow: Standalone, run_id: str, task: str, wanted: set[str]) -> bool:
    states = airflow.task_states("disagg_realizations", run_id)
    assert not {"failed", "upstream_failed"} & set(states.values()) - wanted, (states, airflow.log()[-5000:])
    return states.get(task) in wanted


def ended(airflow: Standalone, run_id: str) -> str:
    return wait_for(
        f"run {run_id} to end",
        lambda: (s := airflow.run_state("disagg_realizations", run_id)) in {"success", "failed"} and s,
        600,
        1,  # a query of the database file: each second costs nothing, each second saved is a test's wait
    )


def test_clearing_the_waiting_ecs_task_instance_stops_its_ecs_task_and_the_rerun_ingests(ecs, aws_env, airflow):
    """The ECS task instance defers to the triggerer; a user clears it while its ECS task runs (the UI's
    Clear), so the trigger's on_kill stops that ECS task (StopTask, with hazflow's reason); the rerun
    starts a fresh ECS task, resumes through the triggerer when it stops, and the batch is ingested."""
    import boto3

    from hazflow_airflow.ecs import STOP_REASON

    conf, _ = aws_env
    client = boto3.client("ecs", endpoint_url=ecs.url, region_name="ap-southeast-2")
    before = set(ecs.running())
    ecs.hold = True  # the ECS task "runs" until stopped, as a batch of OpenQuake runs does for hours
    try:
        trigger(airflow, "kill", 2, conf | {"poes": [0.02], "runner": "ecs", "batch_cap": 1})  # one batch: one ECS task
        wait_for(
            "ecs.run_task[0] to defer to the triggerer", lambda: reaches(airflow, "kill", "ecs.run_task[0]", {"deferred"}), 300, 2
        )
        (first,) = set(ecs.running()) - before
        # A user clears a task the triggerer waits on: its trigger has polled the ECS task. Cleared in the
        # second or two before the triggerer starts the trigger, the trigger is not cancelled by user
        # action (no on_kill), and the rerun reattaches to the ECS task still running (seen 2026-12-07).
        wait_for("the trigger to poll the ECS task", lambda: any("Status of the task is" in str(e.get("event"))
                 for e in airflow.trigger_log("disagg_realizations", "kill", "ecs.run_task", 0)), 120)  # fmt: skip

        airflow.cli("tasks", "clear", "disagg_realizations", "-t", "run_task", "-s", DAY, "-e", DAY, "-y")
        wait_for("StopTask of the cleared task's ECS task", lambda: first not in ecs.running(), 120)
        (stopped,) = client.describe_tasks(cluster=ecs.settings.cluster, tasks=[first])["tasks"]
        assert stopped["lastStatus"] == "STOPPED" and stopped["stoppedReason"] == STOP_REASON

        ecs.hold = False  # the rerun's ECS task now runs the worker to the end
        states = airflow.task_states("disagg_realizations", "kill")
        assert ended(airflow, "kill") == "success", (airflow.task_states("disagg_realizations", "kill"), airflow.log()[-5000:])
        states = airflow.task_states("disagg_realizations", "kill")
        assert {states[f"ecs.{t}[0]"] for t in ("stage", "run_task", "collect", "ingest")} == {"success"}
        assert states["local.run"] == "skipped"
        second = next(t for t in reversed(ecs.ran) if t.arn != first)
        assert second.exit_code == 0 and "3 ran" in second.output  # the rerun ran the batch: one fresh ECS task
        log = airflow.log()
        assert "Trigger cancelled by user action, invoking on_kill" in log and f"Stopped ECS task {first}" in log
    finally:
        ecs.hold = False
        for arn in set(ecs.running()) - before:  # nothing left for the agent to run after this test
            client.stop_task(cluster=ecs.settings.cluster, task=arn, reason="test teardown")


@contextmanager
def local_run_held(airflow: Standalone, run_id: str, day: int, request: dict) -> Iterator[None]:
    """Trigger `request` with the local runner (one batch) and hold local.run[0] back, with no
    `openquake` pool slot, while the block changes the world after the plan; the slot is back when
    the block ends, however it ends."""
    hold = "held by a test"
    airflow.cli("pools", "set", "openquake", "0", hold)
    try:
        trigger(airflow, run_id, day, request | {"runner": "local", "batch_cap": 1})
        waiting = lambda: reaches(airflow, run_id, "local.run[0]", {"scheduled", "queued"})  # noqa: E731
        wait_for(f"{run_id}: local.run[0] to wait for a slot", waiting, 300, 2)
        yield
    finally:
        airflow.cli("pools", "set", "openquake", "1", "released by a test")


def raised(airflow: Standalone, run_id: str, attempt: int = 1) -> list[dict]:
    """What local.run[0] raised on `attempt` (type and message), from its task log."""
    log = airflow.task_log("disagg_realizations", run_id, "local.run", 0, attempt)
    return [e["error_detail"][0] for e in log if e.get("error_detail")]  # the raised error first, its causes after


def test_a_transient_error_inside_the_local_worker_is_retried_and_the_retry_ingests(aws_env, airflow, outage):
    """DynamoDB is down while local.run's first try runs its batch: the try fails as TransientError,
    the retry policy retries it, DynamoDB is back by then, and the retry runs and ingests the batch."""
    conf, _ = aws_env
    try:
        with local_run_held(airflow, "transient", 3, conf | {"poes": [0.03]}):
            outage.down.set()
        first_try_failed = lambda: reaches(airflow, "transient", "local.run[0]", {"up_for_retry"})  # noqa: E731
        wait_for("local.run[0] to fail its first try", first_try_failed, 300, 1)
    finally:
        outage.down.clear()
    assert ended(airflow, "transient") == "success", (
        airflow.task_states("disagg_realizations", "transient"),
        airflow.log()[-5000:],
    )
    assert airflow.retry_decision("disagg_realizations", "transient", "local.run", 0, attempt=1) == ("retry", "transient")
    assert [e["exc_type"] for e in raised(airflow, "transient")] == ["TransientError"] and outage.refused > 0
    assert airflow.task_states("disagg_realizations", "transient")["local.ingest[0]"] == "success"
    assert airflow.try_number("disagg_realizations", "transient", "local.run", 0) == 2


def test_a_data_integrity_error_inside_the_local_worker_fails_at_once(aws_env, airflow):
    """A source file is edited after the plan keyed the jobs on its old bytes and before local.run
    rebuilds them: the edited leaf's job no longer has its planned key, a DataIntegrityError, and the
    task fails on its first try (the policy does not retry), the run with it."""
    conf, _ = aws_env
    with ExitStack() as edits:
        with local_run_held(airflow, "integrity", 4, conf | {"poes": [0.01]}):
            edits.enter_context(source_edited(Path(airflow.env["HAZFLOW_MODELS_DIR"]) / SLAB_BACKGROUND))
        assert ended(airflow, "integrity") == "failed"  # the source file stays edited until local.run has run
    assert airflow.task_states("disagg_realizations", "integrity")["local.run[0]"] == "failed"
    assert airflow.try_number("disagg_realizations", "integrity", "local.run", 0) == 1  # not retried
    assert airflow.retry_decision("disagg_realizations", "integrity", "local.run", 0) == ("fail", "data integrity")
    (error,) = raised(airflow, "integrity")
    assert error["exc_type"] == "DataIntegrityError" and "SLAB-1" in error["exc_value"]  # the edited leaf's job
    assert "did the model change since planning?" in error["exc_value"]  # its key, recomputed from the new bytes


def test_the_aggregation_it_starts_runs_under_the_scheduler_and_keeps_its_exports(ecs, aws_env, airflow):
    """A run's realizations done, it starts disagg_aggregation for exactly that set; unpaused, the
    scheduler runs it (plan, aggregate, export, summary) on the aws store: statistics, the target's
    summary and plots, and the exports kept in S3."""
    from hazflow.store import open_store
    from tests.dags.conftest import ECS_BUCKET

    conf, _ = aws_env
    trigger(airflow, "chain", 5, conf | {"poes": [0.05], "runner": "local", "batch_cap": 1})
    assert ended(airflow, "chain") == "success", (airflow.task_states("disagg_realizations", "chain"), airflow.log()[-5000:])
    run_id = "chain__disagg_aggregation"
    airflow.cli("dags", "unpause", "disagg_aggregation")
    state = wait_for(
        f"{run_id} to end", lambda: (s := airflow.run_state("disagg_aggregation", run_id)) in {"success", "failed"} and s, 600, 3
    )
    states = airflow.task_states("disagg_aggregation", run_id)
    assert state == "success", (states, airflow.log()[-5000:])
    assert {states[t] for t in ("plan", "aggregate[0]", "export", "summary")} == {"success"}
    store = open_store("aws", f"s3://{ECS_BUCKET}/hazflow", stage="ecs", endpoint_url=ecs.url)
    stem = "DEMO-WLG-vs400-PGA-poe5"
    assert store.reports(f"exports/DEMO/json/WLG/{stem}") == [f"exports/DEMO/json/WLG/{stem}.json"]
    assert f"disagg/DEMO/WLG/{stem}-summary.json" in store.reports("disagg/DEMO/WLG")
    assert store.get_disagg_aggregates("DEMO", "-41.300~174.780", 400.0, "PGA", 0.05)  # the statistics, in DynamoDB
