"""Task bodies: turn Params and XComs into domain calls; return small JSON values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _config():
    from hazflow.config import Config

    return Config.from_env()


def plan_hazard(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate the request and return every job spec (as dicts), in leaf x VS30 order; `run` skips those done."""
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
    import json

    from hazflow.exceptions import DataIntegrityError
    from hazflow.jobs import JobSpec
    from hazflow.realizations import ingest_job

    store = _config().open_store()
    entry = store.ledger_get(outcome["job_key"])
    if entry is None:
        raise DataIntegrityError(f"job {outcome['job_key']} is not in the ledger")
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


@dataclass(frozen=True)
class _Inputs:
    """What every aggregation task of a DAG run shares, built once per task."""

    model: Any
    tree: Any  # CompositeTree, whose cached block layout then serves every target of the batch
    sites: tuple
    vs30s: tuple[float, ...]
    imts: tuple[str, ...]
    quantiles: tuple[float, ...]
    store: Any


def _aggregation_inputs(params: dict[str, Any]) -> _Inputs:
    from hazflow.aggregate.tree import build_tree
    from hazflow.model import load_model
    from hazflow.request import validate_fractions, validate_imts, validate_leaves, validate_vs30s
    from hazflow.sites import resolve_sites

    quantiles = validate_fractions(params["quantiles"], "quantiles", "quantile", open_interval=False, allow_empty=True)
    model = load_model(params["model"])
    leaves = [leaf.id for leaf in validate_leaves(model, params["leaves"])]
    gmms = None if params["gmms"] in (["all"], "all", None) else params["gmms"]
    return _Inputs(
        model,
        build_tree(model, leaves, gmms),
        tuple(resolve_sites(params["sites"])),
        validate_vs30s(params["vs30s"]),
        validate_imts(params["imts"]),
        quantiles,
        _config().open_store(),
    )


def hazard_target_label(target: dict[str, Any]) -> str:
    from hazflow.jobs import target_label

    return target_label(target["site"]["id"], target["vs30"])


def disagg_target_label(target: dict[str, Any]) -> str:
    from hazflow.jobs import target_label

    return target_label(target["site"]["id"], target["vs30"], target["imt"], target["poe"])


def plan_hazard_aggregation(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Validate and check every needed realization is stored; batches of (site, VS30) targets."""
    from hazflow.hazard_aggregation import plan_hazard_aggregation as plan
    from hazflow_airflow.batching import batches

    i = _aggregation_inputs(params)
    targets = plan(i.store, i.model, i.tree, i.sites, i.vs30s, i.imts)
    return batches([{"site": vars(site), "vs30": vs30} for site, vs30 in targets])


def aggregate_hazard_batch(batch: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Aggregate each (site, VS30) of a batch for every IMT; store the statistics and a plot per IMT."""
    import tempfile
    from pathlib import Path

    from hazflow.hazard_aggregation import aggregate_hazard
    from hazflow.report import hazard_plot_name, plot_hazard_curve
    from hazflow.sites import Site

    i = _aggregation_inputs(params)
    statistics, plots = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for target in batch:
            site, vs30 = Site(**target["site"]), float(target["vs30"])
            rows = aggregate_hazard(i.store, i.model, i.tree, site, vs30, i.imts, i.quantiles)
            statistics += len(rows)
            for imt in i.imts:
                png = plot_hazard_curve([r for r in rows if r.imt == imt], site, Path(tmp) / "plot.png")
                plots.append(i.store.put_report(hazard_plot_name(i.model.name, site, vs30, imt), png))
    return {"targets": len(batch), "statistics": statistics, "plots": plots}


def plan_disagg_aggregation(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Validate; check every needed disaggregation realization is stored; batches of (site, VS30, IMT, PoE) targets."""
    from hazflow.disagg_aggregation import plan_disagg_aggregation as plan
    from hazflow.request import validate_poes
    from hazflow_airflow.batching import batches

    poes = validate_poes(params["poes"])
    i = _aggregation_inputs(params)
    targets = plan(i.store, i.model, i.tree, i.sites, i.vs30s, i.imts, poes)
    return batches([{"site": vars(site), "vs30": vs30, "imt": imt, "poe": poe} for site, vs30, imt, poe in targets])


def aggregate_disagg_batch(batch: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Aggregate each disaggregation target of a batch, store it with its closure, and keep its plot."""
    import tempfile
    from pathlib import Path

    from hazflow.disagg_aggregation import aggregate_disagg
    from hazflow.report import disagg_plot_name, modal_bin, plot_disaggregation
    from hazflow.sites import Site

    i = _aggregation_inputs(params)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in batch:
            site, vs30, imt, poe = Site(**target["site"]), float(target["vs30"]), target["imt"], float(target["poe"])
            rows, result = aggregate_disagg(i.store, i.model, i.tree, site, vs30, imt, poe, i.quantiles, int(params["samples"]))
            mean = next(r for r in rows if r.agg == "mean")
            png = plot_disaggregation(mean, site, Path(tmp) / "d.png")
            mode = modal_bin(mean)
            results.append(
                {
                    "label": disagg_target_label(target),
                    "iml": mean.iml,
                    "closure": round(mean.closure, 4),
                    "method": result.method,
                    "modal": f"{mode['TRT']} M{mode['Mag']:.2f} {mode['Dist']:g} km eps {mode['Eps']:.2f}",
                    "plot": i.store.put_report(disagg_plot_name(i.model.name, site, vs30, imt, poe), png),
                }
            )
    return results


def plan_disagg_realizations(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the request, read each target's level, key every run, skip those done, batch the rest.

    The plan is kept in the store; the XCom holds its id, one small descriptor per batch, and the
    conf that starts `disagg_aggregation` for exactly this realization set.
    """
    from hazflow.openquake.runner import engine_version
    from hazflow.plan import DisaggRequest, plan_disagg

    config = _config()
    p = params
    request = DisaggRequest.parse(p["model"], p["sites"], p["vs30s"], p["imts"], p["poes"], p["leaves"], runnable=True)
    if p["runner"] == "ecs":  # the containers must reach the store: fail here, before any compute
        from hazflow.aws.ecs import EcsSettings, worker_environment

        worker_environment(config, EcsSettings.from_env())
    store = config.open_store()
    curves = config.curves_source(request.model.settings.levels)
    oq_version = engine_version(config.oq_python)
    plan = plan_disagg(request, store, oq_version, force=bool(p["force"]), batch_cap=p["batch_cap"], curves=curves)
    store.put_plan(plan.plan_id, plan.to_document())
    batches = [
        {"plan_id": plan.plan_id, "batch": i, "label": plan.batch_label(i), "runs": len(plan.batch_runs(i))}
        for i in range(len(plan.batches))
    ]
    print(
        f"plan {plan.plan_id}: {plan.jobs} jobs = {plan.total_runs} OpenQuake runs; "
        f"{plan.skipped} already done, {len(plan.keys)} to do in {len(batches)} batch(es)"
    )
    return {
        "plan_id": plan.plan_id,
        "batches": batches,
        "aggregation_conf": request.to_conf(),
        "jobs": plan.jobs,
        "runs": plan.total_runs,
        "skipped": plan.skipped,
    }


def _plan(plan_id: str):  # -> (DisaggPlan, Store)
    from hazflow.plan import DisaggPlan

    store = _config().open_store()
    return DisaggPlan.from_document(store.get_plan(plan_id)), store


def stage_disagg_batch(batch: dict[str, Any], force: bool, config) -> str:
    """Write the batch spec a worker runs (its job specs, checked against the planned keys); its URI."""
    from hazflow.worker import BatchSpec, stage_batch

    plan, _ = _plan(batch["plan_id"])
    spec = BatchSpec(plan.plan_id, batch["batch"], batch["label"], tuple(plan.specs(batch["batch"])), force)
    return stage_batch(spec, config)


def finish_batch(batch: dict[str, Any], uri: str, manifest) -> dict[str, Any]:
    """The `run` step's XCom from the worker's manifest; raises the batch's OpenQuake failures."""
    if not manifest.ok:
        raise manifest.error()
    return batch | {"ran": manifest.ran, "spec": uri}


def ingest_disagg_batch(ran: dict[str, Any], force: bool) -> list[dict[str, Any]]:
    """Store the realizations of each run of the batch; returns one small outcome per run."""
    from hazflow.batch import ingest_batch

    plan, store = _plan(ran["plan_id"])
    outcomes = [o.to_dict() for o in ingest_batch(plan.specs(ran["batch"]), store, force=force)]
    return [o | {"openquake_ran": ran["ran"].get(o["job_key"], False)} for o in outcomes]


def summarise_disagg(planned: dict[str, Any], ingested: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Counts of the whole request by ledger state, plus what this DAG run ran; fails if a run is unfinished."""
    from collections import Counter

    from hazflow.exceptions import HazflowError
    from hazflow.store.records import FINISHED_STATES

    plan, store = _plan(planned["plan_id"])
    states = store.ledger_states(plan.keys)
    counts = Counter(states.get(k, "not run") for k in plan.keys)
    ran = summarise([o for batch in ingested for o in batch])
    result = {
        "plan_id": plan.plan_id,
        "jobs": plan.jobs,
        "runs": plan.total_runs,
        "skipped": plan.skipped,  # finished before this DAG run: not planned
        "to_do": len(plan.keys),
        "states": dict(sorted(counts.items())),  # of the runs to do, from the ledger
    } | {k: ran[k] for k in ("openquake_runs", "reused", "oq_seconds", "hdf5_bytes", "rows_ingested")}
    unfinished = [plan.run_label(i) for i, k in enumerate(plan.keys) if states.get(k) not in FINISHED_STATES]
    print(f"disagg_realizations summary: {result}")
    if unfinished:
        shown = ", ".join(unfinished[:10]) + (f" (+{len(unfinished) - 10} more)" if len(unfinished) > 10 else "")
        raise HazflowError(f"{len(unfinished)} of {len(plan.keys)} runs did not finish: {shown}; see `python -m hazflow ledger`")
    return result


def coverage_fill(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare the coverage manifest with the ledger; mapped arguments of one `fill` per request to start."""
    from pathlib import Path

    from hazflow.config import PROJECT_ROOT
    from hazflow.coverage import describe, fill_requests, find_gaps, load_manifest
    from hazflow.exceptions import BadRequest
    from hazflow.openquake.runner import engine_version

    config = _config()
    path = Path(params["manifest"])
    requests = load_manifest(path if path.is_absolute() else PROJECT_ROOT / path)
    models = {r.model.name for r in requests}
    if config.hazard_curves and len(models) > 1:
        raise BadRequest(
            "manifest", f"one model per manifest when levels come from HAZFLOW_HAZARD_CURVES; found {sorted(models)}"
        )
    curves = config.curves_source(requests[0].model.settings.levels)
    gaps = find_gaps(requests, config.open_store(), engine_version(config.oq_python), curves=curves)
    print(describe(gaps))
    confs = fill_requests(gaps, params["max_runs"])
    print(
        f"coverage_backfill starts {len(confs)} disagg_realizations run(s) (at most about {params['max_runs']} OpenQuake runs): {confs}"
    )
    return [{"conf": conf | {"runner": params["runner"]}, "wait_for_completion": bool(params["wait"])} for conf in confs]
