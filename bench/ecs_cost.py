"""Cost and time model of NSHM's production disaggregation request on ECS/M5, from the real planner.

    .venv/bin/python bench/ecs_cost.py [--run-minutes 1 4 8 20] [--instances 16 64] [--price 0.48]

Plans NSHM_v1.0.4 at one VS30 (35 sites, 5 IMTs, 7 PoEs, 49 leaves) as `disagg_realizations`
would (shape only: no levels are needed to count runs and batches), then for each assumed
single-core OpenQuake time per run prints instance-hours of m5.2xlarge (8 runs at once per task,
HAZFLOW_ECS_OQ_PARALLEL), the time of one batch, wall time on N instances, and cost at the given
on-demand price per instance-hour. Inputs that are assumptions, not measurements, are printed as
such. Also prints the old tool's figure: 60,025 jobs of 1-4 min each, one M5 per job.
"""

from __future__ import annotations

import argparse
import math
import sys

from hazflow.model.nshm import NSHM_IMTS, NSHM_POES
from hazflow.plan.disagg import plan_disagg
from hazflow.plan.request import DisaggRequest

PARALLEL = 8  # m5.2xlarge vCPUs: one single-process OpenQuake run each
TASK_START_MIN = 2.0  # assumed: placing the task and pulling the image on a fresh instance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-minutes", nargs="+", type=float, default=[1.0, 4.0, 8.0, 20.0])
    parser.add_argument("--instances", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--price", type=float, default=0.48, help="USD per m5.2xlarge hour (assumed; check the current price)")
    args = parser.parse_args(argv)

    nshm = {"model": "NSHM_v1.0.4", "sites": ["NZ", "-WRE"], "vs30s": [400], "imts": NSHM_IMTS, "poes": NSHM_POES}
    request = DisaggRequest.parse(nshm, runnable=False)
    plan = plan_disagg(request, None, "3.26.2")
    sizes = [len(plan.batch_runs(i)) for i in range(len(plan.batches))]
    print(f"NSHM_v1.0.4 at one VS30: {plan.jobs:,} jobs = {plan.total_runs:,} OpenQuake runs (IMTs grouped), "
          f"{len(sizes)} batches of {min(sizes)}-{max(sizes)} runs = {len(sizes)} ECS tasks")  # fmt: skip
    old_low, old_high = plan.jobs * 1 / 60, plan.jobs * 4 / 60
    print(f"old tool: {plan.jobs:,} jobs x 1-4 min, one 8-vCPU M5 each: {old_low:,.0f}-{old_high:,.0f} instance-hours, "
          f"${old_low * args.price:,.0f}-${old_high * args.price:,.0f}")  # fmt: skip
    print(
        f"assumed: {PARALLEL} runs at once per m5.2xlarge, {TASK_START_MIN:g} min to start each task, ${args.price}/instance-hour"
    )
    header = f"{'min/run':>8} {'inst-hours':>11} {'cost $':>8} {'min/batch':>10}" + "".join(
        f" {'wall h @' + str(n):>11}" for n in args.instances
    )
    print(header)
    for minutes in args.run_minutes:
        batch_min = TASK_START_MIN + math.ceil(max(sizes) / PARALLEL) * minutes
        hours = sum(TASK_START_MIN + math.ceil(n / PARALLEL) * minutes for n in sizes) / 60
        walls = "".join(f" {math.ceil(len(sizes) / n) * batch_min / 60:>11.1f}" for n in args.instances)
        print(f"{minutes:>8g} {hours:>11,.0f} {hours * args.price:>8,.0f} {batch_min:>10.0f}{walls}")
    rounds = sum(math.ceil(n / PARALLEL) for n in sizes)
    for label, old in (("1 min", old_low), ("4 min", old_high)):
        even = (old * 60 - len(sizes) * TASK_START_MIN) / rounds
        print(f"same instance-hours as the old tool at {label}/job when one run takes {even:.0f} min on one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
