"""
### hazard_aggregation

Aggregates stored hazard-curve realizations over the model's logic tree for each site x VS30 and
IMT: the exact mean (through marginal weights), std and cov of the rate, and exact weighted quantiles
over the composite branches (NSHM's midpoint convention; `quantile_method` auto selects them by
meet-in-the-middle without building the composites, as for disaggregations). These aggregated curves are the
"hazard database" that IMTL lookups read. A plot per curve (mean, quantile band, 10 % and 2 % in
50 years marked) is kept with the store's reports.

`plan` checks every needed realization is stored and fails, listing exactly which are missing,
before any compute. Targets are mapped one per instance, or in at most 512 batches for larger requests. `leaves` and `gmms` restrict the tree to a subset (weights renormalised; the
stored provenance says so). Rerunning replaces the same rows.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from hazflow_airflow.labels import TEMPLATE as LABEL
from hazflow_airflow.labels import set_label
from hazflow_airflow.params import (
    gmms_param,
    imts_params,
    leaves_param,
    model_param,
    quantile_method_param,
    quantiles_param,
    sites_param,
    vs30s_params,
)
from hazflow_airflow.policies import DAG_DEFAULTS


@dag(
    dag_id="hazard_aggregation",
    tags=["hazflow", "hazard", "aggregation"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "model": model_param(),
        "sites": sites_param(["WLG", "CHC", "AKL"]),
        **vs30s_params([400]),
        **imts_params(["PGA", "SA(0.5)"]),
        "leaves": leaves_param(),
        "gmms": gmms_param(),
        "quantiles": quantiles_param(),
        "quantile_method": quantile_method_param(),
    },
)
def hazard_aggregation():
    @task(retries=0)
    def plan(**context) -> list[list[dict]]:
        from hazflow.steps.hazard_aggregation import plan as plan_targets

        return plan_targets(context["params"])

    @task(map_index_template=LABEL)
    def aggregate(batch: list[dict], **context) -> dict:
        from hazflow.steps.hazard_aggregation import aggregate_batch, batch_label

        set_label(batch_label(batch))
        return aggregate_batch(batch, context["params"])

    @task
    def summary(results: list[dict]) -> dict:
        from hazflow.steps.hazard_aggregation import summarise

        return summarise(list(results))

    summary(aggregate.expand(batch=plan()))


hazard_aggregation()
