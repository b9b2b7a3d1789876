"""Rewrite tests/file_seconds.json, the seconds each test file takes, from a run's durations report:

    make test PYTEST_ARGS="--durations=0" | tee run.txt
    .venv/bin/python -m tests.file_seconds run.txt

The report's setup, call and teardown times of each test are summed per file; files under a second
are left out (the conftest estimates those from their markers). The conftest sends the files to the
test workers longest first by these figures."""

from __future__ import annotations

import argparse
import json
import logging
import re
from collections import defaultdict
from pathlib import Path

logger = logging.getLogger(__name__)

LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)s (?:setup|call|teardown)\s+(\S+?\.py)::")
TARGET = Path(__file__).with_name("file_seconds.json")


def file_seconds(report: str, floor_s: float = 1.0) -> dict[str, float]:
    """Seconds per test file in a `--durations=0` report, longest first, those under `floor_s` left out."""
    seconds: dict[str, float] = defaultdict(float)
    for line in report.splitlines():
        if match := LINE.match(line):
            seconds[match.group(2)] += float(match.group(1))
    return {name: round(s, 1) for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]) if s >= floor_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the output of a run with --durations=0")
    seconds = file_seconds(parser.parse_args().report.read_text())
    TARGET.write_text(json.dumps(seconds, indent=1) + "\n")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("%s: %d files, %.0f s", TARGET, len(seconds), sum(seconds.values()))


if __name__ == "__main__":
    main()
