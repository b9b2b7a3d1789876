"""DAG runs as `airflow dags test` leaves them, for the demo and the tests: the queued runs other DAGs
triggered (no scheduler picks them up there), the latest run of a DAG, and what a task returned.

`airflow dags test` runs one DAG run in-process, without a scheduler, so a run started by
`TriggerDagRunOperator` stays queued. The demo and the tests then execute it, as a scheduler
would, with `airflow dags test DAG_ID LOGICAL_DATE -c CONF` (at the queued run's logical date,
which replaces the queued run by the executed one, with its conf):

    python -m hazflow_tools.runs queued disagg_aggregation [--run-id RUN_ID]   # LOGICAL_DATE<TAB>CONF per run
    python -m hazflow_tools.runs latest disagg_realizations                     # its latest run id
    python -m hazflow_tools.runs xcom disagg_aggregation summary --run-id RUN_ID  # the task's value, as JSON
    python -m hazflow_tools.runs seconds disagg_realizations --run-id RUN_ID      # the run's and its tasks' seconds
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any


def queued_runs(dag_id: str, run_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(logical date, conf) of the queued runs of `dag_id` (or of the one `run_id`), oldest first."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        query = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.state == DagRunState.QUEUED)
        if run_id:
            query = query.filter(DagRun.run_id == run_id)
        runs = query.order_by(DagRun.logical_date).all()
        return [(dr.logical_date.isoformat() if dr.logical_date else "", dict(dr.conf or {})) for dr in runs]


def latest_run(dag_id: str) -> str | None:
    """The id of the run of `dag_id` made last."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        return None if run is None else str(run.run_id)


def task_value(dag_id: str, task_id: str, run_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """What a task (or one mapped instance) returned, or pushed under `key`, in a run; None if it has not."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def run_seconds(dag_id: str, run_id: str) -> dict[str, float]:
    """Wall seconds of a run (`dag_run`: start to end) and of each of its tasks by task id (a mapped
    task: the sum over its instances, which `airflow dags test` runs one at a time; skipped tasks are
    left out); empty if the run is unknown or unfinished."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        if run is None or run.start_date is None or run.end_date is None:
            return {}
        seconds = {"dag_run": (run.end_date - run.start_date).total_seconds()}
        for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id):
            if ti.start_date and ti.end_date and ti.state != "skipped":  # not the runner group the branch skipped
                seconds[ti.task_id] = seconds.get(ti.task_id, 0.0) + (ti.end_date - ti.start_date).total_seconds()
        return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hazflow_tools.runs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    queued = sub.add_parser("queued", help="the queued runs of a DAG: logical date, a tab, the conf as JSON")
    queued.add_argument("dag_id")
    queued.add_argument("--run-id", help="only this run (e.g. <triggering run id>__disagg_aggregation)")
    latest = sub.add_parser("latest", help="the id of a DAG's latest run")
    latest.add_argument("dag_id")
    xcom = sub.add_parser("xcom", help="what a task of a run returned, as JSON")
    xcom.add_argument("dag_id")
    xcom.add_argument("task_id")
    xcom.add_argument("--run-id", required=True)
    xcom.add_argument("--key", default="return_value")
    seconds = sub.add_parser("seconds", help="wall seconds of a run and of each of its tasks, as JSON")
    seconds.add_argument("dag_id")
    seconds.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    if args.command == "queued":
        for logical_date, conf in queued_runs(args.dag_id, args.run_id):
            print(f"{logical_date}\t{json.dumps(conf)}")
    elif args.command == "latest":
        run_id = latest_run(args.dag_id)
        if run_id is None:
            return 1
        print(run_id)
    elif args.command == "seconds":
        print(json.dumps({task: round(s, 1) for task, s in run_seconds(args.dag_id, args.run_id).items()}))
    else:
        print(json.dumps(task_value(args.dag_id, args.task_id, args.run_id, args.key)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
