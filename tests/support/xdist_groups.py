"""`--dist loadfile`, with named groups of files that go to one worker together (tests/conftest.py
installs it through pytest-xdist's `pytest_xdist_make_scheduler` hook).

Why: the DAG tests' session fixtures (tests/dags/conftest.py: `hazard_realizations`, then
`hazard_aggregation`, then `disagg_realizations` of a DEMO subset, run by real `airflow dags test`) are
built once per worker that needs them. Spread over two workers they were built twice, about 50 s of a
2-core machine each time. A group is one unit of xdist's work queue, sent first, so that the longest
unit starts first and the other worker takes every other file as it frees up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xdist.scheduler import LoadFileScheduling

# The files that share the DAG chain's session fixtures (tests/dags/conftest.py), by group.
GROUPS: Mapping[str, str] = {
    f"tests/dags/{name}.py": "dag-chain"
    for name in (
        "test_hazard_realizations",
        "test_hazard_aggregation",
        "test_disagg_realizations",
        "test_disagg_aggregation",
        "test_coverage_backfill",
        "test_ecs_runner",
        "test_scheduler",
        "test_trigger_form",
    )
}


class GroupedLoadFileScheduling(LoadFileScheduling):
    """xdist's `loadfile`, except that the files of a group are one scope (`group:<name>`), and the
    groups are sent before any file."""

    def __init__(self, config: Any, log: Any = None, groups: Mapping[str, str] = GROUPS) -> None:
        super().__init__(config, log)
        self.groups = dict(groups)

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return f"group:{self.groups[path]}" if path in self.groups else path

    def _assign_work_unit(self, node: Any) -> None:
        for scope in [s for s in self.workqueue if s.startswith("group:")][::-1]:
            self.workqueue.move_to_end(scope, last=False)  # the groups first, in their first-seen order
        super()._assign_work_unit(node)
