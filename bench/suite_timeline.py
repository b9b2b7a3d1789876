"""Where the test suite's time goes, from its timeline (`HAZFLOW_TEST_TIMELINE=<file>`, written by
tests/support/suite_timeline.py as the xdist controller receives each test phase).

    HAZFLOW_TEST_TIMELINE=var/timeline.jsonl make test
    .venv/bin/python bench/suite_timeline.py var/timeline.jsonl [--top 25] [--compare OTHER.jsonl]

Prints the suite's wall time; per worker, its busy seconds, when it finished and how long it sat
idle while another worked (the tail); the files that dominate (seconds of setup, call and teardown,
and on which worker); and each marker-free folder's share. With `--compare`, the same figures of
another timeline beside these, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("bench.suite_timeline")


@dataclass(frozen=True)
class Phase:
    worker: str
    nodeid: str
    when: str
    start: float  # seconds since the epoch
    stop: float

    @property
    def file(self) -> str:
        return self.nodeid.split("::", 1)[0]

    @property
    def seconds(self) -> float:
        return self.stop - self.start


@dataclass(frozen=True)
class Timeline:
    phases: tuple[Phase, ...]

    @classmethod
    def read(cls, path: Path) -> Timeline:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return cls(tuple(Phase(r["worker"], r["nodeid"], r["when"], r["start"], r["stop"]) for r in rows))

    @property
    def start(self) -> float:
        return min(p.start for p in self.phases)

    @property
    def wall(self) -> float:
        """Seconds from the first test phase's start to the last one's stop (collection not included)."""
        return max(p.stop for p in self.phases) - self.start

    def workers(self) -> dict[str, tuple[float, float]]:
        """Worker -> (busy seconds, seconds from the suite's start to its last phase's stop)."""
        busy: dict[str, float] = defaultdict(float)
        end: dict[str, float] = defaultdict(float)
        start = self.start
        for p in self.phases:
            busy[p.worker] += p.seconds
            end[p.worker] = max(end[p.worker], p.stop - start)
        return {w: (busy[w], end[w]) for w in sorted(busy)}

    def files(self) -> list[tuple[str, str, float, float]]:
        """(file, worker, seconds of setup + teardown, seconds of calls), most seconds first."""
        fixture: dict[str, float] = defaultdict(float)
        call: dict[str, float] = defaultdict(float)
        worker: dict[str, str] = {}
        for p in self.phases:
            (call if p.when == "call" else fixture)[p.file] += p.seconds
            worker[p.file] = p.worker
        return sorted(((f, worker[f], fixture[f], call[f]) for f in worker), key=lambda r: -(r[2] + r[3]))

    def folders(self) -> dict[str, float]:
        """Seconds by the test folder a file is in (tests/dags, tests/openquake, ...)."""
        seconds: dict[str, float] = defaultdict(float)
        for p in self.phases:
            seconds[p.file.rsplit("/", 1)[0] if "/" in p.file else "."] += p.seconds
        return dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def report(timeline: Timeline, top: int) -> list[str]:
    total = sum(p.seconds for p in timeline.phases)
    lines = [f"tests' wall time {timeline.wall:7.1f} s ({timeline.wall / 60:.2f} min); test seconds on all workers {total:7.1f}"]
    for worker, (busy, end) in timeline.workers().items():
        lines.append(f"  {worker}: busy {busy:7.1f} s, last test ended at {end:7.1f} s, idle tail {timeline.wall - end:6.1f} s")
    lines.append(f"the {top} files with the most seconds (setup+teardown / calls):")
    for file, worker, fixture, call in timeline.files()[:top]:
        lines.append(f"  {fixture + call:7.1f} s  {fixture:6.1f} / {call:6.1f}  {worker:4}  {file}")
    lines.append("by folder:")
    for folder, seconds in timeline.folders().items():
        lines.append(f"  {seconds:7.1f} s  {100 * seconds / total:5.1f} %  {folder}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--compare", type=Path, help="another timeline (the suite before a change)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    this = Timeline.read(args.timeline)
    for line in report(this, args.top):
        logger.info("%s", line)
    if args.compare:
        other = Timeline.read(args.compare)
        logger.info("--- %s", args.compare)
        for line in report(other, args.top):
            logger.info("%s", line)
        logger.info(
            "wall %s %.1f s against %s %.1f s: ratio %.3f",
            args.timeline.name,
            this.wall,
            args.compare.name,
            other.wall,
            this.wall / other.wall,
        )


if __name__ == "__main__":
    main()
