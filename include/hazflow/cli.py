"""`python -m hazflow ...`: run a job, inspect the ledger and the store, without Airflow."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hazflow.config import Config
from hazflow.exceptions import HazflowError


def _table(rows: list[Sequence[object]], header: Sequence[str]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_plan_hazard(args: argparse.Namespace, config: Config) -> int:
    from hazflow.openquake.runner import engine_version
    from hazflow.request import HazardRequest

    request = HazardRequest.parse(args.model, args.sites, args.vs30s, args.imts, args.leaves)
    specs = request.jobs(engine_version(config.oq_python))
    states = config.open_store().ledger_states(s.key for s in specs)
    rows = [(s.label, s.key, states.get(s.key, "-"), len(s.sites)) for s in specs]
    print(_table(rows, ("job", "key", "ledger", "sites")))
    if args.out:
        Path(args.out).write_text(json.dumps([s.to_dict() for s in specs], indent=1))
        print(f"wrote {len(specs)} job spec(s) to {args.out}")
    if args.check:
        from hazflow.store.records import FINISHED_STATES

        unfinished = [s.label for s in specs if states.get(s.key) not in FINISHED_STATES]
        if unfinished:
            print(f"not finished: {', '.join(unfinished)}", file=sys.stderr)
            return 1
        print(f"all {len(specs)} job(s) finished")
    return 0


def _run_and_ingest(specs: list, config: Config, force: bool) -> None:
    """Run and ingest job specs in turn, printing progress; jobs the ledger has as run are reused."""
    from hazflow.realizations import ingest_job, run_job

    store = config.open_store()
    for i, spec in enumerate(specs, start=1):
        ran = run_job(spec, store, config, force=force)
        done = ingest_job(spec, store, force=force)
        verb = "reused (already run)" if ran.skipped else f"ran in {ran.oq_seconds:.1f} s"
        print(f"[{i}/{len(specs)}] {spec.label}  {spec.key}: {verb}; {done.state}, {done.rows} realization rows")


def cmd_run_job(args: argparse.Namespace, config: Config) -> int:
    from hazflow.jobs import JobSpec

    data = json.loads(Path(args.spec).read_text())
    _run_and_ingest([JobSpec.from_dict(d) for d in (data if isinstance(data, list) else [data])], config, args.force)
    return 0


def _disagg_request(args: argparse.Namespace, runnable: bool):  # -> DisaggRequest
    from hazflow.plan import DisaggRequest

    sites = list(args.sites) + [f"-{s}" for s in args.leave_out or ()]
    return DisaggRequest.parse(args.model, sites, args.vs30s, args.imts, args.poes, args.leaves, runnable=runnable)


def cmd_plan(args: argparse.Namespace, config: Config) -> int:
    """Show what a disaggregation request means: jobs, OpenQuake runs, skips and batches; runs nothing."""
    from hazflow.openquake.runner import engine_version
    from hazflow.plan import plan_disagg

    request = _disagg_request(args, runnable=False)
    store = None if args.without_levels else config.open_store()
    curves = config.curves_source(request.model.settings.levels)
    plan = plan_disagg(request, store, engine_version(config.oq_python), args.force, args.batch_cap, curves=curves)
    dims = [
        (len(request.leaves), "leaves"), (len(request.sites), "sites"), (len(request.vs30s), "VS30s"),
        (len(request.imts), "IMTs"), (len(request.poes), "PoEs"),
    ]  # fmt: skip
    print(f"{request.model.name}: " + " x ".join(f"{n} {what}" for n, what in dims) + f" = {plan.jobs:,} jobs")
    print(f"OpenQuake runs (the IMTs of one leaf/site/VS30/PoE share one): {plan.total_runs:,}")
    if store is None:
        print("levels: not read (--without-levels), so no job keys and nothing skipped")
    else:
        print(f"already finished in the ledger: {plan.skipped:,}; to do: {len(plan.keys):,}")
    sizes = sorted({stop - start for start, stop in plan.batches})
    if sizes:
        lo, hi = sizes[0], sizes[-1]
        n = len(request.imts)
        line = f"batches: {len(plan.batches)} (cap {args.batch_cap}) of {lo}-{hi} runs ({lo * n}-{hi * n} jobs)"
        if request.model.name.startswith("NSHM"):
            line += (
                f"; at the published 1-4 min per NSHM job on an 8-vCPU M5, at most {lo * n / 60:.1f}-{hi * n * 4 / 60:.1f} h "
                "per batch (less in practice: the IMTs of a run share its ruptures)"
            )
        print(line)
        rows = [(i, stop - start, plan.batch_label(i)) for i, (start, stop) in enumerate(plan.batches)]
        shown = rows if len(rows) <= 2 * args.show else rows[: args.show] + [("...", "", "")] + rows[-args.show :]
        print(_table(shown, ("batch", "runs", "first run")))
    if args.out and store is not None:
        config.open_store().put_plan(plan.plan_id, plan.to_document())
        print(f"kept as plan {plan.plan_id} in the store")
    return 0


def cmd_disagg(args: argparse.Namespace, config: Config) -> int:
    """Plan disaggregations from the aggregated mean curves, then run and ingest them here (no Airflow)."""
    from hazflow.batch import ingest_batch, run_batch
    from hazflow.openquake.runner import engine_version
    from hazflow.plan import plan_disagg

    request = _disagg_request(args, runnable=True)
    store = config.open_store()
    curves = config.curves_source(request.model.settings.levels)
    plan = plan_disagg(request, store, engine_version(config.oq_python), args.force, args.batch_cap, curves=curves)
    for g in plan.groups:
        levels = ", ".join(f"{imt} {iml:.4g} g" for imt, iml in zip(request.imts, g.imls or (), strict=True))
        print(f"target {g.site.id} vs30={g.vs30:g} {g.poe * 100:g}%/50yr: {levels}")
    print(f"{plan.total_runs} OpenQuake run(s): {plan.skipped} already finished, {len(plan.keys)} to do")
    for batch in range(len(plan.batches)):
        specs = plan.specs(batch, request.model)
        ran = run_batch(specs, store, config, force=args.force)
        for spec, r, done in zip(specs, ran, ingest_batch(specs, store, force=args.force), strict=True):
            verb = "reused (already run)" if r.skipped else f"ran in {r.oq_seconds:.1f} s"
            print(f"{spec.label}  {spec.key}: {verb}; {done.state}, {done.rows} realization rows")
    return 0


def cmd_ledger(args: argparse.Namespace, config: Config) -> int:
    entries = config.open_store().ledger_list(model=args.model, kind=args.kind, state=args.state)
    rows = [
        (e.kind, e.model, e.leaf, f"{e.vs30:g}", ",".join(e.imts), f"{e.poe:g}" if e.poe else "", e.state,
         f"{e.oq_seconds:.1f}", f"{e.hdf5_bytes / 1e3:.0f}", e.rows, e.finished_at, e.job_key)
        for e in entries
    ]  # fmt: skip
    header = ("kind", "model", "leaf", "vs30", "imts", "poe", "state", "oq_s", "kB", "rows", "finished", "key")
    print(_table(rows, header) if rows else "the ledger is empty")
    counts = Counter(e.state for e in entries)
    print(f"\n{len(entries)} job(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    from hazflow.sites import resolve_sites

    site = resolve_sites([args.site], "site")[0]
    store = config.open_store()
    held = [r for r in store.sites_with_realizations(args.model) if r[1] == site.code]
    if not held:
        print(f"no realizations stored for {site.id} ({site.code})")
        return 1
    print(f"{site.name} ({site.id}, {site.code}, back-arc: {'yes' if site.backarc else 'no'})")
    for model, code, vs30, imt, count in held:
        rlzs = store.get_hazard_realizations(model, code, vs30, imt)
        print(f"\n{model} vs30={vs30:g} {imt}: {count} component realizations (leaf x GMM branch)")
        rows = []
        for r in rlzs:
            at = _annual_poe_at(r.levels, r.values, args.level)
            rows.append((r.leaf, r.gmm, f"{r.values[0]:.3e}", f"{at:.3e}", r.job_key, r.oq_version))
        print(_table(rows, ("leaf", "gmm", f"apoe@{r.levels[0]:g}g", f"apoe@{args.level:g}g", "job", "oq")))
        aggregates = {a.agg: a for a in store.get_hazard_aggregates(model, code, vs30, imt)}
        if "mean" in aggregates:
            print(f"aggregated over the logic tree ({len(aggregates)} statistics): " + _target_levels(aggregates))
    return 0


def _target_levels(aggregates: dict) -> str:
    from hazflow.imtl import level_at_poe

    parts = []
    for poe in (0.1, 0.02):
        try:
            mean = level_at_poe(aggregates["mean"].levels, aggregates["mean"].values, poe)
        except HazflowError:
            parts.append(f"{poe:.0%}/50yr outside the curve")
            continue
        text = f"{poe:.0%}/50yr {mean:.3g} g"
        if "0.1" in aggregates and "0.9" in aggregates:
            try:
                lo = level_at_poe(aggregates["0.1"].levels, aggregates["0.1"].values, poe)
                hi = level_at_poe(aggregates["0.9"].levels, aggregates["0.9"].values, poe)
                text += f" (10-90%: {lo:.3g}-{hi:.3g})"
            except HazflowError:
                pass
        parts.append(text)
    return "; ".join(parts)


def cmd_reports(args: argparse.Namespace, config: Config) -> int:
    store = config.open_store()
    names = store.reports(args.prefix)
    for name in names:
        print(store.report_uri(name))
    print(f"{len(names)} report(s)", file=sys.stderr)
    return 0


def _annual_poe_at(levels: np.ndarray, values: np.ndarray, level: float) -> float:
    """Log-log interpolation of a curve at `level` (0 where the curve is zero)."""
    positive = values > 0
    if not positive.any():
        return 0.0
    return float(np.exp(np.interp(np.log(level), np.log(levels[positive]), np.log(values[positive]))))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hazflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan-hazard", help="validate a hazard request and list its jobs with their ledger state")
    p.add_argument("--model", default="DEMO")
    p.add_argument("--sites", nargs="+", default=["WLG", "CHC", "AKL"])
    p.add_argument("--vs30s", nargs="+", type=float, default=[400.0])
    p.add_argument("--imts", nargs="+", default=["PGA", "SA(0.5)"])
    p.add_argument("--leaves", nargs="+", default=None, help="leaf ids such as CRU-2 (default: all)")
    p.add_argument("--out", help="write the job specs as JSON to this file (input of run-job)")
    p.add_argument("--check", action="store_true", help="exit 1 unless every job is finished in the ledger")
    p.set_defaults(func=cmd_plan_hazard)

    p = sub.add_parser("run-job", help="run and ingest job spec(s) from a JSON file, locally")
    p.add_argument("spec", help="a JSON file with one job spec or a list of them")
    p.add_argument("--force", action="store_true", help="re-run even if the ledger has the job as done")
    p.set_defaults(func=cmd_run_job)

    for name, text in (
        ("plan", "show what a disaggregation request means (jobs, runs, batches); runs nothing"),
        ("disagg", "plan disaggregations from the aggregated curves; run and ingest them here, without Airflow"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--model", default="DEMO")
        p.add_argument("--sites", nargs="+", default=["WLG"], help="ids, lat~lon codes or list names (NZ)")
        p.add_argument("--leave-out", nargs="+", metavar="SITE", help="sites to leave out (NSHM: --sites NZ --leave-out WRE)")
        p.add_argument("--vs30s", nargs="+", type=float, default=[400.0])
        p.add_argument("--imts", nargs="+", default=["PGA", "SA(0.5)"])
        p.add_argument(
            "--poes", nargs="+", type=float, default=[0.1], help="in 50 years; NSHM: 0.02 0.05 0.1 0.18 0.39 0.63 0.86"
        )
        p.add_argument("--leaves", nargs="+", default=None, help="leaf ids (default: all)")
        p.add_argument("--batch-cap", type=int, default=512, help="at most this many batches (Airflow maps at most 1,024)")
        p.add_argument("--force", action="store_true", help="plan (and run) even what the ledger has as finished")
        if name == "plan":
            p.add_argument("--without-levels", action="store_true", help="plan the shape only: no hazard curves needed")
            p.add_argument("--show", type=int, default=5, help="batches shown at each end of the list")
            p.add_argument("--out", action="store_true", help="keep the plan in the store")
        p.set_defaults(func=cmd_plan if name == "plan" else cmd_disagg)

    p = sub.add_parser("ledger", help="list the job ledger")
    p.add_argument("--model")
    p.add_argument("--kind", choices=["hazard", "disagg"])
    p.add_argument("--state", choices=["ran", "done", "no_ruptures", "failed"])
    p.set_defaults(func=cmd_ledger)

    p = sub.add_parser("show", help="show what the store holds for a site")
    p.add_argument("site", help="site id (WLG) or lat~lon code")
    p.add_argument("--model")
    p.add_argument("--level", type=float, default=0.2, help="level (g) at which to print each curve")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("reports", help="list the plots kept in the store")
    p.add_argument("prefix", nargs="?", default="", help="e.g. hazard/DEMO/WLG")
    p.set_defaults(func=cmd_reports)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, Config.from_env()))
    except HazflowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
