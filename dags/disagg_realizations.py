"""
### disagg_realizations

OpenQuake **disaggregations** for each source-logic-tree *leaf* x site x VS30 x PoE (a *run*, its
IMTs together), each at the level read off the model's **aggregated mean hazard curve** (run
`hazard_aggregation` first). Every realization (leaf x GMM branch) is kept in the store.

- `disagg_engine`: **hazardlib** (default) computes every PoE and IMT of a leaf x VS30 x group of
  sites in one OpenQuake process (one *pass*: the leaf's rupture contexts built once per site, or
  once for all its sites when the leaf is plain faults);
  **oq** runs `oq engine --run` once per run, the reference the one-pass engine is tested against.
- `plan` validates everything before any compute (sites, VS30s, IMTs, PoEs, leaves, the curves
  and their range), keys every run, skips runs the ledger has as finished (unless `force`), groups
  the rest into passes and cuts those into at most `batch_cap` batches. The plan is kept in the store.
- `runner` branches to one task group per runner. Each writes the batch spec and runs its passes with
  the worker entrypoint, then `ingest` (pool `store_writes`) stores their realizations on the Airflow
  worker. Each mapped instance is labelled with its first pass.
  - **local**: `run` (pool `openquake`) runs the worker on this Airflow worker.
  - **ecs** (needs the aws store): `stage` writes the spec and the RunTask overrides; `run_task` (pool
    `ecs_tasks`), the Amazon provider's `EcsRunTaskOperator`, runs the worker as an ECS task on M5 capacity and
    *defers* while it runs (the triggerer waits; killing the Airflow task stops the ECS task; a retry
    reattaches to a task still running); `collect` reads the task's manifest and raises its
    failures by class.
- `summary` counts the request by ledger state and fails if a run did not finish; then
  `start_aggregation` starts `disagg_aggregation` for exactly this realization set, and the
  `disagg_realizations` asset gets an event.

Re-triggering a finished request runs no OpenQuake process.
"""

from __future__ import annotations

from airflow.sdk import Asset, TaskGroup, dag, task

from hazflow_airflow.chain import start_next
from hazflow_airflow.ecs import BatchEcsRunTaskOperator
from hazflow_airflow.labels import TEMPLATE as LABEL
from hazflow_airflow.labels import set_label
from hazflow_airflow.params import (
    batch_cap_param,
    contributors_param,
    disagg_engine_param,
    epsilon_star_param,
    force_param,
    imls_param,
    imts_params,
    leaves_param,
    model_param,
    poes_params,
    runner_param,
    sites_param,
    target_stat_param,
    vs30s_params,
)
from hazflow_airflow.policies import DAG_DEFAULTS

# Name only: a URI with a scheme makes Airflow load every provider's URI handlers (boto3) at parse time.
DISAGG_REALIZATIONS = Asset(name="disagg_realizations")


@dag(
    dag_id="disagg_realizations",
    tags=["hazflow", "disaggregation", "openquake"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "model": model_param(),
        "sites": sites_param(["WLG", "CHC", "AKL"]),
        **vs30s_params([400]),
        **imts_params(["PGA", "SA(0.5)"]),
        **poes_params([0.1, 0.02]),
        "leaves": leaves_param(),
        "disagg_engine": disagg_engine_param(),
        "epsilon_star": epsilon_star_param(),
        "contributors": contributors_param(),
        "target_stat": target_stat_param(),
        "imls": imls_param(),
        "runner": runner_param(),
        "batch_cap": batch_cap_param(),
        "force": force_param(),
    },
)
def disagg_realizations():
    @task(retries=0)
    def plan(**context) -> list[dict]:
        from hazflow.steps.disagg_realizations import plan as plan_request

        planned = plan_request(context["params"])
        context["ti"].xcom_push(key="plan", value={k: v for k, v in planned.items() if k != "batches"})
        return planned["batches"]

    @task.branch(retries=0)
    def runner(**context) -> str:
        from hazflow.steps.disagg_realizations import first_task

        return first_task(context["params"]["runner"])

    @task(map_index_template=LABEL, pool="openquake")
    def run(batch: dict, **context) -> dict:
        from hazflow.steps.disagg_realizations import run_local

        set_label(batch["label"])
        return run_local(batch, bool(context["params"]["force"]))

    @task(map_index_template=LABEL)
    def stage(batch: dict, **context) -> dict:
        from hazflow.steps.disagg_realizations import stage_for_ecs

        set_label(batch["label"])
        return stage_for_ecs(batch, bool(context["params"]["force"]))

    # After every ECS task has ended, failed or not (skipped with the group when the branch took local);
    # run_task did the retrying, so none here.
    @task(map_index_template=LABEL, trigger_rule="none_skipped", retries=0)
    def collect(batch: dict, **context) -> dict:
        from hazflow.steps.disagg_realizations import collect_from_ecs

        set_label(batch["label"])
        ti = context["ti"]
        ended = ti.xcom_pull(task_ids="ecs.run_task", map_indexes=ti.map_index)
        failure = ti.xcom_pull(task_ids="ecs.run_task", map_indexes=ti.map_index, key="failure")
        return collect_from_ecs(batch, ended, failure)

    @task(map_index_template=LABEL, pool="store_writes")
    def ingest(ran: dict, **context) -> list[dict]:
        from hazflow.steps.disagg_realizations import ingest as ingest_batch

        set_label(ran["label"])
        return ingest_batch(ran, bool(context["params"]["force"]))

    # Runs once every batch has finished, failed or not, to count them. No retries: it reads the
    # ledger, so a retry would count the same.
    @task(trigger_rule="all_done", outlets=[DISAGG_REALIZATIONS], multiple_outputs=True, retries=0)
    def summary(local: list[list[dict]], ecs: list[list[dict]], **context) -> dict:
        from hazflow.exceptions import DataIntegrityError
        from hazflow.steps.disagg_realizations import summarise

        planned = context["ti"].xcom_pull(task_ids="plan", key="plan")
        if planned is None:  # fail, not skip: the run must end failed and start no aggregation
            raise DataIntegrityError("no plan: the plan task failed (see its log) and nothing was run")
        ingested = [*(local[i] for i in range(len(local))), *(ecs[i] for i in range(len(ecs)))]  # no probe past the end
        result = summarise(planned["plan_id"], ingested)  # the runner not taken ingested nothing
        context["outlet_events"][DISAGG_REALIZATIONS].extra = {"plan_id": result["plan_id"], "conf": planned["aggregation_conf"]}
        return result | {"aggregation_conf": planned["aggregation_conf"]}

    batches = plan()
    route = runner()
    with TaskGroup("local", tooltip="OpenQuake on this Airflow worker"):
        ran_here = run.expand(batch=batches)
        ingested_here = ingest.expand(ran=ran_here)
    with TaskGroup("ecs", tooltip="OpenQuake as ECS tasks on M5 capacity; waits in the triggerer"):
        staged = stage.expand(batch=batches)
        # aws_conn_id None: boto3's own chain (the worker's role in AWS); the pool counts deferred instances
        one_task_per_batch = BatchEcsRunTaskOperator.partial(
            task_id="run_task", aws_conn_id=None, map_index_template=LABEL, pool="ecs_tasks"
        )
        ecs_task = one_task_per_batch.expand_kwargs(staged)
        ran_on_ecs = collect.expand(batch=batches)
        ecs_task >> ran_on_ecs
        ingested_on_ecs = ingest.expand(ran=ran_on_ecs)
    batches >> route >> [ran_here, staged]
    done = summary(ingested_here, ingested_on_ecs)
    done >> start_next("disagg_aggregation", done["aggregation_conf"])


disagg_realizations()
