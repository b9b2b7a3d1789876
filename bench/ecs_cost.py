"""Cost and time of NSHM's production disaggregation request on ECS/M5, from the real planner and
OpenQuake CPU measured on synthetic `nshm`-size leaves.

    .venv/bin/python bench/ecs_cost.py [--instances 16 64] [--price 0.48]
        [--run-minutes 1 4 8 20 [--once-share 0.95] [--cpu-ratio 14.0]]

Plans NSHM_v1.0.4 at one VS30 (35 sites, 5 IMTs, 7 PoEs, 49 leaves) as `disagg_realizations` would
with runner ecs (shape only: no levels are needed to count runs, passes and batches), with both
engines, and prints the OpenQuake processes, ECS tasks, instance-hours of m5.2xlarge (8 processes
at once per task, HAZFLOW_ECS_OQ_PARALLEL), the time of one batch, wall time on N instances, and
cost at the given on-demand price per instance-hour.

The rows `oq-nshm` and `hazardlib-nshm` take each run's (oq) or each site's pass's (hazardlib) CPU
from `NSHM_MEASURED`: the figures `bench/nshm_leaf.py --scale nshm` printed for one leaf of each
fault system (per-site CPU, OpenQuake's start-up included), marked "measured on synthetic nshm-size
leaves". Assumptions, printed as such: the price, the task's start-up, 8 processes per instance,
and that a fault system's other leaves and sites cost what its measured leaf cost at its site.

`--run-minutes` adds the model this file printed before NSHM leaves could be measured, for a what-if
on the engine's minutes per run: rows `oq`, `hazardlib` (`--once-share` f of a run done once per
site, the rest per PoE) and `hazardlib-m` (a pass costs its runs' engine minutes / `--cpu-ratio`,
the ratio `bench/disagg_engine.py` measured on DEMO). Also prints the old tool's figure: 60,025 jobs
of 1-4 min each, one M5 per job.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence

from hazflow.model.nshm import NSHM_IMTS, NSHM_POES
from hazflow.plan.disagg import DisaggPlan, plan_disagg
from hazflow.plan.request import DisaggRequest

PARALLEL = 8  # m5.2xlarge vCPUs: one single-process OpenQuake run each (EcsSettings.oq_parallel)
TASK_START_MIN = 2.0  # assumed: placing the task and pulling the image on a fresh instance

# Measured on synthetic `nshm`-size leaves (bench/nshm_leaf.py --scale nshm, one core of this 2-core
# machine, 2026-12-06; docs/PRODUCTION.md quotes the runs): per fault system, the single-core CPU
# seconds of one `oq engine --run` at one PoE with NSHM's five IMTs, and of one site's seven PoEs
# and five IMTs in a one-pass process, OpenQuake's start-up included in both. The bench line each
# comes from: `<leaf>_oq_cpu_s_per_site` and `<leaf>_onepass_cpu_s_per_site`.
NSHM_MEASURED: dict[str, tuple[float, float]] = {
    "CRU": (534.3, 266.1),  # CRU-1 at WLG: 329,921 multi-fault ruptures over 3,339 sections, 21 GMM branches
    "HIK": (103.47, 60.52),  # HIK-1 at WLG: 31,184 ruptures over 600 interface tiles, 12 branches
    "PUY": (42.77, 23.04),  # PUY-1 at TEU: 4,895 ruptures over 180 tiles (at WLG all beyond the cut-off: 6.6 s either way)
    "SLAB": (43.78, 13.32),  # SLAB-1 at WLG: 3,741 background points, 12 branches
}


def pass_minutes(plan: DisaggPlan, p: int, run_minutes: float, once_share: float, cpu_ratio: float | None = None) -> float:
    """Single-core minutes of one pass: per site, what is done once plus the disaggregation per PoE
    (or, given `cpu_ratio`, its runs' engine minutes divided by it)."""
    runs = len(plan.passes[p])
    if plan.engine == "oq":
        return run_minutes * runs
    if cpu_ratio:
        return run_minutes * runs / cpu_ratio
    sites = len({plan.groups[plan.runs[r][1]].site.code for r in plan.passes[p]})
    poes = runs / sites
    return sites * run_minutes * (once_share + poes * (1 - once_share))


def measured_pass_minutes(plan: DisaggPlan, p: int) -> float:
    """Single-core minutes of one pass from the measured NSHM figures: per run (oq) the engine's CPU of
    the leaf's fault system; per site (hazardlib) one site's seven-PoE pass of it."""
    leaf = plan.request["leaves"][plan.runs[plan.passes[p][0]][0]]
    engine_s, onepass_s = NSHM_MEASURED[leaf.split("-")[0]]
    if plan.engine == "oq":
        return len(plan.passes[p]) * engine_s / 60
    sites = len({plan.groups[plan.runs[r][1]].site.code for r in plan.passes[p]})
    return sites * onepass_s / 60


def batch_minutes(
    plan: DisaggPlan, batch: int, run_minutes: float, once_share: float, cpu_ratio: float | None = None, measured: bool = False
) -> float:
    """A batch's wall minutes on one task: its start, then its passes PARALLEL at a time, longest first."""
    times = sorted(
        (
            measured_pass_minutes(plan, p) if measured else pass_minutes(plan, p, run_minutes, once_share, cpu_ratio)
            for p in plan.batch_passes(batch)
        ),
        reverse=True,
    )
    lanes = [0.0] * min(PARALLEL, len(times))
    for t in times:
        lanes[lanes.index(min(lanes))] += t
    return TASK_START_MIN + max(lanes)


def campaign(plan: DisaggPlan, batch_time: Callable[[int], float], instances: Sequence[int]) -> tuple[float, float, str]:
    """(instance-hours, the longest batch's minutes, the wall hours on each count of `instances`,
    formatted) of a plan whose batch b takes `batch_time(b)` minutes on one task."""
    batches = [batch_time(b) for b in range(len(plan.batches))]
    walls = "".join(f" {math.ceil(len(batches) / n) * max(batches) / 60:>11.1f}" for n in instances)
    return sum(batches) / 60, max(batches), walls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-minutes", nargs="+", type=float, default=[], help="the assumed-minutes model's rows (what-if)")
    parser.add_argument(
        "--once-share", type=float, default=0.95, help="share of an engine run a pass does once per site (assumed)"
    )
    parser.add_argument(
        "--cpu-ratio",
        type=float,
        default=14.0,
        help="oq / hazardlib CPU for the same jobs, measured on DEMO by bench/disagg_engine.py (the hazardlib-m rows)",
    )
    parser.add_argument("--instances", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--price", type=float, default=0.48, help="USD per m5.2xlarge hour (assumed; check the current price)")
    args = parser.parse_args(argv)

    nshm = {"model": "NSHM_v1.0.4", "sites": ["NZ", "-WRE"], "vs30s": [400], "imts": NSHM_IMTS, "poes": NSHM_POES}
    plans = {
        engine: plan_disagg(
            DisaggRequest.parse(nshm | {"disagg_engine": engine}, runnable=False), None, "3.26.2", min_passes_per_batch=PARALLEL
        )
        for engine in ("oq", "hazardlib")
    }
    jobs = plans["oq"].jobs
    print(f"NSHM_v1.0.4 at one VS30: {jobs:,} jobs = {plans['oq'].total_runs:,} runs (leaf x site x PoE, IMTs grouped)")
    for engine, plan in plans.items():
        sizes = [len(plan.batch_passes(b)) for b in range(len(plan.batches))]
        print(
            f"engine {engine}: {len(plan.passes):,} OpenQuake processes in {len(sizes)} batches of {min(sizes)}-{max(sizes)} = {len(sizes)} ECS tasks"
        )
    old_low, old_high = jobs * 1 / 60, jobs * 4 / 60
    print(f"old tool: {jobs:,} jobs x 1-4 min, one 8-vCPU M5 each: {old_low:,.0f}-{old_high:,.0f} instance-hours, "
          f"${old_low * args.price:,.0f}-${old_high * args.price:,.0f}")  # fmt: skip
    print(
        f"assumed: {PARALLEL} processes at once per m5.2xlarge, {TASK_START_MIN:g} min to start each task, ${args.price}/instance-hour"
    )
    walls_header = "".join(f" {'wall h @' + str(n):>11}" for n in args.instances)

    print("measured on synthetic nshm-size leaves (bench/nshm_leaf.py --scale nshm), single-core CPU s, start-up included:")
    print(
        f"{'fault system':>14} {'oq run':>8} {'site pass':>10}  (lines <leaf>_oq_cpu_s_per_site, <leaf>_onepass_cpu_s_per_site)"
    )
    for fs, (engine_s, onepass_s) in NSHM_MEASURED.items():
        print(f"{fs:>14} {engine_s:>8.1f} {onepass_s:>10.1f}")
    print(f"{'engine':>14} {'min/run':>8} {'inst-hours':>11} {'cost $':>8} {'min/batch':>10}{walls_header}")
    hours = {}
    mean_run = sum(measured_pass_minutes(plans["oq"], p) for p in range(len(plans["oq"].passes))) / len(plans["oq"].passes)
    for label, plan in (("oq-nshm", plans["oq"]), ("hazardlib-nshm", plans["hazardlib"])):
        hours[label], longest, walls = campaign(
            plan, lambda b, plan=plan: batch_minutes(plan, b, 0.0, 0.0, measured=True), args.instances
        )
        print(f"{label:>14} {mean_run:>8.2f} {hours[label]:>11,.1f} {hours[label] * args.price:>8,.0f} {longest:>10.1f}{walls}")
    print(
        f"{'':>14} instance-hours oq / hazardlib: {hours['oq-nshm'] / hours['hazardlib-nshm']:.1f} (measured on nshm-size leaves)"
    )

    if args.run_minutes:
        print(f"what-if, assumed minutes per engine run: once-share {args.once_share:g} (rows hazardlib); "
              f"cpu-ratio {args.cpu_ratio:g} measured on DEMO (rows hazardlib-m: a pass takes its runs' engine minutes / {args.cpu_ratio:g})")  # fmt: skip
        print(f"{'engine':>11} {'min/run':>8} {'inst-hours':>11} {'cost $':>8} {'min/batch':>10}{walls_header}")
    rows = [
        ("oq", plans["oq"], None),
        ("hazardlib", plans["hazardlib"], None),
        ("hazardlib-m", plans["hazardlib"], args.cpu_ratio),
    ]
    for minutes in args.run_minutes:
        hours = {}
        for label, plan, ratio in rows:
            hours[label], longest, walls = campaign(
                plan,
                lambda b, plan=plan, ratio=ratio, m=minutes: batch_minutes(plan, b, m, args.once_share, ratio),
                args.instances,
            )
            print(f"{label:>11} {minutes:>8g} {hours[label]:>11,.0f} {hours[label] * args.price:>8,.0f} {longest:>10.0f}{walls}")
        print(
            f"{'':>11} {'':>8} instance-hours oq / hazardlib: {hours['oq'] / hours['hazardlib']:.1f} (model), "
            f"{hours['oq'] / hours['hazardlib-m']:.1f} (measured ratio)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
