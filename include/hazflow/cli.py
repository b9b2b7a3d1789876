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


def cmd_disagg(args: argparse.Namespace, config: Config) -> int:
    """Plan disaggregations from the aggregated mean curves, then run and ingest them locally."""
    from hazflow.disagg import disagg_jobs, read_targets, validate_poes
    from hazflow.model import load_model
    from hazflow.openquake.runner import engine_version
    from hazflow.request import validate_imts, validate_leaves, validate_vs30s
    from hazflow.sites import resolve_sites

    model = load_model(args.model)
    leaves = validate_leaves(model, args.leaves)
    imts, vs30s, poes = validate_imts(args.imts), validate_vs30s(args.vs30s), validate_poes(args.poes)
    store = config.open_store()
    targets = [
        t for site in resolve_sites(args.sites) for vs30 in vs30s for t in read_targets(store, model, site, vs30, imts, poes)
    ]
    for leaf in leaves:
        model.source_paths(leaf)
    for t in targets:
        print(f"target {t.label}: IML {t.iml:.4g} g")
    _run_and_ingest(disagg_jobs(model, leaves, targets, engine_version(config.oq_python)), config, args.force)
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
    root = getattr(store, "root", None)
    for name in names:
        print(f"{root}/reports/{name}" if root else name)
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

    p = sub.add_parser("disagg", help="plan disaggregations from the aggregated curves; run and ingest them locally")
    p.add_argument("--model", default="DEMO")
    p.add_argument("--sites", nargs="+", default=["WLG"])
    p.add_argument("--vs30s", nargs="+", type=float, default=[400.0])
    p.add_argument("--imts", nargs="+", default=["PGA", "SA(0.5)"])
    p.add_argument("--poes", nargs="+", type=float, default=[0.1])
    p.add_argument("--leaves", nargs="+", default=None, help="leaf ids (default: all)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_disagg)

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
