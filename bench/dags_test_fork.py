"""Benchmark: the CPU of one `airflow dags test` as the DAG tests run it, a fork of a warm Airflow
process, in three forms, alternating, in the same run: each of the suite's steps against the one before.

    .venv/bin/python bench/dags_test_fork.py [--runs 4]

- `imports`: the warm process imports the modules a run uses and parses the DAG folder
  (`tests.support.airflow_preload`);
- `api`: it also builds the execution API (`tests.support.execution_api`), whose routes cadwyn
  generates on the app's first request (the suite's way from 2026-12-07 morning);
- `dagfile`: as `api`, and the command names the DAG's own file (`-f dags/hazard_aggregation.py`),
  so `airflow dags test` parses and serializes that file before the run, not the whole folder (the
  run itself still syncs the folder's DAGs, as it always does; the suite's way from that afternoon).

Each run is `airflow dags test hazard_aggregation` of every DEMO leaf at
WLG, PGA, VS30 400, with no realizations stored: it fails at its plan and runs no OpenQuake job, so what
is measured is what every DAG test's run pays before and around its tasks. It runs in an Airflow home
of its own (a copy of the database `make setup` migrated) with a store of its own, in a temporary
folder. Prints `key: value` lines:

- `runs`: how many runs of each form, alternating;
- `<form>_cpu_s`: the median run's CPU seconds (the fork's own, from wait4), for each form;
- `<form>_wall_s`: the median run's wall seconds;
- `api_cpu_ratio`, `dagfile_cpu_ratio`: each form's CPU over the form before it, and `cpu_ratio`,
  `dagfile` over `imports` (below 1: the later way spends less);
- `same_outcome`: whether every run failed at its plan naming the missing realizations.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hazflow.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))  # the test suite's support package

from tests.support.warm_airflow import IMPORTS, PRELOAD, dag_file, fork_airflow  # noqa: E402

REQUEST = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["all"]}
DAG = "hazard_aggregation"
FORMS = {  # form -> (the warm process's preload, what the command adds)
    "imports": (IMPORTS, []),
    "api": (PRELOAD, []),
    "dagfile": (PRELOAD, ["-f", str(dag_file(DAG))]),
}
FAILED_AT_PLAN = "component realizations missing for WLG vs30=400 PGA"


def environment(folder: Path) -> dict[str, str]:
    """Airflow and hazflow settings of a home and store under `folder`, the migrated database copied."""
    home = folder / "airflow"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "var" / "airflow" / "airflow.db", home / "airflow.db")
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "HAZFLOW_STORE_ROOT": str(folder / "store"),
        "HAZFLOW_WORK_DIR": str(folder / "work"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4, help="runs of each form, alternating")
    args = parser.parse_args(argv)
    if not (PROJECT_ROOT / "var" / "airflow" / "airflow.db").exists():
        parser.error("no migrated Airflow database in var/airflow: run `make setup` first")
    figures: dict[str, list[tuple[float, float]]] = {form: [] for form in FORMS}
    same = True
    with tempfile.TemporaryDirectory(prefix="dags-test-fork-") as tmp:
        env = environment(Path(tmp))
        argv_test = ["dags", "test", DAG, "-c", json.dumps(REQUEST)]
        for form, (preload, _) in FORMS.items():  # start the warm processes (and check they serve) before timing
            fork_airflow(["version"], env, Path(tmp) / f"{form}-start.log", 300, preload)
        for run in range(args.runs):
            for form, (preload, more) in FORMS.items():
                log = Path(tmp) / f"{form}-{run}.log"
                start = time.monotonic()
                ran = fork_airflow([*argv_test, *more], env, log, 600, preload)
                figures[form].append((time.monotonic() - start, ran.cpu_seconds))
                same &= os.waitstatus_to_exitcode(ran.status) == 1 and FAILED_AT_PLAN in log.read_text(errors="replace")
    print(f"runs: {args.runs} of each (airflow dags test {DAG}, failing at its plan)")
    for form, rows in figures.items():
        print(f"{form}_cpu_s: {statistics.median(c for _, c in rows):.2f}")
        print(f"{form}_wall_s: {statistics.median(w for w, _ in rows):.2f}")
    cpu = {form: sum(c for _, c in rows) for form, rows in figures.items()}
    print(f"api_cpu_ratio: {cpu['api'] / cpu['imports']:.3f}")
    print(f"dagfile_cpu_ratio: {cpu['dagfile'] / cpu['api']:.3f}")
    print(f"cpu_ratio: {cpu['dagfile'] / cpu['imports']:.3f}")
    print(f"same_outcome: {str(same).lower()}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
