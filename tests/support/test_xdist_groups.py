"""The grouped `loadfile` scheduler, in a real pytest-xdist session of two workers: the files of a
group run on one worker, first there, and every other file still runs, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hazflow.config import PROJECT_ROOT
from tests.support.xdist_groups import GroupedLoadFileScheduling, groups_of

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


def test_a_file_joins_the_group_whose_fixture_its_tests_or_fixtures_take(tmp_path: Path) -> None:
    (tmp_path / "tests" / "dags").mkdir(parents=True)
    sources = {
        "tests/dags/test_chain.py": "def test_x(hazard_aggregated):\n    pass\n",
        "tests/dags/test_module_fixture.py": "import pytest\n@pytest.fixture\ndef stack(aws_env):\n    yield\ndef test_y(stack):\n    pass\n",
        "tests/test_reader.py": "def test_z(tmp_path, disagg_run):\n    pass\n",
        "tests/test_alone.py": "def test_w(hazard):\n    pass\n",
        "tests/dags/conftest.py": "def realizations_run(tmp_path_factory):\n    pass\n",  # defines, is not a test file
    }
    for path, source in sources.items():
        (tmp_path / path).write_text(source)
    assert groups_of(tmp_path) == {
        "tests/dags/test_chain.py": "dag-chain",
        "tests/dags/test_module_fixture.py": "dag-chain",
        "tests/test_reader.py": "openquake-readers",
    }


def test_the_suites_groups_and_other_files_scopes() -> None:
    groups = groups_of(PROJECT_ROOT)
    assert {p for p, g in groups.items() if g == "dag-chain"} >= {
        "tests/dags/test_trigger_form.py", "tests/dags/test_scheduler.py", "tests/dags/test_ecs_runner.py",
        "tests/dags/test_disagg_realizations.py", "tests/dags/test_disagg_aggregation.py",
    }  # fmt: skip
    assert {p for p, g in groups.items() if g == "openquake-readers"} >= {
        "tests/openquake/test_datastore.py", "tests/ingest/test_realizations.py", "tests/export/test_oq_csv.py",
    }  # fmt: skip
    scheduler = GroupedLoadFileScheduling.__new__(GroupedLoadFileScheduling)
    scheduler.groups = groups
    assert scheduler._split_scope("tests/dags/test_trigger_form.py::test_x[1]") == "group:dag-chain"
    assert scheduler._split_scope("tests/openquake/test_warm.py::test_x") == "tests/openquake/test_warm.py"
