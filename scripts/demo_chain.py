"""The DEMO chain under the running scheduler of `make airflow`, driven through the REST API as a
user's script would: trigger hazard_realizations, follow it and the hazard_aggregation it starts;
trigger disagg_realizations, follow it and the disagg_aggregation it starts. Progress is printed as
it changes (each run's state, each task's instances done/total, OpenQuake runs); the last
disagg_aggregation summary is written to --summary for the report.

    python scripts/demo_chain.py --summary var/logs/disagg_aggregation-summary.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_stack import VAR, api_port  # noqa: E402
from hazflow_tools.rest import AirflowApi  # noqa: E402

SITES = ["WLG", "CHC", "AKL"]
# The hazard covers PGA and six SA periods: enough for a uniform hazard spectrum in the UI's Hazard view
SPECTRUM = ["PGA", "SA(0.1)", "SA(0.2)", "SA(0.5)", "SA(1.0)", "SA(2.0)", "SA(3.0)"]
HAZARD = {"model": "DEMO", "sites": SITES, "vs30s": [400], "imts": SPECTRUM, "leaves": ["all"]}
# 6 leaves x 3 sites x 2 PoEs = 36 runs (PGA and SA(0.5) each), as 6 one-pass disaggregations (one
# per leaf), in 6 batches that the `openquake` pool runs side by side
DISAGG = HAZARD | {"imts": ["PGA", "SA(0.5)"], "poes": [0.1, 0.02], "batch_cap": 6}
DAGS = ("hazard_realizations", "hazard_aggregation", "disagg_realizations", "disagg_aggregation")
DONE = {"success", "failed"}


def _progress(api: AirflowApi, dag_id: str, run_id: str) -> tuple[str, str]:
    """(run state, a line: each task's instances done/total, with running and failed ones)."""
    run = api.run(dag_id, run_id) or {"state": "not yet created"}
    by_task: dict[str, Counter[str]] = {}
    for ti in api.task_instances(dag_id, run_id) if run.get("dag_run_id") else []:
        by_task.setdefault(ti["task_id"], Counter())[str(ti["state"])] += 1
    parts = []
    for task, states in by_task.items():
        total, done = sum(states.values()), states["success"] + states["skipped"]
        extra = "".join(f" {states[s]} {s}" for s in ("running", "queued", "failed", "upstream_failed") if states[s])
        parts.append(f"{task} {done}/{total}{extra}")
    return str(run["state"]), "  ".join(parts)


def follow(api: AirflowApi, dag_id: str, run_id: str, timeout_s: float = 3600) -> dict[str, Any]:
    """Print progress until the run ends; the run (raises if it failed)."""
    start, last = time.monotonic(), ""
    while time.monotonic() - start < timeout_s:
        state, line = _progress(api, dag_id, run_id)
        if f"{state} {line}" != last:
            print(f"  [{time.monotonic() - start:5.0f} s] {dag_id}: {state:8s} {line}", flush=True)
            last = f"{state} {line}"
        if state in DONE:
            run = api.run(dag_id, run_id) or {}
            if state != "success":
                raise SystemExit(f"{dag_id} run {run_id} {state}: see its task logs in the UI ({api.url})")
            return run
        time.sleep(3)
    raise SystemExit(f"{dag_id} run {run_id} did not end within {timeout_s:.0f} s")


def seconds(run: dict[str, Any]) -> float:
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def step(
    api: AirflowApi, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Trigger `dag_id` with `conf` (or follow the run `run_id` another run started); its summary."""
    if run_id is None:
        run_id = api.trigger(dag_id, conf or {})
        print(f"== {dag_id}: triggered through the REST API, run {run_id}", flush=True)
    else:
        print(f"== {dag_id}: the run the previous one started, {run_id}", flush=True)
    run = follow(api, dag_id, run_id)
    summary = api.xcom(dag_id, run_id, "summary")
    print(f"{dag_id} done in {seconds(run):.1f} s; summary: {json.dumps(summary)[:400]}", flush=True)
    return run_id, summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", required=True, help="where to write the disagg_aggregation summary (JSON)")
    args = parser.parse_args(argv)
    password = json.loads((VAR / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    api = AirflowApi(f"http://127.0.0.1:{api_port()}", "admin", password)
    deadline = time.monotonic() + 180
    while any(_missing(api, d) for d in DAGS):  # the DAG processor has not parsed them yet
        if time.monotonic() > deadline:
            raise SystemExit("the DAGs were not parsed within 180 s: see var/airflow/stack/dag-processor.log")
        time.sleep(3)
    for dag_id in DAGS:
        api.unpause(dag_id)
    cores = int(os.environ.get("HAZFLOW_OQ_PARALLEL", "1"))
    slots = max(1, (os.cpu_count() or 1) // cores)
    api.call("PATCH", "/pools/openquake?update_mask=slots", {"pool": "openquake", "slots": slots, "include_deferred": False})
    print(f"== DAGs unpaused; pool openquake: {slots} batch(es) at once, {cores} OpenQuake process(es) each", flush=True)

    start = time.monotonic()
    run_id, _ = step(api, "hazard_realizations", HAZARD)
    step(api, "hazard_aggregation", run_id=f"{run_id}__hazard_aggregation")
    run_id, _ = step(api, "disagg_realizations", DISAGG)
    _, summary = step(api, "disagg_aggregation", run_id=f"{run_id}__disagg_aggregation")
    Path(args.summary).write_text(json.dumps(summary))
    print(f"== the chain took {time.monotonic() - start:.0f} s under the scheduler", flush=True)
    print(f"== the hazard in the UI: {api.url}/plugin/hazflow-hazard (curves, and spectra over {len(SPECTRUM)} IMTs);"
          f" the page alone: {api.url}/hazflow/hazard?model=DEMO&site=WLG&vs30=400&imt=SA(0.5)", flush=True)  # fmt: skip
    return 0


def _missing(api: AirflowApi, dag_id: str) -> bool:
    try:
        api.call("GET", f"/dags/{dag_id}")
    except RuntimeError:
        return True
    return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
