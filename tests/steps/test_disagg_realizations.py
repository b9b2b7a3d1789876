"""The steps of disagg_realizations that decide where a batch runs and what an ended ECS task means
(the planning and running steps are exercised through the DAG: tests/dags/)."""

from __future__ import annotations

import pytest

from hazflow.config import Config
from hazflow.exceptions import DataIntegrityError, OpenQuakeError, TransientError
from hazflow.steps import deployment
from hazflow.steps.disagg_realizations import collect_from_ecs, first_task

BATCH = {"plan_id": "p", "batch": 3, "label": "WLG vs30=400 PGA 10%/50yr CRU-1", "runs": 1, "passes": 1}


@pytest.mark.parametrize(("runner", "task"), [("local", "local.run"), ("ecs", "ecs.stage")])
def test_the_branch_follows_the_runner_param(runner, task):
    assert first_task(runner) == task


def test_an_ecs_task_that_recorded_no_failure_is_an_openquake_error_naming_its_batch():
    with pytest.raises(OpenQuakeError, match="batch WLG vs30=400 PGA 10%/50yr CRU-1 did not succeed"):
        collect_from_ecs(BATCH, None, None, Config())


@pytest.mark.parametrize(
    ("error_class", "raised"),
    [("TransientError", TransientError), ("DataIntegrityError", DataIntegrityError), ("SomethingElse", DataIntegrityError)],
)
def test_a_recorded_failure_is_raised_by_its_class(error_class, raised):
    failure = {"error_class": error_class, "message": "the store answered 503"}
    with pytest.raises(raised) as info:
        collect_from_ecs(BATCH, None, failure, Config())
    assert type(info.value) is raised and "503" in str(info.value)


def test_a_step_reads_the_deployment_unless_given_a_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "store"))
    assert deployment(None).store_root == tmp_path / "store"
    given = Config(store_root=tmp_path / "other")
    assert deployment(given) is given
