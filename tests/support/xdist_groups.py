"""`--dist loadfile`, with named groups of files that go to one worker together (tests/conftest.py
installs it through pytest-xdist's `pytest_xdist_make_scheduler` hook).

Why: a session fixture is built once per worker that needs it. The DAG tests' chain
(tests/dags/conftest.py: `hazard_realizations`, then `hazard_aggregation`, then `disagg_realizations`
of a DEMO subset, each a real `airflow dags test`) was built on both workers, about 50 s of a 2-core
machine each time; the two OpenQuake calculations the reader tests share (tests/conftest.py) were run
on each worker too. A group is one unit of xdist's work queue, and the groups are sent first, so the
longest unit starts first and the other workers take every other file as they free up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xdist.scheduler import LoadFileScheduling

# The files that share the DAG chain's session fixtures (tests/dags/conftest.py), and those that read
# the two OpenQuake calculations of tests/conftest.py (`classical_run`, `disagg_run`), by group.
GROUPS: Mapping[str, str] = {
    **{
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
    },
    **{
        f"tests/{path}.py": "openquake-readers"
        for path in ("openquake/test_datastore", "openquake/test_runner", "ingest/test_realizations", "export/test_oq_csv")
    },
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
