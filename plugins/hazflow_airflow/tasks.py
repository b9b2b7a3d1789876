"""Task bodies: turn Params and XComs into domain calls; return small JSON values."""

from __future__ import annotations

from typing import Any


def _config():
    from hazflow.config import Config

    return Config.from_env()


def plan_hazard(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate the request and return the job specs still to do (as dicts), in leaf x VS30 order."""
    from hazflow.openquake.runner import engine_version
    from hazflow.request import HazardRequest

    config = _config()
    request = HazardRequest.parse(params["model"], params["sites"], params["vs30s"], params["imts"], params["leaves"])
    return [spec.to_dict() for spec in request.jobs(engine_version(config.oq_python))]


def run_spec(spec: dict[str, Any], force: bool) -> dict[str, Any]:
    from hazflow.jobs import JobSpec
    from hazflow.realizations import run_job

    config = _config()
    return run_job(JobSpec.from_dict(spec), config.open_store(), config, force=force).to_dict()


def ingest_outcome(outcome: dict[str, Any], force: bool) -> dict[str, Any]:
    from hazflow.jobs import JobSpec
    from hazflow.realizations import ingest_job

    store = _config().open_store()
    entry = store.ledger_get(outcome["job_key"])
    if entry is None:
        from hazflow.exceptions import DataIntegrityError

        raise DataIntegrityError(f"job {outcome['job_key']} is not in the ledger")
    import json

    result = ingest_job(JobSpec.from_dict(json.loads(entry.spec)), store, force=force).to_dict()
    result["openquake_ran"] = not outcome["skipped"]  # did this run start OpenQuake for the job?
    return result


def summarise(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by state; OpenQuake jobs run by this DAG run (not reused), their seconds and HDF5 bytes."""
    from collections import Counter

    states = Counter(o["state"] for o in outcomes)
    ran = [o for o in outcomes if o["openquake_ran"]]
    return {
        "jobs": len(outcomes),
        "states": dict(sorted(states.items())),
        "openquake_runs": len(ran),
        "reused": len(outcomes) - len(ran),
        "oq_seconds": round(sum(o["oq_seconds"] for o in ran), 1),
        "hdf5_bytes": sum(o["hdf5_bytes"] for o in ran),
        "rows_ingested": sum(o["rows"] for o in outcomes if not o["skipped"]),
    }


def _aggregation_inputs(params: dict[str, Any]):
    from hazflow.aggregate.tree import build_tree
    from hazflow.model import load_model
    from hazflow.request import validate_imts, validate_vs30s
    from hazflow.sites import resolve_sites

    model = load_model(params["model"])
    leaves = None if params["leaves"] in (["all"], "all", None) else params["leaves"]
    gmms = None if params["gmms"] in (["all"], "all", None) else params["gmms"]
    tree = build_tree(model, leaves, gmms)
    return model, tree, resolve_sites(params["sites"]), validate_vs30s(params["vs30s"]), validate_imts(params["imts"])


def plan_hazard_aggregation(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Validate and check every needed realization is stored; batches of (site, VS30) targets."""
    from hazflow.hazard_aggregation import plan_hazard_aggregation as plan
    from hazflow.hazard_aggregation import validate_quantiles
    from hazflow_airflow.batching import batches

    validate_quantiles(params["quantiles"])
    model, tree, sites, vs30s, imts = _aggregation_inputs(params)
    targets = plan(_config().open_store(), model, tree, sites, vs30s, imts)
    return batches([{"site": vars(site), "vs30": vs30} for site, vs30 in targets])


def hazard_target_label(target: dict[str, Any]) -> str:
    return f"{target['site']['id']} vs30={target['vs30']:g}"


def aggregate_hazard_batch(batch: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Aggregate each (site, VS30) of a batch; merge their results."""
    results = [aggregate_hazard_target(target, params) for target in batch]
    return {
        "targets": len(results),
        "statistics": sum(r["statistics"] for r in results),
        "plots": [p for r in results for p in r["plots"]],
    }


def aggregate_hazard_target(target: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Aggregate one (site, VS30) for every IMT, store the statistics and a plot per IMT."""
    import tempfile
    from pathlib import Path

    from hazflow.hazard_aggregation import aggregate_hazard, validate_quantiles
    from hazflow.report import hazard_plot_name, plot_hazard_curve
    from hazflow.sites import Site

    model, tree, _, _, imts = _aggregation_inputs(params)
    site, vs30 = Site(**target["site"]), float(target["vs30"])
    store = _config().open_store()
    rows = aggregate_hazard(store, model, tree, site, vs30, imts, validate_quantiles(params["quantiles"]))
    plots = []
    with tempfile.TemporaryDirectory() as tmp:
        for imt in imts:
            png = plot_hazard_curve([r for r in rows if r.imt == imt], site, Path(tmp) / "plot.png")
            plots.append(store.put_report(hazard_plot_name(model.name, site, vs30, imt), png))
    return {"label": f"{site.id} vs30={vs30:g}", "statistics": len(rows), "plots": plots}


def plan_disagg_aggregation(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Validate; check every needed disaggregation realization is stored; batches of (site, VS30, IMT, PoE) targets."""
    from hazflow.disagg import validate_poes
    from hazflow.disagg_aggregation import component_matrix
    from hazflow.exceptions import BadRequest
    from hazflow.hazard_aggregation import MissingRealizations, validate_quantiles
    from hazflow_airflow.batching import batches

    validate_quantiles(params["quantiles"])
    poes = validate_poes(params["poes"])
    model, tree, sites, vs30s, imts = _aggregation_inputs(params)
    store = _config().open_store()
    targets, problems = [], []
    for site in sites:
        for vs30 in vs30s:
            for imt in imts:
                for poe in poes:
                    label = f"{site.id} vs30={vs30:g} {imt} {poe * 100:g}%/50yr"
                    try:
                        component_matrix(model, tree, store.get_disagg_realizations(model.name, site.code, vs30, imt, poe), label)
                    except MissingRealizations as e:
                        problems.append(e.message)
                        continue
                    targets.append({"site": vars(site), "vs30": vs30, "imt": imt, "poe": poe})
    if problems:
        raise BadRequest("realizations", "; ".join(problems) + ". Run the disaggregations first.")
    return batches(targets)


def disagg_target_label(target: dict[str, Any]) -> str:
    return f"{target['site']['id']} vs30={target['vs30']:g} {target['imt']} {target['poe'] * 100:g}%/50yr"


def aggregate_disagg_batch(batch: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    return [aggregate_disagg_target(target, params) for target in batch]


def aggregate_disagg_target(target: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Aggregate one disaggregation target, store it with its closure, and keep its plot."""
    import tempfile
    from pathlib import Path

    from hazflow.disagg_aggregation import aggregate_disagg
    from hazflow.hazard_aggregation import validate_quantiles
    from hazflow.report import disagg_plot_name, modal_bin, plot_disaggregation
    from hazflow.sites import Site

    model, tree, _, _, _ = _aggregation_inputs(params)
    site, vs30, imt, poe = Site(**target["site"]), float(target["vs30"]), target["imt"], float(target["poe"])
    store = _config().open_store()
    rows, result = aggregate_disagg(
        store, model, tree, site, vs30, imt, poe, validate_quantiles(params["quantiles"]), int(params["samples"])
    )
    mean = next(r for r in rows if r.agg == "mean")
    with tempfile.TemporaryDirectory() as tmp:
        plot = store.put_report(
            disagg_plot_name(model.name, site, vs30, imt, poe), plot_disaggregation(mean, site, Path(tmp) / "d.png")
        )
    mode = modal_bin(mean)
    return {
        "label": f"{site.id} vs30={vs30:g} {imt} {poe * 100:g}%/50yr",
        "iml": mean.iml,
        "closure": round(mean.closure, 4),
        "method": result.method,
        "modal": f"{mode['TRT']} M{mode['Mag']:.2f} {mode['Dist']:g} km eps {mode['Eps']:.2f}",
        "plot": plot,
    }
