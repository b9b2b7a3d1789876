"""
### disagg_aggregation

Aggregates stored disaggregation realizations over the model's logic tree for each target
(site x VS30 x IMT x PoE): the exact mean by bin (TRT x magnitude x distance x epsilon, the
model's regions on one common axis), std, cov and quantiles (full enumeration when the tree is
small, otherwise seeded sampling with a convergence report).

Every target gets a **closure check**: the sum over bins of the mean, as a probability, divided
by the target's annual PoE. Near 1 means the disaggregation accounts for the hazard at the level
read off the mean hazard curve. It is stored with the aggregate, returned in the summary and
printed in the plot's title with the modal bin.

`plan` checks every needed realization is stored and lists exactly which are missing. Targets
are mapped one per instance, or in at most 512 batches for larger requests (NSHM: 35 sites x
5 IMTs x 7 PoEs = 1,225 targets, more than Airflow maps).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from hazflow_airflow.params import (
    gmms_param,
    imts_param,
    leaves_param,
    model_param,
    poes_param,
    quantiles_param,
    samples_param,
    sites_param,
    vs30s_param,
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
        "vs30s": vs30s_param([400]),
        "imts": imts_param(["PGA", "SA(0.5)"]),
        "poes": poes_param([0.1]),
        "leaves": leaves_param(),
        "gmms": gmms_param(),
        "quantiles": quantiles_param(),
        "samples": samples_param(),
    },
)
def disagg_aggregation():
    @task(retries=0)
    def plan(**context) -> list[list[dict]]:
        from hazflow_airflow.tasks import plan_disagg_aggregation

        return plan_disagg_aggregation(context["params"])

    @task(map_index_template="{{ batch_label }}")
    def aggregate(batch: list[dict]) -> list[dict]:
        from hazflow_airflow.batching import batch_label
        from hazflow_airflow.tasks import aggregate_disagg_batch, disagg_target_label

        context = get_current_context()
        context["batch_label"] = batch_label([disagg_target_label(t) for t in batch])  # type: ignore[typeddict-unknown-key]
        return aggregate_disagg_batch(batch, context["params"])

    @task
    def summary(batches: list[list[dict]]) -> dict:
        results = [r for batch in batches for r in batch]
        out = {
            "targets": len(results),
            "closure": {r["label"]: r["closure"] for r in results},
            "modal": {r["label"]: r["modal"] for r in results},
        }
        print(f"disagg_aggregation summary: {out}")
        return out

    summary(aggregate.expand(batch=plan()))


disagg_aggregation()
