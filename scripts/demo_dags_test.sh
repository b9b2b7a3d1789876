#!/usr/bin/env bash
# The demo as it ran before `make airflow`, one task at a time (`airflow dags test`: SQLite, no
# scheduler): `make demo-dags-test`, and `make demo-aws` on a moto_server. The same chain:
# DEMO hazard realizations for WLG, CHC and AKL; their aggregation over the logic tree (with
# plots); disaggregation realizations at the three sites, 10 % and 2 % in 50 years, at the levels
# read off the aggregated curves; the disaggregation aggregation that DAG starts (closure check,
# plots); then the ledger and what the store holds.
# Run it through `make demo-dags-test`, which sets up the venvs first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
mkdir -p "$root/var/logs"

# run_dag DAG_ID CONF [LOGICAL_DATE]: run one DAG run, show its progress, keep the full log, then
# print what its `summary` task returned (read from Airflow's database, not from the log)
run_dag() {
  last_log="$root/var/logs/demo-$1-$(date -u +%Y%m%dT%H%M%SZ).log"
  echo "== $1 (airflow dags test); full log: $last_log"
  set +e
  airflow dags test "$1" ${3:+"$3"} -c "$2" 2>&1 | tee "$last_log" \
    | grep --line-buffered -oE "\[DAG TEST\] end task task_id=[a-z_]+ map_index=-?[0-9]+|plan disagg-[^\"]*|DagRun Finished: .*state=[a-z]+" \
    | sed -u -E 's/, run_start_date.*(state=[a-z]+).*/ \1/'
  local status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || { echo "$1 failed: see $last_log" >&2; exit "$status"; }
  last_run=$(python -m hazflow_tools.runs latest "$1")
  echo "$1 summary: $(python -m hazflow_tools.runs xcom "$1" summary --run-id "$last_run" | cut -c1-400)"
  echo "$1 wall seconds (the run, each task): $(python -m hazflow_tools.runs seconds "$1" --run-id "$last_run")"
}

start=$(date +%s)
conf='{"model": "DEMO", "sites": ["WLG", "CHC", "AKL"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "leaves": ["all"]}'
run_dag hazard_realizations "$conf"
# hazard_realizations started hazard_aggregation for exactly its realization set; without a
# scheduler that run waits queued, so run it here at its logical date with its conf.
run_triggered() {  # run_triggered DAG_ID: the run the last DAG run started for DAG_ID
  IFS=$'\t' read -r agg_date agg_conf < <(python -m hazflow_tools.runs queued "$1" --run-id "${last_run}__$1") \
    || { echo "the last run started no $1 run" >&2; exit 1; }
  echo "== $1 started by the last run, with conf $agg_conf"
  run_dag "$1" "$agg_conf" "$agg_date"
}
run_triggered hazard_aggregation

# 6 leaves x 3 sites x 2 PoEs = 36 runs (both IMTs in each), computed by the one-pass engine in 6
# passes (one per leaf: every site, PoE and IMT). `airflow dags test` runs one task at a time, so one
# batch holds them all: HAZFLOW_OQ_PARALLEL (= the cores) OpenQuake processes, 3 passes each.
run_dag disagg_realizations '{"model": "DEMO", "sites": ["WLG", "CHC", "AKL"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "poes": [0.1, 0.02], "leaves": ["all"], "batch_cap": 1}'

# disagg_realizations started disagg_aggregation for exactly its realization set; without a
# scheduler that run waits queued, so run it here at its logical date with its conf.
run_triggered disagg_aggregation
echo "== the chain took $(( $(date +%s) - start )) s"

python -m hazflow_tools.runs xcom disagg_aggregation summary --run-id "$last_run" > "$root/var/logs/disagg_aggregation-summary.json"
bash "$root/scripts/demo_report.sh" "$root/var/logs/disagg_aggregation-summary.json"
