"""
### area_extract

The hazard of an area, for risk: the aggregated hazard curves of every grid site in a bounding box
or GeoJSON polygon, at one VS30 (or the rows of a site model in the area, each at its own VS30), as a bundle OpenQuake's **classical_risk** and **classical_damage**
import (the curves in OpenQuake's CSV layout, the site model, a job.ini for each, a README and a
manifest of provenance), kept in the store under `extracts/<model>/` (S3 on aws) with a zip.

`plan` validates the area and the request (a ring not closed, a self-intersecting polygon, an inverted
box, coordinates off the globe, an area with no grid point or more than `max_sites`, an unknown
statistic) and, without `compute`, fails listing the sites without curves. With `compute` it plans
the classical jobs of the sites that lack realizations (the sites together, one per leaf x VS30);
`run` and `ingest` are hazard_realizations' steps; `targets` lists the sites still without the curve
and `aggregate` maps hazard_aggregation over them; `bundle` writes and keeps the bundle; `summary`
says where it is. A rerun runs no OpenQuake job and rewrites the same bundle.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from hazflow_airflow.labels import TEMPLATE as LABEL
from hazflow_airflow.labels import set_label
from hazflow_airflow.params import (
    area_params,
    compute_param,
    exposure_params,
    imts_params,
    model_param,
    site_model_param,
    stat_param,
    vs30_param,
)
from hazflow_airflow.policies import DAG_DEFAULTS


@dag(
    dag_id="area_extract",
    tags=["hazflow", "hazard", "risk"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        **area_params(),
        "model": model_param(),
        "vs30": vs30_param(),
        "site_model": site_model_param(),
        **imts_params(["PGA", "SA(0.5)"]),
        "stat": stat_param(),
        "compute": compute_param(),
        **exposure_params(),
    },
)
def area_extract():
    @task(retries=0)
    def plan(**context) -> list[dict]:
        from hazflow.steps.area_extract import plan_jobs

        return plan_jobs(context["params"])

    @task(map_index_template=LABEL, max_active_tis_per_dag=2)
    def run(batch: dict) -> dict:
        from hazflow.steps.hazard_realizations import run as run_jobs

        set_label(batch["label"])
        return run_jobs(batch, False)

    @task(map_index_template=LABEL)
    def ingest(ran: dict) -> list[dict]:
        from hazflow.steps.hazard_realizations import ingest as ingest_jobs

        set_label(ran["label"])
        return ingest_jobs(ran, False)

    @task(trigger_rule="none_failed", retries=0)
    def targets(**context) -> list[list[dict]]:
        from hazflow.steps.area_extract import plan_targets

        return plan_targets(context["params"])

    @task(map_index_template=LABEL)
    def aggregate(batch: list[dict], **context) -> dict:
        from hazflow.steps.area_extract import aggregate_batch
        from hazflow.steps.hazard_aggregation import batch_label

        set_label(batch_label(batch))
        return aggregate_batch(batch, context["params"])

    @task(trigger_rule="none_failed")
    def bundle(**context) -> dict:
        from hazflow.steps.area_extract import keep_bundle

        return keep_bundle(context["params"])

    @task
    def summary(kept: dict) -> dict:
        from hazflow.steps.area_extract import summarise

        return summarise(kept)

    ingested = ingest.expand(ran=run.expand(batch=plan()))
    batches = targets()
    ingested >> batches
    kept = bundle()
    aggregate.expand(batch=batches) >> kept
    summary(kept)


area_extract()
