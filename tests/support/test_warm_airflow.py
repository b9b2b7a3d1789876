"""The test workers' warm Airflow process: a forked `airflow` run answers as a cold one does."""

from __future__ import annotations

import os

import pytest

from tests.support.warm_airflow import _cold, run_airflow

pytestmark = pytest.mark.airflow


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "get-value", "core", "load_examples"],
        ["dags", "test", "no_such_dag"],  # fails: the exit code and the message come through
    ],
)
def test_a_warm_run_answers_as_a_cold_one(argv):
    env = dict(os.environ)
    warm_code, warm_output = run_airflow(argv, env, timeout_s=120)
    cold_code, cold_output = _cold(argv, env, timeout_s=120)
    assert warm_code == cold_code
    assert warm_output.strip().splitlines()[-1] == cold_output.strip().splitlines()[-1]


def test_a_run_with_airflow_settings_of_its_own_forks_a_warm_process_of_its_own_and_reads_them():
    """Airflow reads its configuration at import: a run whose AIRFLOW_* settings differ from the
    worker's forks another warm process, started with those settings; the worker's is not it."""
    from tests.support.warm_airflow import _server

    env = {**os.environ, "AIRFLOW__HAZFLOW_PROBE__VALUE": "x"}
    code, output = run_airflow(["config", "get-value", "hazflow_probe", "value"], env, timeout_s=120)
    assert code == 0 and output.strip().splitlines()[-1] == "x"
    own, workers = _server(env), _server(dict(os.environ))
    assert own is not workers and own.process is not None and own.process.poll() is None
    assert _server(env) is own  # started once, for every run of those settings
    code, output = run_airflow(["config", "get-value", "hazflow_probe", "value"], dict(os.environ), timeout_s=120)
    assert code == 0 and "[hazflow_probe/value] not found in config" in output  # the worker's settings have no such option
