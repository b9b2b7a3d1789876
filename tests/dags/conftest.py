"""Real `airflow dags test` runs shared by the DAG tests, and what they left in Airflow's database:
run ids, XComs (the tasks' returned values) and the labels of mapped instances. Tests read those and
the store, never the printed log, except for error messages and the logs' own plumbing."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.warm_airflow import dag_file, run_airflow

ECS_BUCKET = "hazflow-ecs-test"
SUBSET = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["CRU-1", "HIK-1", "SLAB-1"]}


@dataclass(frozen=True)
class DagTest:
    """One `airflow dags test` run: its exit code, its output, and its run in Airflow's database."""

    dag_id: str
    code: int
    log: str
    run_id: str

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """What a task of this run returned (or pushed under `key`)."""
        from hazflow_tools.runs import task_value

        value = task_value(self.dag_id, task_id, self.run_id, key, map_index)
        assert value is not None, f"no XCom {key!r} of {self.dag_id}.{task_id}[{map_index}] in {self.run_id}: {self.log[-3000:]}"
        return value

    def summary(self) -> dict:
        """What this run's `summary` task returned."""
        return self.xcom("summary")

    def labels(self, task_id: str) -> list[str]:
        """The UI labels of a mapped task's instances, by map index."""
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            tis = session.query(TaskInstance).filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id)
            return [ti.rendered_map_index for ti in tis.order_by(TaskInstance.map_index) if ti.map_index >= 0]

    def states(self) -> dict[str, str]:
        """Each task instance's state, as `task_id` or `task_id[map_index]`."""
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            tis = session.query(TaskInstance).filter_by(dag_id=self.dag_id, run_id=self.run_id)
            return {ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in tis}

    def seconds(self) -> dict[str, float]:
        """Wall seconds of this run (`dag_run`) and of each of its tasks (`plan`, `run`, ...)."""
        from hazflow_tools.runs import run_seconds

        return run_seconds(self.dag_id, self.run_id)


def dags_test(
    dag_id: str, conf: dict, store_root: Path, logical_date: str | None = None, env: dict[str, str] | None = None
) -> DagTest:
    """`airflow dags test` with the store under `store_root` (work folder beside it); `env` adds to or overrides that."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    env = {
        **os.environ,
        "HAZFLOW_STORE_ROOT": str(store_root),
        "HAZFLOW_WORK_DIR": str(store_root.parent / "work"),
        "HAZFLOW_OQ_WARM_SOCKET": shared_openquake(),
        **(env or {}),
    }
    argv = ["dags", "test", dag_id, *([logical_date] if logical_date else []), "-c", json.dumps(conf)]
    argv += ["-f", str(dag_file(dag_id))]  # parsed and serialized alone first; the run syncs the folder's DAGs itself
    code, log = run_airflow(argv, env, timeout_s=900)  # a fork of the worker's warm Airflow process
    with create_session() as session:  # the run just made: a worker runs one test at a time in its own Airflow home
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        assert run is not None, log[-3000:]
        return DagTest(dag_id, code, log, str(run.run_id))


def shared_openquake() -> str:
    """The socket of this worker's warm OpenQuake process, which the OpenQuake runs of every `airflow
    dags test` fork (HAZFLOW_OQ_WARM_SOCKET, as a host's shared warm process would serve its tasks):
    OpenQuake's start-up is paid once per worker, not once per run."""
    from hazflow.config import Config
    from hazflow.openquake.runner import own_warm_process

    return str(own_warm_process(Config().openquake()).socket_path())


def triggered_run(triggering: DagTest) -> tuple[str, dict] | None:
    """(logical date, conf) of the disagg_aggregation run a disagg_realizations run started, if queued."""
    from hazflow_tools.runs import queued_runs

    runs = queued_runs("disagg_aggregation", f"{triggering.run_id}__disagg_aggregation")
    return runs[0] if runs else None


def drop_queued_run(triggering: DagTest) -> None:
    """Delete the aggregation run a test triggered but does not execute (no scheduler picks it up later)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    run_id = f"{triggering.run_id}__disagg_aggregation"
    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == "disagg_aggregation", DagRun.run_id == run_id).delete()


@pytest.fixture(scope="session")
def realizations_run(tmp_path_factory) -> tuple[dict, Path, DagTest]:
    """hazard_realizations for one leaf of each DEMO fault system at WLG, PGA: three real OpenQuake jobs."""
    store_root = tmp_path_factory.mktemp("dag") / "store"
    return SUBSET, store_root, dags_test("hazard_realizations", SUBSET, store_root)


@pytest.fixture(scope="session")
def hazard_aggregated(realizations_run) -> tuple[dict, Path, DagTest]:
    """hazard_aggregation of the subset (mean, std, cov and three quantiles)."""
    conf, store_root, run = realizations_run
    assert run.code == 0, run.log[-3000:]
    return conf, store_root, dags_test("hazard_aggregation", conf | {"quantiles": [0.1, 0.5, 0.9]}, store_root)


@pytest.fixture(scope="session")
def disagg_realizations_run(hazard_aggregated) -> tuple[dict, Path, DagTest]:
    """disagg_realizations of the subset at 10 % in 50 years, levels read off the aggregated curve: three OpenQuake runs."""
    conf, store_root, run = hazard_aggregated
    assert run.code == 0, run.log[-3000:]
    conf = conf | {"poes": [0.1]}
    return conf, store_root, dags_test("disagg_realizations", conf, store_root)


@pytest.fixture(scope="session")
def disaggregated(disagg_realizations_run) -> tuple[dict, Path, DagTest]:
    conf, store_root, run = disagg_realizations_run
    assert run.code == 0, run.log[-3000:]
    return conf, store_root, run


@pytest.fixture(scope="module")
def ecs(tmp_path_factory):
    """moto_server with hazflow's ECS deployment and a stand-in agent running its tasks (`tests.support.ecs_agent`)."""
    from tests.support.ecs_agent import ecs_on_moto

    with ecs_on_moto(tmp_path_factory.mktemp("containers")) as agent:
        yield agent


@pytest.fixture(scope="module")
def aws_env(ecs, hazard_aggregated):
    """The Airflow side on the aws store (moto), seeded with the aggregated curves the plan reads levels from."""
    import boto3

    from hazflow.store import open_store

    conf, local_root, run = hazard_aggregated
    assert run.code == 0, run.log[-3000:]
    boto3.client("s3", endpoint_url=ecs.url, region_name="ap-southeast-2").create_bucket(
        Bucket=ECS_BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
    )
    store = open_store("aws", f"s3://{ECS_BUCKET}/hazflow", stage="ecs", endpoint_url=ecs.url)
    store.put_hazard_aggregates(open_store("local", str(local_root)).get_hazard_aggregates("DEMO", "-41.300~174.780", 400, "PGA"))
    return conf, {
        "HAZFLOW_STORE_BACKEND": "aws",
        "HAZFLOW_STORE_ROOT": f"s3://{ECS_BUCKET}/hazflow",
        "HAZFLOW_AWS_STAGE": "ecs",
        "HAZFLOW_AWS_ENDPOINT": ecs.url,
        "AWS_ENDPOINT_URL": ecs.url,  # the operator's boto3 clients (ECS, CloudWatch logs)
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "HAZFLOW_ECS_WAITER_DELAY": "1",
        "HAZFLOW_ECS_OQ_PARALLEL": "2",
    }
