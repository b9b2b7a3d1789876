"""The seconds per test file that order the files for the test workers (tests/file_seconds.json)."""

from __future__ import annotations

import json

from hazflow.config import PROJECT_ROOT
from tests.file_seconds import TARGET, file_seconds

REPORT = """\
============================= slowest durations ==============================
174.60s call     tests/dags/test_scheduler.py::test_clearing_the_waiting_ecs_task_instance
12.00s setup    tests/dags/test_scheduler.py::test_clearing_the_waiting_ecs_task_instance
1.50s teardown tests/dags/test_scheduler.py::test_a_data_integrity_error[local]
0.70s call     tests/plan/test_disagg.py::test_one[a@b]
0.40s call     tests/plan/test_disagg.py::test_two
2.25s call     include/hazflow/plan/imtl.py::hazflow.plan.imtl.levels
(12 durations < 0.005s hidden.  Use -vv to show these durations.)
"""


def test_a_report_sums_each_files_setup_call_and_teardown_longest_first():
    seconds = file_seconds(REPORT)
    assert seconds == {
        "tests/dags/test_scheduler.py": 188.1,
        "include/hazflow/plan/imtl.py": 2.2,
        "tests/plan/test_disagg.py": 1.1,
    }
    assert list(seconds) == ["tests/dags/test_scheduler.py", "include/hazflow/plan/imtl.py", "tests/plan/test_disagg.py"]
    assert "tests/plan/test_disagg.py" not in file_seconds(REPORT, floor_s=1.5)


def test_every_file_the_figures_name_exists():
    named = json.loads(TARGET.read_text())
    assert named and all(seconds >= 1.0 for seconds in named.values())
    assert [name for name in named if not (PROJECT_ROOT / name).is_file()] == []
