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


def test_a_run_with_airflow_settings_of_its_own_runs_cold_and_reads_them():
    """Airflow reads its configuration at import: a run whose AIRFLOW_* settings differ from the
    worker's cannot be a fork of the warm process."""
    env = {**os.environ, "AIRFLOW__HAZFLOW_PROBE__VALUE": "x"}
    code, output = run_airflow(["config", "get-value", "hazflow_probe", "value"], env, timeout_s=120)
    assert code == 0 and output.strip().splitlines()[-1] == "x"
