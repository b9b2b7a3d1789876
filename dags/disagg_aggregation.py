"""
### disagg_aggregation

Aggregates stored disaggregation realizations over the model's logic tree for each target
(site x VS30 x IMT x PoE): the exact mean by bin (TRT x magnitude x distance x epsilon, the
model's regions on one common axis), std, cov and exact quantiles (`quantile_method` auto: meet-in-the-middle, which selects each
quantile from two enumerated halves of the tree without building its composites; enumeration for a
tree that does not split; seeded sampling with a convergence report only when asked for or when a
tree neither splits nor fits the enumeration budget). The summary says which method each target used.

Every target gets a **closure check**: the sum over bins of the mean, as a probability, divided
by the target's annual PoE. Near 1 means the disaggregation accounts for the hazard at the level
read off the mean hazard curve. It is stored with the aggregate, returned in the summary and
printed in the plot's title with the modal bin. A closure further from 1 than `closure_tolerance`
(default 5 %) is flagged in the summary (`closure_outside`), the plot title and the stored
provenance; with `fail_on_closure` the run then fails, naming those targets (after storing them).

`plan` checks every needed realization is stored and lists exactly which are missing. Targets
are mapped one per instance, or in at most 512 batches for larger requests (NSHM: 35 sites x
5 IMTs x 7 PoEs = 1,225 targets, more than Airflow maps).
"""

from __future__ import annotations

from airflow.sdk import dag, task

from hazflow_airflow.labels import TEMPLATE as LABEL
from hazflow_airflow.labels import set_label
from hazflow_airflow.params import (
    closure_params,
    epsilon_star_param,
    exports_param,
    gmms_param,
    imls_param,
    imts_params,
    leaves_param,
    model_param,
    poes_params,
    quantile_method_param,
    quantiles_param,
    samples_param,
    sites_param,
    target_stat_param,
    vs30s_params,
)
from hazflow_airflow.policies import DAG_DEFAULTS


@dag(
    dag_id="disagg_aggregation",
    tags=["hazflow", "disaggregation", "aggregation"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "model": model_param(),
        "sites": sites_param(["WLG"]),
        **vs30s_params([400]),
        **imts_params(["PGA", "SA(0.5)"]),
        **poes_params([0.1]),
        "leaves": leaves_param(),
        "gmms": gmms_param(),
        "quantiles": quantiles_param(),
        "quantile_method": quantile_method_param(),
        "samples": samples_param(),
        **closure_params(),
        "exports": exports_param(),
        "epsilon_star": epsilon_star_param(),
        "target_stat": target_stat_param(),
        "imls": imls_param(),
    },
)
def disagg_aggregation():
    @task(retries=0)
    def plan(**context) -> list[list[dict]]:
        from hazflow.steps.disagg_aggregation import plan as plan_targets

        return plan_targets(context["params"])

    @task(map_index_template=LABEL)
    def aggregate(batch: list[dict], **context) -> list[dict]:
        from hazflow.steps.disagg_aggregation import aggregate_batch, batch_label

        set_label(batch_label(batch))
        return aggregate_batch(batch, context["params"])

    @task
    def export(batches: list[list[dict]], **context) -> dict:
        from hazflow.steps.disagg_aggregation import export as export_targets

        return export_targets(context["params"])

    @task
    def summary(batches: list[list[dict]], exported: dict, **context) -> dict:
        from hazflow.steps.disagg_aggregation import summarise

        return summarise(list(batches), context["params"], exported)

    batches = aggregate.expand(batch=plan())
    summary(batches, export(batches))


disagg_aggregation()
