#!/usr/bin/env bash
# The demo, through the real Airflow DAGs (`airflow dags test`: SQLite, no scheduler needed):
# DEMO hazard realizations for WLG, CHC and AKL; their aggregation over the logic tree (with
# plots); disaggregations at Wellington planned from the aggregated curves; their aggregation
# with closure check and plots; then the ledger and what the store holds.
# Run it through `make demo`, which sets up the venvs first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
mkdir -p "$root/var/logs"

# run_dag DAG_ID CONF: trigger one DAG run, show its progress and summary, keep the full log
run_dag() {
  local log="$root/var/logs/demo-$1-$(date -u +%Y%m%dT%H%M%SZ).log"
  echo "== $1 (airflow dags test); full log: $log"
  set +e
  airflow dags test "$1" -c "$2" 2>&1 | tee "$log" \
    | grep --line-buffered -oE "\[DAG TEST\] end task task_id=[a-z_]+ map_index=-?[0-9]+|$1 summary: .*|DagRun Finished: .*state=[a-z]+" \
    | sed -u -E 's/, run_start_date.*(state=[a-z]+).*/ \1/; s/(summary: .{0,400}).*/\1/'
  local status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || { echo "$1 failed: see $log" >&2; exit "$status"; }
}

start=$(date +%s)
conf='{"model": "DEMO", "sites": ["WLG", "CHC", "AKL"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "leaves": ["all"]}'
run_dag hazard_realizations "$conf"
run_dag hazard_aggregation "$conf"

echo "== disaggregations at Wellington, 10 % in 50 years, levels read off the aggregated mean curves"
python -m hazflow disagg --model DEMO --sites WLG --vs30s 400 --imts PGA "SA(0.5)" --poes 0.1
run_dag disagg_aggregation '{"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "poes": [0.1], "leaves": ["all"]}'
echo "== the chain took $(( $(date +%s) - start )) s"

echo "== the ledger"
python -m hazflow ledger --model DEMO --kind hazard
python -m hazflow ledger --model DEMO --kind disagg | tail -1
echo "== what the store holds for Wellington"
python -m hazflow show WLG --model DEMO
python -m hazflow plan-hazard --model DEMO --sites WLG CHC AKL --vs30s 400 --imts PGA "SA(0.5)" --check > /dev/null
echo "== plots: hazard curves (mean, 10-90 % band, 10 % and 2 % in 50 years marked) and disaggregations"
python -m hazflow reports
echo "== done: store at $HAZFLOW_STORE_ROOT (hazflow.sqlite, artifacts/<job key>/calc.hdf5 + oq.log, reports/)"
