"""The grouped `loadfile` scheduler, in a real pytest-xdist session of two workers: the files of a
group run on one worker, first there, and every other file still runs, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hazflow.config import PROJECT_ROOT
from tests.support.xdist_groups import GROUPS, GroupedLoadFileScheduling

CONFTEST = """
import json, os, time
from pathlib import Path

import pytest

from tests.support.xdist_groups import GroupedLoadFileScheduling


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return GroupedLoadFileScheduling(config, log, groups={"test_a.py": "pair", "test_b.py": "pair"})


@pytest.fixture(autouse=True)
def record(request):
    with (Path(__file__).parent / "ran.jsonl").open("a") as out:
        out.write(json.dumps([os.environ["PYTEST_XDIST_WORKER"], request.node.nodeid, time.monotonic()]) + "\\n")
"""


def test_a_group_runs_on_one_worker_first_and_the_other_files_run_once(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    files = {"a": 1, "b": 1, "c": 8, "d": 8, "e": 8, "f": 8}  # the group's files have the fewest tests
    for name, count in files.items():
        (tmp_path / f"test_{name}.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(count)))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path), "-p", "xdist", "-n", "2",
         "--dist", "loadfile", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = [json.loads(line) for line in (tmp_path / "ran.jsonl").read_text().splitlines()]
    assert sorted(nodeid for _, nodeid, _ in ran) == sorted(f"test_{n}.py::test_{i}" for n, c in files.items() for i in range(c))
    worker = {nodeid.split("::")[0]: w for w, nodeid, _ in ran}
    assert worker["test_a.py"] == worker["test_b.py"]
    on_it = [nodeid for w, nodeid, _ in sorted(ran, key=lambda r: r[2]) if w == worker["test_a.py"]]
    assert {n.split("::")[0] for n in on_it[:2]} == {"test_a.py", "test_b.py"}  # sent first, though xdist sends big files first


def test_the_suites_group_names_existing_files_and_other_files_keep_their_own_scope() -> None:
    assert GROUPS and all((PROJECT_ROOT / path).is_file() for path in GROUPS)
    scheduler = GroupedLoadFileScheduling.__new__(GroupedLoadFileScheduling)
    scheduler.groups = dict(GROUPS)
    assert {path: scheduler._split_scope(f"{path}::test_x[1]") for path in GROUPS} == {
        path: f"group:{group}" for path, group in GROUPS.items()
    }
    assert set(GROUPS.values()) == {"dag-chain", "openquake-readers"}
    assert GROUPS["tests/dags/test_trigger_form.py"] == GROUPS["tests/dags/test_disagg_realizations.py"] == "dag-chain"
    assert scheduler._split_scope("tests/openquake/test_warm.py::test_x") == "tests/openquake/test_warm.py"


# The session fixtures each group exists for: a test file whose tests or fixtures take one belongs in the group.
SHARED = {
    "dag-chain": {"realizations_run", "hazard_aggregated", "disagg_realizations_run", "disaggregated", "aws_env"},
    "openquake-readers": {"classical_run", "disagg_run"},
}


def test_every_file_that_takes_a_shared_fixture_is_in_its_group() -> None:
    """A new file that takes the DAG chain or a shared OpenQuake calculation, left out of its group,
    would build it again on another worker."""
    import ast

    takers: dict[str, set[str]] = {group: set() for group in SHARED}
    for path in sorted((PROJECT_ROOT / "tests").rglob("test_*.py")):
        args = {
            a.arg for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef) for a in node.args.args
        }
        for group, fixtures in SHARED.items():
            if args & fixtures:
                takers[group].add(str(path.relative_to(PROJECT_ROOT)))
    assert takers == {group: {p for p, g in GROUPS.items() if g == group} for group in SHARED}
