"""The suite's timeline: each test phase's worker, start and stop, as the xdist controller receives
them, one JSON line each. `HAZFLOW_TEST_TIMELINE=<file>` turns it on (tests/conftest.py);
`bench/suite_timeline.py` reads it: where the workers' time goes and how long each sat idle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def record(report: Any) -> None:
    """Append one phase of one test (`setup`, `call` or `teardown`) to the timeline, if one is asked
    for; on the controller only (a worker's report reaches it with the worker's id)."""
    path = os.environ.get("HAZFLOW_TEST_TIMELINE")
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    row = {
        "worker": getattr(gateway, "id", "main"),
        "nodeid": report.nodeid,
        "when": report.when,
        "start": report.start,
        "stop": report.stop,
        "outcome": report.outcome,
    }
    with Path(path).open("a") as out:
        out.write(json.dumps(row) + "\n")
