"""
### coverage_backfill

Keeps the disaggregations a **coverage manifest** asks for in the store, on a schedule. The
manifest (a JSON list of requests: model, sites, VS30s, IMTs, PoEs, optional leaves) is compared
with the ledger, counting OpenQuake runs exactly as `disagg_realizations` plans them; for the sites
with runs to do, `fill` starts `disagg_realizations` runs, about `max_runs` OpenQuake runs per
coverage run at most, and by default waits for them (deferred: no worker slot is held).

- Sites without an aggregated hazard curve yet are listed, not filled (run `hazard_aggregation`).
- Safe under `airflow backfill create`: one run at a time, each starting its requests under run ids
  derived from its own, so a retried or re-run date never starts a request twice, and the next
  date sees what the previous one filled. A complete coverage starts nothing.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task

from hazflow_airflow.params import runner_param
from hazflow_airflow.policies import DEFAULT_ARGS


@dag(
    dag_id="coverage_backfill",
    tags=["hazflow", "disaggregation", "coverage"],
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # each date sees what the previous one filled
    default_args=DEFAULT_ARGS,
    params={
        "manifest": Param(
            "include/hazflow-data/coverage/demo.json",
            type="string",
            minLength=1,
            description="Coverage manifest: a JSON file (relative to the project).",
        ),
        "max_runs": Param(
            256, type="integer", minimum=1, description="About this many OpenQuake runs per coverage run, at most."
        ),
        "runner": runner_param(),
        "wait": Param(True, type="boolean", description="Wait for the started disagg_realizations runs (deferred)."),
    },
)
def coverage_backfill():
    @task(retries=1)
    def gaps(**context) -> list[dict]:
        from hazflow.steps.coverage_backfill import fill as coverage_fill

        fill, found = coverage_fill(context["params"])
        context["ti"].xcom_push(key="gaps", value=found)  # what is missing, including what cannot be filled yet
        return fill

    TriggerDagRunOperator.partial(
        task_id="fill",
        trigger_dag_id="disagg_realizations",
        trigger_run_id="{{ run_id }}__fill_{{ ti.map_index }}",
        skip_when_already_exists=True,  # a retried fill never starts its request twice
        deferrable=True,
        poke_interval=60,
        map_index_template="{{ task.conf['sites'] | join(',') }} vs30={{ task.conf['vs30s'][0] }}",
    ).expand_kwargs(gaps())


coverage_backfill()
