"""Commands that aggregate over the logic tree: `aggregate-hazard`, `aggregate-disagg`; and `export`.

Each calls the same domain steps, in the same order, as the DAG it mirrors (plan, then each batch).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hazflow.choices import EXPORT_FORMATS as FORMATS
from hazflow.cli.arguments import add_request, params_of
from hazflow.cli.output import Output, table
from hazflow.config import Config
from hazflow.plan.request import DisaggAggregationRequest, HazardAggregationRequest


def aggregate_hazard(args: argparse.Namespace, config: Config) -> Output:
    """hazard_aggregation here: statistics of the stored hazard curves, stored and plotted."""
    from hazflow.steps import hazard_aggregation as step

    params = params_of(args)
    batches = [step.aggregate_batch(batch, params, config) for batch in step.plan(params, config)]
    summary = step.summarise(batches)
    text = f"{summary['targets']} target(s), {summary['statistics']} statistics stored; plots:\n" + "\n".join(summary["plots"])
    return Output(summary, text)


def aggregate_disagg(args: argparse.Namespace, config: Config) -> Output:
    """disagg_aggregation here: statistics of the stored disaggregations by bin, closure, plots."""
    from hazflow.steps import disagg_aggregation as step

    params = params_of(args)
    batches = [step.aggregate_batch(batch, params, config) for batch in step.plan(params, config)]
    summary = step.summarise(batches, params)
    outside = set(summary["closure_outside"])
    rows = [
        (label, f"{closure:.4f}" + (" OUTSIDE" if label in outside else ""), summary["mean_mre"][label], summary["modal"][label],
         summary["method"][label])
        for label, closure in summary["closure"].items()
    ]  # fmt: skip
    return Output(summary, table(rows, ("target", "closure", "mean M, R, eps", "modal bin", "quantiles")))


def export(args: argparse.Namespace, config: Config) -> Output:
    """disagg_aggregation's `export` task here: JSON, OpenQuake CSV and toshi-hazard-store parquet
    of the aggregated targets, under a folder."""
    from hazflow.export.request import export_request

    manifest = export_request(params_of(args), config, Path(args.dest), tuple(args.formats))
    text = "\n".join(
        [f"{manifest.targets} target(s) exported under {manifest.folder}:"]
        + [f"  {kind}: {len(getattr(manifest, kind))} file(s)" for kind in ("json", "csv", "parquet")]
        + [f"  hazard curves in the THS dataset: {manifest.hazard_curves}"]
    )
    return Output(manifest.to_dict(), text)


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("aggregate-hazard", help="hazard_aggregation here: statistics of stored hazard curves, plots")
    add_request(p, HazardAggregationRequest.field_names(), sites=("WLG", "CHC", "AKL"))
    p.set_defaults(func=aggregate_hazard)

    p = sub.add_parser("aggregate-disagg", help="disagg_aggregation here: statistics of stored disaggregations, closure, plots")
    add_request(p, DisaggAggregationRequest.field_names())
    p.set_defaults(func=aggregate_disagg)

    p = sub.add_parser("export", help="JSON, OpenQuake CSV and toshi-hazard-store parquet of aggregated disaggregations")
    add_request(p, DisaggAggregationRequest.field_names())  # the request of the DAG whose `export` task this is
    p.add_argument("--dest", required=True, help="folder to write json/, csv/ and ths/ under")
    p.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    p.set_defaults(func=export)
