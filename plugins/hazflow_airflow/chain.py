"""How one DAG starts the next for exactly the set it produced (docs/ARCHITECTURE.md, "Which DAG
starts which"): a TriggerDagRunOperator, not an asset schedule, because the conf must travel."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator


def start_next(dag_id: str, conf: Any) -> TriggerDagRunOperator:
    """`start_aggregation`: start `dag_id` with `conf` (an XComArg) as `<this run id>__<dag_id>`;
    a retry never starts a second run."""
    return TriggerDagRunOperator(
        task_id="start_aggregation",
        trigger_dag_id=dag_id,
        trigger_run_id=f"{{{{ run_id }}}}__{dag_id}",
        conf=conf,
        skip_when_already_exists=True,
        wait_for_completion=False,
    )
