#!/usr/bin/env bash
# The demo under a real scheduler (`make demo`): `make airflow`'s stack (PostgreSQL, api-server,
# scheduler, dag-processor, triggerer; LocalExecutor), then the DEMO chain triggered and followed
# through the REST API (scripts/demo_chain.py): hazard_realizations -> the hazard_aggregation it
# starts; disagg_realizations at 10 % and 2 % in 50 years -> the disagg_aggregation it starts. Then
# the same read-back as ever (scripts/demo_report.sh) and the UI link. The stack is stopped at the
# end unless KEEP=1. Run it through `make demo`, which sets up the venvs first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
mkdir -p "$root/var/logs"
# two OpenQuake batches side by side on this machine, one process each (the pool gets one slot per core)
export HAZFLOW_OQ_PARALLEL="${HAZFLOW_OQ_PARALLEL:-1}"
start=$(date +%s)
python "$root/scripts/airflow_stack.py" start
if [ "${KEEP:-0}" != 1 ]; then
  trap 'echo "== stopping the stack (KEEP=1 keeps it)"; python "$root/scripts/airflow_stack.py" stop' EXIT
fi
eval "$(python "$root/scripts/airflow_stack.py" env)"  # the airflow CLI and hazflow_tools.runs read this stack
python "$root/scripts/demo_chain.py" --summary "$root/var/logs/disagg_aggregation-summary.json"
DEMO_HAZARD_IMTS="$(cd "$root/scripts" && python -c 'import demo_chain; print(" ".join(demo_chain.SPECTRUM))')" \
  bash "$root/scripts/demo_report.sh" "$root/var/logs/disagg_aggregation-summary.json"
echo "== the demo took $(( $(date +%s) - start )) s, starting the stack included"
echo "== the runs, their tasks and logs: http://127.0.0.1:${HAZFLOW_AIRFLOW_PORT:-8080}/dags (login in var/airflow/simple_auth_manager_passwords.json.generated)"
