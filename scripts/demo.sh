#!/usr/bin/env bash
# The demo: DEMO hazard realizations for WLG, CHC and AKL through the real Airflow DAG
# (`airflow dags test`, SQLite, no scheduler needed), then the ledger and what the store holds.
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

echo "== the ledger"
python -m hazflow ledger --model DEMO
echo "== what the store holds for Wellington"
python -m hazflow show WLG --model DEMO
python -m hazflow plan-hazard --model DEMO --sites WLG CHC AKL --vs30s 400 --imts PGA "SA(0.5)" --check > /dev/null
echo "== plots (mean hazard curve, 10-90 % band, 10 % and 2 % in 50 years marked)"
python -m hazflow reports hazard/DEMO
echo "== done: store at $HAZFLOW_STORE_ROOT (hazflow.sqlite, artifacts/<job key>/calc.hdf5 + oq.log, reports/)"
