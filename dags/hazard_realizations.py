"""
### hazard_realizations

OpenQuake **classical** runs for each source-logic-tree *leaf* x *VS30* (the sites of a request
share one run), keeping every realization's hazard curves (leaf x GMM branch) in the store.

`plan` validates the request (model, sites, VS30s, IMTs, leaves) before any compute; `run` starts
OpenQuake for each job whose key the ledger does not already have as run; `ingest` reads the HDF5
into the store; `summary` counts what happened and gives the `hazard_realizations` asset an event;
then `start_aggregation` starts `hazard_aggregation` for exactly this realization set (model, sites,
VS30s, IMTs, leaves), so a run started from the UI flows on to the aggregated curves. Re-triggering a
finished request runs no OpenQuake job (and its aggregation rewrites the same rows); `force` re-runs them.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from hazflow_airflow.chain import start_next
from hazflow_airflow.labels import TEMPLATE as LABEL
from hazflow_airflow.labels import set_label
from hazflow_airflow.params import force_param, imts_params, leaves_param, model_param, sites_param, vs30s_params
from hazflow_airflow.policies import DAG_DEFAULTS

# Name only: a URI with a scheme makes Airflow load every provider's URI handlers at parse time.
HAZARD_REALIZATIONS = Asset(name="hazard_realizations")


@dag(
    dag_id="hazard_realizations",
    tags=["hazflow", "hazard", "openquake"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "model": model_param(),
        "sites": sites_param(["WLG", "CHC", "AKL"]),
        **vs30s_params([400]),
        **imts_params(["PGA", "SA(0.5)"]),
        "leaves": leaves_param(),
        "force": force_param(),
    },
)
def hazard_realizations():
    @task(retries=0)
    def plan(**context) -> list[dict]:
        from hazflow.steps.hazard_realizations import plan as plan_jobs

        return plan_jobs(context["params"])

    @task(map_index_template=LABEL, max_active_tis_per_dag=2)
    def run(batch: dict, **context) -> dict:
        from hazflow.steps.hazard_realizations import run as run_jobs

        set_label(batch["label"])
        return run_jobs(batch, bool(context["params"]["force"]))

    @task(map_index_template=LABEL)
    def ingest(ran: dict, **context) -> list[dict]:
        from hazflow.steps.hazard_realizations import ingest as ingest_jobs

        set_label(ran["label"])
        return ingest_jobs(ran, bool(context["params"]["force"]))

    @task(outlets=[HAZARD_REALIZATIONS], multiple_outputs=True)
    def summary(outcomes: list[list[dict]], **context) -> dict:
        from hazflow.steps.hazard_realizations import summarise

        result = summarise(context["params"], [outcomes[i] for i in range(len(outcomes))])
        context["outlet_events"][HAZARD_REALIZATIONS].extra = {"conf": result["aggregation_conf"]}
        return result

    done = summary(ingest.expand(ran=run.expand(batch=plan())))
    done >> start_next("hazard_aggregation", done["aggregation_conf"])


hazard_realizations()
