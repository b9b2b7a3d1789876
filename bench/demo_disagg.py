"""Benchmark: the demo's disaggregation step with both engines, same request, same machine, same run.

    .venv/bin/python bench/demo_disagg.py [--engines oq hazardlib hazardlib_apart]

Runs the demo's chain through real Airflow (`airflow dags test`) in a scratch Airflow home and a
scratch store: hazard_realizations and hazard_aggregation (the mean curves the disaggregation levels
are read off), then disagg_realizations with the demo's own request (read from scripts/demo_dags_test.sh: 3
sites, 2 IMTs, 10 % and 2 % in 50 years, the 6 DEMO leaves, one batch) once per engine, the engine
set by the `disagg_engine` field of the conf, each into its own copy of the store (so that none
finds another's work done). `hazardlib_apart` is the one-pass engine with every site a calculation
of its own (`HAZFLOW_ONEPASS_SHARE_SITES=0`: one-pass as it was before sites of plain-fault leaves
shared a calculation, and as NSHM's leaves, which all hold multi-fault and point-like sources, are
computed). Prints `key: value` lines:

- `<engine>_dag_run_s`: the disagg_realizations run, start to end (the demo's disaggregation step);
- `<engine>_run_task_s`: its `run` task (the OpenQuake processes, their artifacts and ledger) and
  `<engine>_rest_s`: the rest (plan, ingest, summary, Airflow's own start-up, the same work for both);
- `<engine>_task_s`: every task's wall seconds (where the rest goes);
- `<engine>_openquake_runs`, `<engine>_openquake_passes` (the run's summary: jobs computed, OpenQuake
  passes over a leaf's ruptures, one per run with `oq`), `<engine>_cpu_s` (the ledger: CPU seconds
  of the OpenQuake processes);
- `dag_run_ratio`, `run_task_ratio`, `cpu_ratio`: oq / hazardlib; `sharing_ratio`: the DAG run with
  sites apart / with sites sharing calculations (when both ran);
- `verdict`: `met` when dag_run_ratio >= 5 (exit status 0), else `not met` (1).

`oq` is today's path before one-pass disaggregation: one `oq engine --run` per leaf x site x PoE.
Takes about 4-5 minutes on 2 cores (HAZFLOW_OQ_PARALLEL, default the cores, sets the processes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
HAZARD_CONF = {"model": "DEMO", "sites": ["WLG", "CHC", "AKL"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "leaves": ["all"]}
TARGET = 5.0
# variant: the engine, and the environment it runs with
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "oq": ("oq", {}),
    "hazardlib": ("hazardlib", {}),
    "hazardlib_apart": ("hazardlib", {"HAZFLOW_ONEPASS_SHARE_SITES": "0"}),
}


def demo_request() -> dict[str, Any]:
    """The conf scripts/demo_dags_test.sh (`make demo-dags-test`) runs disagg_realizations with."""
    found = re.search(r"run_dag disagg_realizations '(\{.*\})'", (ROOT / "scripts" / "demo_dags_test.sh").read_text())
    if not found:
        raise SystemExit("scripts/demo_dags_test.sh: no `run_dag disagg_realizations '{...}'` line")
    conf: dict[str, Any] = json.loads(found.group(1))
    return conf


def environment(scratch: Path) -> dict[str, str]:
    """scripts/env.sh's variables, with Airflow's home, the store and the work folder in `scratch`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HAZFLOW_STORE", "HAZFLOW_WORK"))}
    env.update(
        AIRFLOW_HOME=str(scratch / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(scratch / "airflow" / "logs"),
        HAZFLOW_STORE_ROOT=str(scratch / "store"),
        HAZFLOW_WORK_DIR=str(scratch / "work"),
        HAZFLOW_OQ_PYTHON=str(ROOT / ".venv-oq" / "bin" / "python"),
        NUMBA_CACHE_DIR=str(ROOT / ".cache" / "numba"),
        PATH=f"{VENV}:{os.environ.get('PATH', '')}",
    )
    return env


def call(args: list[str], env: dict[str, str], what: str) -> str:
    out = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{what} failed ({out.returncode}):\n{(out.stdout + out.stderr)[-3000:]}")
    return out.stdout


def runs(env: dict[str, str], *args: str) -> Any:
    """`python -m hazflow_tools.runs ARGS` in the scratch Airflow home, its output parsed as JSON."""
    return json.loads(call([str(VENV / "python"), "-m", "hazflow_tools.runs", *args], env, f"runs {args}"))


def dag_run(dag_id: str, conf: dict[str, Any], env: dict[str, str]) -> str:
    """One `airflow dags test` run; its run id."""
    call([str(VENV / "airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)], env, f"airflow dags test {dag_id}")
    return call([str(VENV / "python"), "-m", "hazflow_tools.runs", "latest", dag_id], env, "runs latest").strip()


def cpu_seconds(env: dict[str, str], engine: str) -> float:
    """CPU seconds of the engine's OpenQuake processes, summed over the ledger's disaggregation jobs."""
    code = (
        "import json; from hazflow.config import Config\n"
        f'print(json.dumps(sum(e.cpu_seconds for e in Config.from_env().open_store().ledger_list() if e.kind == "disagg" and e.engine == {engine!r})))'
    )
    return float(call([str(VENV / "python"), "-c", code], env, "ledger"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    request = demo_request()
    print(f"request: {json.dumps(request)}  (scripts/demo_dags_test.sh's disagg_realizations conf)")
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="demo-disagg.") as tmp:
        env = environment(Path(tmp))
        start = time.monotonic()
        call([str(VENV / "airflow"), "db", "migrate"], env, "airflow db migrate")
        call([str(VENV / "airflow"), "pools", "import", str(ROOT / "include" / "hazflow-data" / "pools.json")], env, "pools")
        dag_run("hazard_realizations", HAZARD_CONF, env)
        dag_run("hazard_aggregation", HAZARD_CONF, env)
        print(f"setup_s: {time.monotonic() - start:.1f}  (Airflow database, DEMO hazard and its mean curves)")
        hazard = Path(tmp) / "hazard-store"
        shutil.copytree(Path(env["HAZFLOW_STORE_ROOT"]), hazard)
        for variant in args.engines:
            engine, extra = VARIANTS[variant]
            store = Path(tmp) / f"store-{variant}"
            shutil.copytree(hazard, store)
            run_env = env | extra | {"HAZFLOW_STORE_ROOT": str(store)}
            run_id = dag_run("disagg_realizations", request | {"disagg_engine": engine}, run_env)
            seconds = runs(run_env, "seconds", "disagg_realizations", "--run-id", run_id)
            summary = runs(run_env, "xcom", "disagg_realizations", "summary", "--run-id", run_id)
            if set(summary["states"]) - {"done", "no_ruptures"}:
                raise SystemExit(f"{variant}: not every job finished: {summary.get('states')}")
            figures[variant] = {
                "dag_run_s": seconds["dag_run"],
                "run_task_s": seconds["local.run"],
                "rest_s": seconds["dag_run"] - seconds["local.run"],
                "openquake_runs": summary["openquake_runs"],
                "openquake_passes": summary["openquake_passes"],
                "cpu_s": cpu_seconds(run_env, engine),
            }
            for key, value in figures[variant].items():
                print(f"{variant}_{key}: {value:.1f}" if isinstance(value, float) else f"{variant}_{key}: {value}")
            tasks = ", ".join(f"{task} {s:.1f}" for task, s in seconds.items() if task != "dag_run")
            print(f"{variant}_task_s: {tasks}  (each task's wall seconds, its mapped instances summed)")
    if {"hazardlib", "hazardlib_apart"} <= set(figures):
        print(f"sharing_ratio: {figures['hazardlib_apart']['dag_run_s'] / figures['hazardlib']['dag_run_s']:.2f}")
    if not {"oq", "hazardlib"} <= set(figures):
        return 0
    dag_ratio = figures["oq"]["dag_run_s"] / figures["hazardlib"]["dag_run_s"]
    print(f"dag_run_ratio: {dag_ratio:.2f}")
    print(f"run_task_ratio: {figures['oq']['run_task_s'] / figures['hazardlib']['run_task_s']:.2f}")
    print(f"cpu_ratio: {figures['oq']['cpu_s'] / figures['hazardlib']['cpu_s']:.2f}")
    met = dag_ratio >= TARGET
    print(f"verdict: {'met' if met else 'not met'} (target dag_run_ratio >= {TARGET:g})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
