"""`--dist loadfile`, with named groups of files that go to one worker together (tests/conftest.py
installs it through pytest-xdist's `pytest_xdist_make_scheduler` hook).

Why: a session fixture is built once per worker that needs it. The DAG tests' chain
(tests/dags/conftest.py: `hazard_realizations`, then `hazard_aggregation`, then `disagg_realizations`
of a DEMO subset, each a real `airflow dags test`) was built on both workers, about 50 s of a 2-core
machine each time; the two OpenQuake calculations the reader tests share (tests/conftest.py) were run
on each worker too. A group is one unit of xdist's work queue, and the groups are sent first, so the
longest unit starts first and the other workers take every other file as they free up. A file
joins a group by taking one of the group's fixtures (`SHARED`), read from its source: a new test file
that takes the chain goes with the others by itself.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadFileScheduling

# The session fixtures built by real runs, by group: the DAG chain of tests/dags/conftest.py (and
# `aws_env`, which takes it), and the two OpenQuake calculations of tests/conftest.py.
SHARED: Mapping[str, frozenset[str]] = {
    "dag-chain": frozenset({"realizations_run", "hazard_aggregated", "disagg_realizations_run", "disaggregated", "aws_env"}),
    "openquake-readers": frozenset({"classical_run", "disagg_run"}),
}


def groups_of(rootdir: Path, shared: Mapping[str, frozenset[str]] = SHARED) -> dict[str, str]:
    """Each test file under `rootdir`/tests whose tests or fixtures take a shared fixture (an argument
    of that name), as its node id's path -> its group (the first group it takes, in `shared`'s order)."""
    groups = {}
    for path in sorted((rootdir / "tests").rglob("test_*.py")):
        args = {
            a.arg
            for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.FunctionDef)
            for a in node.args.args
        }
        group = next((name for name, fixtures in shared.items() if args & fixtures), None)
        if group is not None:
            groups[path.relative_to(rootdir).as_posix()] = group
    return groups


class GroupedLoadFileScheduling(LoadFileScheduling):
    """xdist's `loadfile`, except that the files of a group (`groups`: node id path -> group; by default
    the suite's, `groups_of` its rootdir) are one scope (`group:<name>`), and the groups are sent first."""

    def __init__(self, config: Any, log: Any = None, groups: Mapping[str, str] | None = None) -> None:
        super().__init__(config, log)
        self.groups = dict(groups if groups is not None else groups_of(Path(config.rootpath)))

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return f"group:{self.groups[path]}" if path in self.groups else path

    def _assign_work_unit(self, node: Any) -> None:
        for scope in [s for s in self.workqueue if s.startswith("group:")][::-1]:
            self.workqueue.move_to_end(scope, last=False)  # the groups first, in their first-seen order
        super()._assign_work_unit(node)
