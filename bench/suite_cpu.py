"""Where a command's CPU goes, by kind of process: run it (the test suite, say) while reading every
process's CPU from /proc twice a second, then print the machine's busy core-seconds against its
capacity and the CPU of each kind (OpenQuake's warm processes and their runs, the warm Airflow
processes of the DAG tests, Airflow's daemons, cold `airflow` commands, Chromium, ...).

    .venv/bin/python bench/suite_cpu.py [--json var/suite-cpu.json] [--commands N] -- make test

Linux only. A process is counted from its first sighting to its last (one that starts and ends
between two readings is missed, and one that ends loses up to half a second; those read too late to
see their command line are `?`). The command itself is read once more when it has ended, before it is
reaped, so its own CPU is counted to the end, and its kind is that of the command line it was given
(a process read between its fork and its exec shows this script's command line). Forked processes
keep their parent's command line, so an OpenQuake run forked from a warm process counts with it. The
kinds count every process of the machine, this command's or not, as does its busy time (/proc/stat);
`command_cpu_s` (in the JSON) is the command's own, exactly: its process and the descendants it
waited for (wait4).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

logger = logging.getLogger("bench.suite_cpu")
TICK = os.sysconf("SC_CLK_TCK")
KINDS = (  # (kind, pattern of the command line), first match wins
    ("OpenQuake: warm processes and the runs forked from them", r"\.venv-oq/bin/python -m hazflow\.openquake\.warm"),
    ("Airflow: warm processes of the DAG tests and their forks", r"hazflow\.openquake\.warm .*airflow_preload"),
    ("OpenQuake: other processes of its venv (cold runs, exports)", r"\.venv-oq/bin/python"),
    ("Airflow: task processes", r"^airflow (worker|task)"),
    ("Airflow: dag-processor (parses the DAG files)", r"bin/airflow dag-processor"),
    ("Airflow: scheduler", r"bin/airflow scheduler"),
    ("Airflow: other daemons (triggerer, api-server, standalone)", r"bin/airflow (triggerer|api-server|standalone)"),
    ("Airflow: cold commands", r"bin/airflow |-m airflow "),
    ("Chromium", r"chrom"),
    ("PostgreSQL", r"postgres"),
    ("moto", r"moto"),
    ("pytest and its workers", r"pytest|import sys;exec\(eval"),
    ("bench commands", r"bench/"),
    ("lint (ruff, mypy)", r"ruff|mypy"),
)


def kind_of(command: str) -> str:
    for kind, pattern in KINDS:
        if re.search(pattern, command):
            return kind
    return "?" if not command else "other"


def _busy_ticks() -> int:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def _read(seen: dict[tuple[str, str], list]) -> None:
    """Each process's CPU ticks so far, keyed by (pid, start time); its command line read until known."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks, started = int(fields[11]) + int(fields[12]), fields[19]  # utime + stime, start time
            entry = seen.setdefault((pid, started), ["", ticks])
            entry[1] = ticks
            if not entry[0]:  # read once, while empty (a process exiting may show none yet)
                entry[0] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile
            continue


def measure(command: list[str], every_s: float = 0.5) -> dict:
    """Run `command`; its exit code, wall seconds, the machine's busy core-seconds and CPU by kind."""
    seen: dict[tuple[str, str], list] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            _read(seen)
            time.sleep(every_s)

    before = {key: ticks for key, (_, ticks) in _snapshot().items()}  # what ran before is not this command's
    busy0, start = _busy_ticks(), time.monotonic()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc = subprocess.Popen(command)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped: /proc still holds its CPU
    done.set()
    sampler.join()
    _read(seen)  # the command's own CPU to its end (another process's after its last sample is not counted)
    for key, entry in seen.items():  # the command is what it was started as: a loaded machine may first read
        if key[0] == str(proc.pid):  # it before its exec (this script's command line) or as a zombie (none)
            entry[0] = " ".join(command)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    wall, busy = time.monotonic() - start, (_busy_ticks() - busy0) / TICK
    by_kind: Counter[str] = Counter()
    by_command: dict[str, Counter[str]] = {}
    for key, (cmd, ticks) in seen.items():
        seconds = (ticks - before.get(key, 0)) / TICK
        by_kind[kind_of(cmd)] += seconds
        by_command.setdefault(kind_of(cmd), Counter())[_shape(cmd)] += seconds
    command_cpu = usage.ru_utime + usage.ru_stime  # exact: the command and the descendants it waited for
    return {
        "exit": code,
        "wall_s": wall,
        "busy_core_s": busy,
        "command_cpu_s": command_cpu,
        "cores": os.cpu_count(),
        "by_kind": by_kind.most_common(),
        "by_command": {kind: commands.most_common(20) for kind, commands in by_command.items()},
    }


def _shape(command: str, width: int = 140) -> str:
    """A command line as one of its kind, on one line: digits (pids, ports, temporary names) as 0, cut to `width`."""
    return re.sub(r"\d+", "0", " ".join(command.split()))[:width]


def _snapshot() -> dict[tuple[str, str], list]:
    seen: dict[tuple[str, str], list] = {}
    _read(seen)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--commands", type=int, default=0, metavar="N",
                        help="also print each kind's N costliest command lines (digits as 0, so that alike ones sum)")  # fmt: skip
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    figures = measure(command)
    capacity = figures["wall_s"] * (figures["cores"] or 1)
    logger.info("exit %d; wall %.1f s; busy %.0f core-seconds of %.0f (%.0f %%)", figures["exit"], figures["wall_s"],
                figures["busy_core_s"], capacity, 100 * figures["busy_core_s"] / capacity)  # fmt: skip
    counted = sum(seconds for _, seconds in figures["by_kind"])
    for kind, seconds in figures["by_kind"]:
        logger.info("  %7.1f core-s  %5.1f %%  %s", seconds, 100 * seconds / counted if counted else 0.0, kind)
        for command, spent in figures["by_command"][kind][: args.commands]:
            logger.info("  %17.1f  %s", spent, command)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    sys.exit(figures["exit"])


if __name__ == "__main__":
    main()
