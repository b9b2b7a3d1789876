#!/usr/bin/env bash
# What a demo leaves, read back: the ledger, each disaggregation target's summary (from the
# disagg_aggregation summary JSON given as $1), what the store holds for Wellington, the plots.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
echo "== the ledger"
python -m hazflow ledger --model DEMO --kind hazard
python -m hazflow ledger --model DEMO --kind disagg | tail -1
echo "== disaggregation summaries (closure: disaggregated / target annual PoE; modal bin; how the quantiles were computed;"
echo "   mean and modal M-R-eps; fault systems' shares of the mean rate and over the composite branches)"
python - "$1" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
for label, closure in summary["closure"].items():
    print(f"{label:30s} closure {closure:.4f}   modal bin: {summary['modal'][label]}   quantiles: {summary['method'][label]}")
    print("    " + summary["summary"][label].replace("\n", "\n    "))
exports = summary.get("exports") or {}
if exports:
    print(f"exports under {exports['folder']}: {exports['json']} JSON, {exports['csv']} CSV (OpenQuake layout), "
          f"{exports['parquet']} parquet files (toshi-hazard-store datasets)")
EOF
echo "== what the store holds for Wellington"
python -m hazflow show WLG --model DEMO
# the hazard request's IMTs (demo.sh: the spectrum demo_chain.py ran; the dags-test and aws demos: PGA, SA(0.5))
read -ra imts <<< "${DEMO_HAZARD_IMTS:-PGA SA(0.5)}"
python -m hazflow plan-hazard --model DEMO --sites WLG CHC AKL --vs30s 400 --imts "${imts[@]}" --check > /dev/null
echo "== plots: hazard curves (mean, 10-90 % band, 10 % and 2 % in 50 years marked) and disaggregations"
echo "   (per target: M-R heat map with epsilon, M-R-eps bars, contributions by fault system and leaf)"
python -m hazflow reports disagg/ | grep -v summary.json
python -m hazflow reports hazard/
if [ "${HAZFLOW_STORE_BACKEND:-local}" = aws ]; then
  echo "== done: records in DynamoDB tables ${HAZFLOW_AWS_STAGE:-dev}-hazflow-*, files under $HAZFLOW_STORE_ROOT (artifacts/<job key>/, reports/, plans/)"
else
  echo "== done: store at $HAZFLOW_STORE_ROOT (hazflow.sqlite, artifacts/<job key>/calc.hdf5 + oq.log, reports/)"
fi
