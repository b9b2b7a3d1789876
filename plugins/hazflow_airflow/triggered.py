"""List the DAG runs that other DAGs triggered and that wait for a scheduler.

`airflow dags test` runs one DAG run in-process, without a scheduler, so a run started by
`TriggerDagRunOperator` stays queued. The demo and the tests then execute it, as a scheduler
would, with `airflow dags test DAG_ID LOGICAL_DATE -c CONF` (at the queued run's logical date, which
replaces the queued run by the executed one, with its conf):

    python -m hazflow_airflow.triggered disagg_aggregation [--run-id RUN_ID]

prints one line per queued run: its logical date, a tab, and its conf as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence


def queued_runs(dag_id: str, run_id: str | None = None) -> list[tuple[str, dict]]:
    """(logical date, conf) of the queued runs of `dag_id` (or of the one `run_id`), oldest first."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        query = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.state == DagRunState.QUEUED)
        if run_id:
            query = query.filter(DagRun.run_id == run_id)
        return [(dr.logical_date.isoformat(), dict(dr.conf or {})) for dr in query.order_by(DagRun.logical_date)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hazflow_airflow.triggered", description=__doc__)
    parser.add_argument("dag_id")
    parser.add_argument("--run-id", help="only this run (e.g. <triggering run id>__disagg_aggregation)")
    args = parser.parse_args(argv)
    for logical_date, conf in queued_runs(args.dag_id, args.run_id):
        print(f"{logical_date}\t{json.dumps(conf)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
