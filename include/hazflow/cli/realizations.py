"""Commands that plan and produce realizations: `plan-hazard`, `run-job`, `plan`, `disagg`.

Each calls the same domain steps, in the same order, as the DAG it mirrors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hazflow.cli.arguments import add_request, params_of
from hazflow.cli.output import Output, table
from hazflow.config import Config
from hazflow.plan.disagg import PLAN_OPTIONS
from hazflow.plan.request import DisaggRequest, HazardRequest
from hazflow.store.records import FINISHED_STATES


def plan_hazard(args: argparse.Namespace, config: Config) -> Output:
    """hazard_realizations' plan: the job specs of a request with their ledger states."""
    from hazflow.steps.hazard_realizations import plan_hazard as plan

    specs = plan(params_of(args), config)
    states = config.open_store().ledger_states(s.key for s in specs)
    jobs = [{"job": s.label, "key": s.key, "ledger": states.get(s.key), "sites": len(s.sites)} for s in specs]
    text = [table([(j["job"], j["key"], j["ledger"] or "-", j["sites"]) for j in jobs], ("job", "key", "ledger", "sites"))]
    if args.out:
        Path(args.out).write_text(json.dumps([s.to_dict() for s in specs], indent=1))
        text.append(f"wrote {len(specs)} job spec(s) to {args.out}")
    unfinished = [s.label for s in specs if states.get(s.key) not in FINISHED_STATES]
    if args.check:
        text.append(f"not finished: {', '.join(unfinished)}" if unfinished else f"all {len(specs)} job(s) finished")
    value = {"jobs": jobs, "unfinished": unfinished, "specs_file": args.out}
    return Output(value, "\n".join(text), 1 if args.check and unfinished else 0)


def run_jobs(args: argparse.Namespace, config: Config) -> Output:
    """hazard_realizations' run and ingest, here, for job specs from a file (done ones are reused)."""
    from hazflow.ingest.realizations import ingest_job
    from hazflow.openquake.spec import JobSpec
    from hazflow.run.job import run_job

    data = json.loads(Path(args.spec).read_text())
    store, rows = config.open_store(), []
    for spec in [JobSpec.from_dict(d) for d in (data if isinstance(data, list) else [data])]:
        ran = run_job(spec, store, config, force=args.force)
        done = ingest_job(spec, store, force=args.force)
        rows.append({"job": spec.label, "key": spec.key, "openquake_ran": not ran.skipped, "oq_seconds": ran.oq_seconds}
                    | {"state": done.state, "rows": done.rows})  # fmt: skip
    text = table(
        [
            (r["job"], r["key"], f"ran in {r['oq_seconds']:.1f} s" if r["openquake_ran"] else "reused", r["state"], r["rows"])
            for r in rows
        ],
        ("job", "key", "OpenQuake", "state", "rows"),
    )
    return Output(rows, text)


def plan_disagg(args: argparse.Namespace, config: Config) -> Output:
    """What a disaggregation request means: jobs, runs, OpenQuake processes, skips and batches; runs nothing."""
    from hazflow.openquake.runner import engine_version
    from hazflow.plan.disagg import plan_disagg as plan
    from hazflow.plan.request import DisaggRequest

    request = DisaggRequest.parse({"disagg_engine": config.disagg_engine} | params_of(args), runnable=False)
    store = None if args.without_levels else config.open_store()
    curves = config.curves_source(request.model.settings.levels)
    p = plan(request, store, engine_version(config.oq_python), args.force, args.batch_cap, curves=curves)
    dims = {"leaves": len(request.leaves), "sites": len(request.sites), "VS30s": len(request.vs30s)}
    if request.imls:  # IML mode: a target per IMT and level given
        dims["IMT levels"] = sum(len(levels) for levels in request.imls.values())
    else:
        dims |= {"IMTs": len(request.imts), "PoEs": len(request.poes)}
    value: dict[str, Any] = {
        "model": request.model.name, "dimensions": dims, "jobs": p.jobs, "runs": p.total_runs, "levels": store is not None,
        "skipped": p.skipped, "to_do": len(p.keys), "engine": p.engine, "passes": len(p.passes),
        "pass_runs": sorted({len(runs) for runs in p.passes}), "batches": len(p.batches),
        "batch_passes": [len(p.batch_passes(b)) for b in range(len(p.batches))],
        "batch_runs": [len(p.batch_runs(b)) for b in range(len(p.batches))],
        "batch_labels": [p.batch_label(b) for b in range(len(p.batches))], "plan_id": p.plan_id,
    }  # fmt: skip
    if args.out and store is not None:
        store.put_plan(p.plan_id, p.to_document())
    return Output(value, _describe_plan(value, args))


def _describe_plan(v: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"{v['model']}: " + " x ".join(f"{n} {what}" for what, n in v["dimensions"].items()) + f" = {v['jobs']:,} jobs"]
    together = "one IMT level each" if "IMT levels" in v["dimensions"] else "the IMTs together"
    lines.append(f"runs (leaf x site x VS30 x target, {together}; one ledger entry each): {v['runs']:,}")
    if not v["levels"]:
        lines.append("levels: not read (--without-levels), so no job keys and nothing skipped")
    else:
        lines.append(f"already finished in the ledger: {v['skipped']:,}; to do: {v['to_do']:,}")
    how = "one per leaf x VS30 x site group, every PoE and IMT" if v["engine"] == "hazardlib" else "`oq engine --run` per run"
    sizes = "-".join(str(n) for n in (v["pass_runs"][0], v["pass_runs"][-1])) if v["pass_runs"] else "0"
    lines.append(f"OpenQuake processes (engine {v['engine']}: {how}): {v['passes']:,} of {sizes} runs")
    if v["batches"]:
        lo, hi = min(v["batch_passes"]), max(v["batch_passes"])
        lines.append(
            f"batches: {v['batches']} (cap {args.batch_cap}) of {lo}-{hi} processes, {min(v['batch_runs'])}-{max(v['batch_runs'])} runs"
        )
        rows: list[tuple[object, ...]] = [
            (b, n, r, label)
            for b, (n, r, label) in enumerate(zip(v["batch_passes"], v["batch_runs"], v["batch_labels"], strict=True))
        ]
        shown = rows if len(rows) <= 2 * args.show else rows[: args.show] + [("...", "", "", "")] + rows[-args.show :]
        lines.append(table(shown, ("batch", "processes", "runs", "first process")))
    if args.out and v["levels"]:
        lines.append(f"kept as plan {v['plan_id']} in the store")
    return "\n".join(lines)


def disagg(args: argparse.Namespace, config: Config) -> Output:
    """disagg_realizations here, without Airflow: plan, run each batch (the local runner), ingest, summarise."""
    from hazflow.plan.disagg import load_plan
    from hazflow.steps import disagg_realizations as step

    planned = step.plan(params_of(args) | {"runner": "local"}, config)
    batches = [step.ingest(step.run_local(batch, args.force, config), args.force, config) for batch in planned["batches"]]
    ingested = [outcome for batch in batches for outcome in batch]
    summary = step.summarise(planned["plan_id"], batches, config)
    plan = load_plan(planned["plan_id"], config.open_store())
    targets: list[dict[str, Any]] = [
        {
            "target": f"{g.site.id} vs30={g.vs30:g} {g.poe * 100:g}%/50yr",
            "levels": dict(zip(plan.request["imts"], g.imls or (), strict=True)),
        }
        for g in plan.groups
    ]
    value = {"targets": targets, "runs": ingested, "summary": summary}
    lines = [f"target {t['target']}: " + ", ".join(f"{imt} {iml:.4g} g" for imt, iml in t["levels"].items()) for t in targets]
    lines.append(f"{summary['runs']} OpenQuake run(s): {summary['skipped']} already finished, {summary['to_do']} to do")
    lines += [
        f"{o['label']}  {o['job_key']}: {'ran' if o['openquake_ran'] else 'reused'}; {o['state']}, {o['rows']} rows"
        for o in ingested
    ]
    return Output(value, "\n".join(lines))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan-hazard", help="validate a hazard request and list its jobs with their ledger state")
    add_request(p, HazardRequest.field_names(), sites=("WLG", "CHC", "AKL"))
    p.add_argument("--out", help="write the job specs as JSON to this file (input of run-job)")
    p.add_argument("--check", action="store_true", help="exit 1 unless every job is finished in the ledger")
    p.set_defaults(func=plan_hazard)

    p = sub.add_parser("run-job", help="run and ingest job spec(s) from a JSON file, locally")
    p.add_argument("spec", help="a JSON file with one job spec or a list of them")
    p.add_argument("--force", action="store_true", help="re-run even if the ledger has the job as done")
    p.set_defaults(func=run_jobs)

    fields = (*DisaggRequest.field_names(), *PLAN_OPTIONS)
    p = sub.add_parser("plan", help="show what a disaggregation request means (jobs, runs, batches); runs nothing")
    add_request(p, fields)
    p.add_argument("--without-levels", action="store_true", help="plan the shape only: no hazard curves needed")
    p.add_argument("--show", type=int, default=5, help="batches shown at each end of the list")
    p.add_argument("--out", action="store_true", help="keep the plan in the store")
    p.set_defaults(func=plan_disagg)

    p = sub.add_parser("disagg", help="disagg_realizations here, without Airflow: plan, run, ingest, summarise")
    add_request(p, fields)
    p.set_defaults(func=disagg)
