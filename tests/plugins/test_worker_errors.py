"""The class of an error inside the worker (its own process, as on ECS) reaches the retry policy
every task has (`hazflow_airflow.policies`): what fails at once, what is retried."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest

from hazflow.run.worker import BatchSpec, read_manifest, run_batch_spec, stage_batch
from tests.run.test_worker import passes


def test_a_job_whose_inputs_changed_since_planning_fails_the_batch_as_data_integrity_across_the_process(two_jobs, config):
    """The worker (its own process, as on ECS) recomputes what OpenQuake would read; a spec planned on
    other inputs is refused before OpenQuake starts, and the class reaches the retry policy: fail now."""
    from hazflow.exceptions import DataIntegrityError
    from hazflow_airflow.policies import RETRY_POLICY

    stale = replace(two_jobs[0], inputs="0" * 16)  # as if planned before a source file was edited
    uri = stage_batch(BatchSpec("plan-stale", 0, "label", passes(stale)), config)
    env = os.environ | {"HAZFLOW_STORE_ROOT": str(config.store_root), "HAZFLOW_WORK_DIR": str(config.work_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "hazflow.run.worker", "run-batch", uri], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    manifest = read_manifest(uri, config)
    assert [(f.label, f.error_class) for f in manifest.failures] == [(stale.label, "DataIntegrityError")]
    error = manifest.error()
    assert isinstance(error, DataIntegrityError) and "changed since the job was planned" in str(error)
    assert RETRY_POLICY.evaluate(error, try_number=1, max_tries=4).action.value == "fail"
    assert config.open_store().ledger_get(stale.key).state == "failed"


@pytest.mark.parametrize(
    "raised, fails_as, action",
    [
        ("TransientError", "TransientError", "retry"),
        ("DataIntegrityError", "DataIntegrityError", "fail"),
        ("StorageError", "StorageError", "fail"),
        ("OpenQuakeError", "OpenQuakeError", "default"),
    ],
)
def test_the_class_of_an_error_inside_the_worker_reaches_the_retry_policy(
    two_jobs, config, monkeypatch, raised, fails_as, action
):
    """An error raised while a batch runs (here by a stand-in for the passes of one process) is kept
    by class in the manifest; the runner raises that class for the batch."""
    import hazflow.exceptions as exceptions
    import hazflow.run.batch as batch
    from hazflow.run.worker import finish_batch
    from hazflow_airflow.policies import RETRY_POLICY

    def fail(*args, **kwargs):
        raise getattr(exceptions, raised)("the store answered 503" if raised != "OpenQuakeError" else "exit 1")

    monkeypatch.setattr(batch, "run_passes", fail)
    uri = stage_batch(BatchSpec("plan-class", 0, "label", passes(*two_jobs)), config)
    run_batch_spec(uri, config)  # writes the manifest, raises nothing
    manifest = read_manifest(uri, config)
    assert {f.error_class for f in manifest.failures} == {raised}
    with pytest.raises(getattr(exceptions, fails_as)) as info:
        finish_batch(None, uri, manifest)  # type: ignore[arg-type]  # the ref is only read on success
    assert type(info.value).__name__ == fails_as and "2 of 2 OpenQuake runs failed" in str(info.value)
    assert RETRY_POLICY.evaluate(info.value, try_number=1, max_tries=4).action.value == action
