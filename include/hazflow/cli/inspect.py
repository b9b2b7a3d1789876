"""Commands that read the store: `ledger`, `show`, `reports`."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import asdict
from typing import Any

from hazflow.cli.output import Output, table
from hazflow.config import Config
from hazflow.exceptions import HazflowError

SHOWN_POES = (0.1, 0.02)


def ledger(args: argparse.Namespace, config: Config) -> Output:
    """The job ledger, filtered; every entry with its provenance (the job spec itself left out) and,
    for a job that repeats an earlier job's target, what changed since (`hazflow.store.reruns`)."""
    from hazflow.store.reruns import rerun_reasons

    entries = config.open_store().ledger_list(model=args.model, kind=args.kind, state=args.state)
    why = rerun_reasons(entries)
    rows = [
        (e.kind, e.model, e.leaf, ",".join(e.sites) if len(e.sites) < 4 else f"{len(e.sites)} sites", f"{e.vs30:g}",
         ",".join(e.imts), f"{e.poe:g}" if e.poe else "", e.state + (f" ({e.error_class})" if e.error_class else ""), e.engine or "oq", f"{e.oq_seconds:.1f}",
         f"{e.cpu_seconds:.1f}", f"{e.hdf5_bytes / 1e3:.0f}", e.rows, e.finished_at, e.job_key, why.get(e.job_key, ""))
        for e in entries
    ]  # fmt: skip
    # oq_s, cpu_s and kB of a job computed in a pass are its share of the pass's (`pass_jobs`)
    header = (
        "kind",
        "model",
        "leaf",
        "sites",
        "vs30",
        "imts",
        "poe",
        "state",
        "engine",
        "oq_s",
        "cpu_s",
        "kB",
        "rows",
        "finished",
        "key",
        "rerun because",
    )
    counts = dict(sorted(Counter(e.state for e in entries).items()))
    text = (
        (table(rows, header) if rows else "the ledger is empty")
        + f"\n\n{len(entries)} job(s): "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
    )
    value = {
        "entries": [
            {k: v for k, v in asdict(e).items() if k != "spec"} | {"rerun_because": why.get(e.job_key, "")} for e in entries
        ],
        "states": counts,
    }
    return Output(value, text)


def show(args: argparse.Namespace, config: Config) -> Output:
    """What the store holds for a site: each component realization's curve, with provenance, the
    target levels of the aggregated curves, and each aggregated disaggregation's summary."""
    from hazflow.model.sites import resolve_sites
    from hazflow.plan.imtl import annual_poe_at_level
    from hazflow.report.target_summary import stored_summaries

    site = resolve_sites([args.site], "site")[0]
    store = config.open_store()
    held = [r for r in store.sites_with_realizations(args.model) if r[1] == site.code]
    curves, lines = [], [f"{site.name} ({site.id}, {site.code}, back-arc: {'yes' if site.backarc else 'no'})"]
    for model, code, vs30, imt, count in held:
        rlzs = store.get_hazard_realizations(model, code, vs30, imt)
        realizations = [
            {"leaf": r.leaf, "gmm": r.gmm, "first_level_apoe": float(r.values[0]),
             "apoe_at_level": annual_poe_at_level(r.levels, r.values, args.level), "job": r.job_key, "oq": r.oq_version}
            for r in rlzs
        ]  # fmt: skip
        aggregates = {a.agg: a for a in store.get_hazard_aggregates(model, code, vs30, imt)}
        targets = _target_levels(aggregates) if "mean" in aggregates else {}
        curves.append({"model": model, "vs30": vs30, "imt": imt, "realizations": realizations, "target_levels": targets})
        lines.append(f"\n{model} vs30={vs30:g} {imt}: {count} component realizations (leaf x GMM branch)")
        first = f"apoe@{rlzs[0].levels[0]:g}g" if rlzs else "apoe"
        rows = [
            (r["leaf"], r["gmm"], f"{r['first_level_apoe']:.3e}", f"{r['apoe_at_level']:.3e}", r["job"], r["oq"])
            for r in realizations
        ]
        lines.append(table(rows, ("leaf", "gmm", first, f"apoe@{args.level:g}g", "job", "oq")))
        if targets:
            lines.append(f"aggregated over the logic tree ({len(aggregates)} statistics): " + _describe_levels(targets))
    summaries = stored_summaries(store, args.model, site)
    if summaries:
        lines.append(f"\ndisaggregations aggregated over the logic tree ({len(summaries)} target(s)):")
    for s in summaries:
        lines.append(
            f"{s.model} vs30={s.vs30:g} {s.imt} {s.poe:.0%}/50yr at {s.iml:.4g} g ({s.target_stat} curve), closure {s.mre.closure:.4f}:"
            f"\n  {s.describe()}"
        )
    if not held and not summaries:
        lines = [f"no realizations stored for {site.id} ({site.code})"]
    value = {"site": vars(site), "curves": curves, "disaggregations": [s.to_dict() for s in summaries]}
    return Output(value, "\n".join(lines), 0 if held or summaries else 1)


def _target_levels(aggregates: dict[str, Any]) -> dict[str, dict[str, float] | None]:
    """Per PoE in 50 years: the level (g) on the mean curve and, where stored, on the 10 % and 90 % curves."""
    from hazflow.plan.imtl import level_at_poe

    out: dict[str, dict[str, float] | None] = {}
    for poe in SHOWN_POES:
        levels: dict[str, float] = {}
        for agg in ("mean", "0.1", "0.9"):
            if agg in aggregates:
                try:
                    levels[agg] = level_at_poe(aggregates[agg].levels, aggregates[agg].values, poe)
                except HazflowError:  # the PoE is beyond this curve
                    pass
        out[f"{poe:g}"] = levels if "mean" in levels else None
    return out


def _describe_levels(targets: dict[str, dict[str, float] | None]) -> str:
    parts = []
    for poe, levels in targets.items():
        if levels is None:
            parts.append(f"{float(poe):.0%}/50yr outside the curve")
            continue
        text = f"{float(poe):.0%}/50yr {levels['mean']:.3g} g"
        if "0.1" in levels and "0.9" in levels:
            text += f" (10-90%: {levels['0.1']:.3g}-{levels['0.9']:.3g})"
        parts.append(text)
    return "; ".join(parts)


def reports(args: argparse.Namespace, config: Config) -> Output:
    """The plots kept in the store, by where they are."""
    store = config.open_store()
    uris = [store.report_uri(name) for name in store.reports(args.prefix)]
    return Output(uris, "\n".join(uris + [f"{len(uris)} report(s)"]))


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ledger", help="list the job ledger")
    p.add_argument("--model")
    p.add_argument("--kind", choices=["hazard", "disagg"])
    p.add_argument("--state", choices=["ran", "done", "no_ruptures", "failed"])
    p.set_defaults(func=ledger)

    p = sub.add_parser("show", help="show what the store holds for a site")
    p.add_argument("site", help="site id (WLG) or lat~lon code")
    p.add_argument("--model")
    p.add_argument("--level", type=float, default=0.2, help="level (g) at which to print each curve")
    p.set_defaults(func=show)

    p = sub.add_parser("reports", help="list the plots kept in the store")
    p.add_argument("prefix", nargs="?", default="", help="e.g. hazard/DEMO/WLG")
    p.set_defaults(func=reports)
