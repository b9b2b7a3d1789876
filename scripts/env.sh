# Source this to use the project's Airflow and tools by hand:  source scripts/env.sh
# (The Makefile sets the same variables for `make demo` and `make test`.)
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AIRFLOW_HOME="$_root/var/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$_root/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$_root/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$_root/var/airflow/logs"
export HAZFLOW_STORE_ROOT="${HAZFLOW_STORE_ROOT:-$_root/var/store}"
export HAZFLOW_OQ_PYTHON="$_root/.venv-oq/bin/python"
export NUMBA_CACHE_DIR="$_root/.cache/numba"
export PATH="$_root/.venv/bin:$PATH"
unset _root
