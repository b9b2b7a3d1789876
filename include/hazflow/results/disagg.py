"""The Disaggregation view's numbers: the targets kept for a site, and one target's summary with its
mean matrix (percent of the recovered rate per TRT x Mag x Dist x Eps bin), its M-R marginal, and
where its exports are.

The summary is the document `disagg_aggregation` keeps (`report.target_summary`), so the view, the
DAG's summary, `python -m hazflow show` and the exports read the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from hazflow.exceptions import BadRequest
from hazflow.model.sites import Site, resolve_sites
from hazflow.report.target_summary import disagg_summary_name, stored_summaries
from hazflow.results.hazard import NothingStored, SiteQuery, fraction
from hazflow.store.base import Store


def targets_of_site(store: Store, model: str, site: str) -> list[dict[str, Any]]:
    """Every target summary kept for a site of `model`: VS30, IMT, PoE, level, closure, mean M-R-eps,
    sorted by VS30, IMT and PoE (largest first)."""
    (resolved,) = resolve_sites([site], field="site")
    rows = [
        {"vs30": s.vs30, "imt": s.imt, "poe": s.poe, "iml": s.iml, "closure": s.mre.closure,
         "mean": {"mag": s.mre.mean_mag, "dist": s.mre.mean_dist, "eps": s.mre.mean_eps}, "epsilon_star": s.epsilon_star}
        for s in stored_summaries(store, model, resolved)
    ]  # fmt: skip
    return sorted(rows, key=lambda r: (r["vs30"], r["imt"], -r["poe"]))


def target(store: Store, model: str, site: str, vs30: str | float, imt: str, poe: str | float) -> dict[str, Any]:
    """One target: its kept summary (`summary`, as `DisaggSummary.to_dict`), the mean disaggregation
    as percent of the recovered rate (`matrix`: `axes`, `trts`, bin `edges`, `values` nested in axis
    order), its M-R marginal (`mr`: (Mag, Dist) percent) and the report names of its summary and exports."""
    query = SiteQuery.parse(model, site, vs30)
    chosen = fraction(poe, "poe", "a PoE in 50 years")
    name = disagg_summary_name(model, query.site, query.vs30, imt, chosen)
    if name not in store.reports(name.rsplit("/", 1)[0] + "/"):
        raise NothingStored(f"no disaggregation summary of {model} at {query.site.id}, VS30 {query.vs30:g}, {imt}, "
                            f"PoE {chosen:g}: run disagg_aggregation for it first")  # fmt: skip
    summary = json.loads(store.read_report(name))
    means = [a for a in store.get_disagg_aggregates(model, query.site.code, query.vs30, imt, chosen) if a.agg == "mean"]
    if not means:
        raise NothingStored(f"the summary {name} is kept but its mean disaggregation is not in the store")
    mean = means[0]
    values = np.asarray(mean.values, dtype=float)
    percent = 100 * values / values.sum() if values.sum() > 0 else values
    axes = list(mean.axes)
    keep = tuple(i for i, a in enumerate(axes) if a not in ("Mag", "Dist"))
    return {
        "model": model,
        "site": query.site.id,
        "site_code": query.site.code,
        "vs30": query.vs30,
        "imt": imt,
        "poe": chosen,
        "summary": summary,
        "matrix": {
            "axes": axes,
            "trts": list(mean.trts),
            "edges": {axis: np.asarray(e, dtype=float).tolist() for axis, e in mean.bin_edges.items()},
            "values": percent.tolist(),
            "closure": mean.closure,
        },
        "mr": percent.sum(axis=keep).tolist(),  # (Mag, Dist) percent
        "reports": _report_names(store, model, query.site, name, query.vs30),
    }


def _report_names(store: Store, model: str, site: Site, summary_name: str, vs30: float) -> dict[str, list[str]]:
    """The summary, the target's plots, its JSON and CSV exports (named by the target's stem), and the
    parquet files of the THS datasets holding its VS30, as kept in the store."""
    stem = summary_name.rsplit("/", 1)[1].removesuffix("-summary.json")

    def of_target(name: str) -> bool:
        base = name.rsplit("/", 1)[1]
        return base.split(".", 1)[0] == stem or base.startswith(f"{stem}-")

    plots = [n for n in store.reports(f"disagg/{model}/{site.id}/") if n.endswith(".png") and of_target(n)]
    exports = store.reports(f"exports/{model}/")
    return {
        "summary": [summary_name],
        "plots": sorted(plots),
        "json": sorted(n for n in exports if n.endswith(".json") and of_target(n)),
        "csv": sorted(n for n in exports if n.endswith(".csv") and of_target(n)),
        "ths": sorted(n for n in exports if n.endswith(".parquet") and f"vs30={vs30:g}" in n),
    }


def run_targets(plan_xcom: Any) -> list[dict[str, Any]]:
    """The targets of a disagg_aggregation run, from its `plan` task's XCom (batches of target dicts),
    as (site id, VS30, IMT, PoE) rows: what the run aggregated, defaulted Params included."""
    if not isinstance(plan_xcom, list):
        raise BadRequest("run_id", "the run has no plan yet (its plan task has not succeeded)")
    rows = [_target_row(t) for batch in plan_xcom for t in batch]
    return sorted(rows, key=lambda r: (r["site"], r["vs30"], r["imt"], -r["poe"]))


def _target_row(t: Mapping[str, Any]) -> dict[str, Any]:
    return {"site": t["site"]["id"], "vs30": float(t["vs30"]), "imt": str(t["imt"]), "poe": float(t["poe"])}
