"""`python -m hazflow ...`: every step of the flow without Airflow, calling the same domain steps
as the DAGs, and the store's contents.

    python -m hazflow [--json] [--quiet] COMMAND ...

Each command returns a value: `--json` prints it (what scripts and tests read), otherwise a table
or a few lines for a person. Progress goes to stderr as log lines. Exit status: 0 done, 1 a check
did not pass (`plan-hazard --check`, `show` of a site with nothing stored), 2 bad input (the
message names the field) or another permanent failure, 75 a transient one worth trying again (a busy
store, a pass another live copy is computing).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

from hazflow.cli import aggregation, extract, inspect, realizations
from hazflow.cli.output import Output
from hazflow.config import Config
from hazflow.exceptions import HazflowError, TransientError

TRANSIENT_EXIT = 75  # sysexits' EX_TEMPFAIL: a transient failure (a busy store, a lease another copy holds)

logger = logging.getLogger("hazflow.cli")


class Parser(argparse.ArgumentParser):
    """argparse, with `lat~lon` codes south of the equator (`-41.3~174.78`, every New Zealand site)
    taken as values, as negative numbers are, not as unknown options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_VALUE


# argparse's own (a negative number), or anything shaped as a lat~lon code with a negative latitude
# (a malformed one, `-41.3~lon`, is then refused by the site parser, naming the field)
NEGATIVE_VALUE = re.compile(r"^-\d+$|^-\d*\.\d+$|^-[\d.][^~\s]*~\S*$")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m hazflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the command's value as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (realizations, aggregation, extract, inspect):
        module.add_commands(sub)
    return parser


def run(argv: Sequence[str], config: Config | None = None) -> Output:
    """Run one command and return its output (errors raised as they come)."""
    args = build_parser().parse_args(argv)
    return args.func(args, config or Config.from_env())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("hazflow").setLevel(logging.WARNING if args.quiet else logging.INFO)  # progress; libraries' warnings only
    try:
        out: Output = args.func(args, Config.from_env())
    except TransientError as e:  # worth trying again later: EX_TEMPFAIL, as a scheduler would read it
        print(f"error: {e}", file=sys.stderr)
        return TRANSIENT_EXIT
    except HazflowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out.value, indent=1, default=str) if args.json else out.text)
    return out.status
