"""What an `airflow dags test` run imports, imported once by the test worker's warm Airflow process
(`tests.support.warm_airflow`) before it forks the runs: the CLI, the task SDK and its in-process
execution API, hazflow's DAGs, plugin and steps. Parsing the DAG folder once imports what the DAG
files import; each run still parses and serializes the DAGs itself, as `airflow dags test` does."""

from __future__ import annotations

import importlib
import os

MODULES = (
    "airflow.__main__",
    "airflow.cli.cli_parser",
    "airflow.cli.commands.dag_command",
    "airflow.dag_processing.dagbag",
    "airflow.serialization.serialized_objects",
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.sdk.execution_time.comms",
    "airflow.sdk.api.client",
    "airflow.api_fastapi.execution_api.app",
    "airflow.models.dagrun",
    "airflow.models.taskinstance",
    "airflow.utils.db",
    "airflow.providers.standard.operators.python",
    "airflow.providers.standard.operators.trigger_dagrun",
    "hazflow_airflow.chain",
    "hazflow_airflow.ecs",
    "hazflow_airflow.labels",
    "hazflow_airflow.params",
    "hazflow_airflow.policies",
    "hazflow.steps.area_extract",
    "hazflow.steps.coverage_backfill",
    "hazflow.steps.disagg_aggregation",
    "hazflow.steps.disagg_realizations",
    "hazflow.steps.hazard_aggregation",
    "hazflow.steps.hazard_realizations",
    "hazflow.store.aws",
    "hazflow.model.nshm",
    "hazflow.openquake.runner",
    "boto3",
    "h5py",
    "nzshm_model",
)

for _module in MODULES:
    importlib.import_module(_module)

from airflow.dag_processing.dagbag import DagBag  # noqa: E402 - after the CLI, as the CLI imports it

DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
