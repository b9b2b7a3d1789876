#!/usr/bin/env bash
# The demo, through the real Airflow DAGs (`airflow dags test`, SQLite, no scheduler needed):
# DEMO hazard realizations for WLG, CHC and AKL; their aggregation over the logic tree (with
# plots); disaggregations at Wellington planned from the aggregated curves; their aggregation
# with closure check and plots; then the ledger and what the store holds.
# Run it through `make demo`, which sets up the venvs first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
mkdir -p "$root/var/logs"
log="$root/var/logs/demo-hazard_realizations-$(date -u +%Y%m%dT%H%M%SZ).log"
conf='{"model": "DEMO", "sites": ["WLG", "CHC", "AKL"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "leaves": ["all"]}'

echo "== hazard_realizations (airflow dags test); full log: $log"
start=$(date +%s)
set +e
airflow dags test hazard_realizations -c "$conf" 2>&1 | tee "$log" \
  | grep --line-buffered -oE '\[DAG TEST\] end task task_id=[a-z_]+ map_index=-?[0-9]+|hazard_realizations summary: .*|DagRun Finished: .*state=[a-z]+' \
  | sed -u -E 's/, run_start_date.*(state=[a-z]+).*/ \1/'
set -e
echo "== took $(( $(date +%s) - start )) s"

log2="$root/var/logs/demo-hazard_aggregation-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "== hazard_aggregation (airflow dags test); full log: $log2"
set +e
airflow dags test hazard_aggregation -c "$conf" 2>&1 | tee "$log2" \
  | grep --line-buffered -oE '\[DAG TEST\] end task task_id=[a-z_]+ map_index=-?[0-9]+|hazard_aggregation summary: .{0,120}|DagRun Finished: .*state=[a-z]+' \
  | sed -u -E 's/, run_start_date.*(state=[a-z]+).*/ \1/'
set -e

echo "== disaggregations at Wellington, 10 % in 50 years, levels read off the aggregated mean curves"
python -m hazflow disagg --model DEMO --sites WLG --vs30s 400 --imts PGA "SA(0.5)" --poes 0.1

dconf='{"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "poes": [0.1], "leaves": ["all"]}'
log3="$root/var/logs/demo-disagg_aggregation-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "== disagg_aggregation (airflow dags test); full log: $log3"
set +e
airflow dags test disagg_aggregation -c "$dconf" 2>&1 | tee "$log3" \
  | grep --line-buffered -oE '\[DAG TEST\] end task task_id=[a-z_]+ map_index=-?[0-9]+|disagg_aggregation summary: .*|DagRun Finished: .*state=[a-z]+' \
  | sed -u -E 's/, run_start_date.*(state=[a-z]+).*/ \1/'
set -e

echo "== the ledger"
python -m hazflow ledger --model DEMO --kind hazard
python -m hazflow ledger --model DEMO --kind disagg | tail -1
echo "== what the store holds for Wellington"
python -m hazflow show WLG --model DEMO
python -m hazflow plan-hazard --model DEMO --sites WLG CHC AKL --vs30s 400 --imts PGA "SA(0.5)" --check > /dev/null
echo "== plots: hazard curves (mean, 10-90 % band, 10 % and 2 % in 50 years marked) and disaggregations"
python -m hazflow reports
echo "== done: store at $HAZFLOW_STORE_ROOT (hazflow.sqlite, artifacts/<job key>/calc.hdf5 + oq.log, reports/)"
