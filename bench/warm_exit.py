"""Benchmark: how a run forked from a warm OpenQuake process ends, in the same run, alternating: the
interpreter's own exit (`sys.exit`: every object the fork inherited finalised; hazflow's way until
2026-12-07) against `hazflow.openquake.warm.leave` (threads joined, exit handlers, HDF5 files closed,
output flushed, then `os._exit`).

    .venv/bin/python bench/warm_exit.py [--forks 6]

A process of the OpenQuake venv imports what the warm process imports (`PRELOAD`), then forks
`--forks` children each way that run nothing and end: a run's own work costs the same either way, so
the end is measured alone. Prints `key: value` lines:

- `resident_mb`: the forking process's resident memory, which the children share until they write;
- `sys_exit_cpu_s`, `leave_cpu_s`: the median child's CPU seconds (user + system, from wait4);
- `sys_exit_page_faults`, `leave_page_faults`: the median child's minor page faults (shared pages
  copied, each 4 KiB, as reference counts are written);
- `cpu_ratio`: `leave` over `sys_exit` (below 1: `leave` spends less).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import statistics
import subprocess
from pathlib import Path

logger = logging.getLogger("bench.warm_exit")
FORMS = ("sys_exit", "leave")


def measure(forks: int) -> dict[str, float]:
    """In the OpenQuake venv: fork `forks` children each way, alternating; their median CPU and page faults."""
    from hazflow.openquake import warm

    for module in warm.PRELOAD:
        importlib.import_module(module)
    cpu: dict[str, list[float]] = {form: [] for form in FORMS}
    faults: dict[str, list[int]] = {form: [] for form in FORMS}
    for _ in range(forks):
        for form in FORMS:
            pid = os.fork()
            if pid == 0:
                if form == "leave":
                    warm.leave(0)
                raise SystemExit(0)  # unwinds to the interpreter's own exit: nothing on the way catches it
            _, status, usage = os.wait4(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, (form, status)
            cpu[form].append(usage.ru_utime + usage.ru_stime)
            faults[form].append(usage.ru_minflt)
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    out: dict[str, float] = {"resident_mb": pages * os.sysconf("SC_PAGE_SIZE") / 2**20}
    for form in FORMS:
        out[f"{form}_cpu_s"] = statistics.median(cpu[form])
        out[f"{form}_page_faults"] = statistics.median(faults[form])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forks", type=int, default=6, help="children each way, alternating (default 6)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the OpenQuake venv's side
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.forks)))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from hazflow.config import PROJECT_ROOT, Config

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "include")}
    done = subprocess.run(
        [str(Config().oq_python), __file__, "--measure", "--forks", str(args.forks)],
        capture_output=True, text=True, env=env, check=True, timeout=600,
    )  # fmt: skip
    figures = json.loads(done.stdout.splitlines()[-1])
    print(f"forks: {args.forks} each way, alternating")
    print(f"resident_mb: {figures['resident_mb']:.0f}")
    for form in FORMS:
        print(f"{form}_cpu_s: {figures[f'{form}_cpu_s']:.3f}")
        print(f"{form}_page_faults: {figures[f'{form}_page_faults']:.0f}")
    print(f"cpu_ratio: {figures['leave_cpu_s'] / figures['sys_exit_cpu_s']:.3f}")


if __name__ == "__main__":
    main()
