"""The worker entrypoint: batch specs and manifests, a real DEMO batch locally, and the container's
part against moto's S3 and DynamoDB (the same command an ECS task runs), ingested afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hazflow.config import PROJECT_ROOT, Config
from hazflow.exceptions import BadRequest, StorageError
from hazflow.ingest.realizations import ingest_batch
from hazflow.openquake.engines import SITES_PER_PASS
from hazflow.openquake.spec import DisaggPass, JobSpec
from hazflow.plan.jobs import respec
from hazflow.plan.passes import group_into_passes
from hazflow.remote.clients import aws_client
from hazflow.run.worker import (
    BatchSpec,
    Manifest,
    ecs_task_arn,
    main,
    manifest_uri,
    read_manifest,
    run_batch_spec,
    spec_uri,
    stage_batch,
)


def test_a_batch_spec_round_trips_and_lives_under_the_store_root(two_jobs, tmp_path):
    spec = BatchSpec("plan123", 3, "WLG vs30=400 PGA 10%/50yr SLAB-1 (+1 more)", passes(*two_jobs), force=True)
    assert BatchSpec.from_json(spec.to_json(), "x.json") == spec
    assert spec_uri("s3://bucket/prefix", "plan123", 3) == "s3://bucket/prefix/batches/plan123/0003.json"
    assert manifest_uri("s3://b/p/batches/plan123/0003.json") == "s3://b/p/batches/plan123/0003.result.json"
    config = Config(store_root=tmp_path / "store", work_dir=tmp_path / "work")
    uri = stage_batch(spec, config)
    assert uri == str(tmp_path / "store" / "batches" / "plan123" / "0003.json")
    assert stage_batch(spec, config) == uri and list((tmp_path / "store" / "batches" / "plan123").iterdir()) == [tmp_path / uri]


def passes(*jobs: JobSpec) -> tuple[DisaggPass, ...]:
    """The passes the planner would make of `jobs` (one per leaf here)."""
    return tuple(group_into_passes(jobs, SITES_PER_PASS))


def _tamper(document: dict) -> dict:
    document["passes"][0]["jobs"][0]["spec"]["imls"] = [0.5]  # not the planned level any more
    return document


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: "not json{", "bad.json"),
        (lambda d: d | {"format": "something/2"}, "bad.json: format"),
        (lambda d: {k: v for k, v in d.items() if k != "plan_id"}, "bad.json: plan_id"),
        (lambda d: d | {"passes": [{"jobs": [{"key": "abc", "spec": {"kind": "disagg"}}]}]}, r"bad.json: passes\[0\].jobs\[0\]"),
        (lambda d: d | {"passes": [{"key": "abc"}]}, r"bad.json: passes\[0\]"),
        (_tamper, r"bad.json: passes\[0\].jobs\[0\].key"),
    ],
    ids=["not-json", "format", "missing-field", "not-a-job-spec", "not-a-pass", "tampered-spec"],
)
def test_a_bad_spec_is_refused_naming_file_and_field_and_writes_nothing(two_jobs, tmp_path, change, field):
    good = json.loads(BatchSpec("p", 0, "label", passes(*two_jobs)).to_json())
    changed = change(good)
    path = tmp_path / "batches" / "p" / "bad.json"
    path.parent.mkdir(parents=True)
    path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    config = Config(store_root=tmp_path / "store", work_dir=tmp_path / "work")
    with pytest.raises(BadRequest, match=field):
        run_batch_spec(str(path), config)
    assert sorted(p.name for p in path.parent.iterdir()) == ["bad.json"]  # no manifest
    assert not (tmp_path / "store").exists()  # no store opened, nothing run


@pytest.mark.openquake
def test_a_demo_batch_runs_locally_writes_its_manifest_and_a_rerun_runs_nothing(two_jobs, config, monkeypatch):
    uri = stage_batch(BatchSpec("plan-local", 0, "WLG (+1 more)", passes(*two_jobs)), config)
    for name, value in {"HAZFLOW_STORE_ROOT": str(config.store_root), "HAZFLOW_WORK_DIR": str(config.work_dir)}.items():
        monkeypatch.setenv(name, value)
    assert main(["run-batch", uri]) == 0
    manifest = read_manifest(uri, config)
    assert manifest.ok and manifest.ran == {two_jobs[0].key: True, two_jobs[1].key: True}  # 2 ran, 0 already done, 0 failed
    assert {o["state"] for o in manifest.outcomes} == {"ran"} and manifest.seconds > 0
    store = config.open_store()
    assert {store.ledger_get(j.key).state for j in two_jobs} == {"ran"}

    again = run_batch_spec(uri, config)  # a retried task, or the same spec run twice
    assert again.ran == {two_jobs[0].key: False, two_jobs[1].key: False}
    assert read_manifest(uri, config) == again


@pytest.mark.openquake
def test_a_failed_job_is_in_the_manifest_and_the_exit_status(two_jobs, config, demo, monkeypatch):
    bad = respec(
        two_jobs[1], demo, settings=two_jobs[1].settings.with_overrides(rupture_mesh_spacing=0.0)
    )  # OpenQuake refuses it
    uri = stage_batch(BatchSpec("plan-fail", 0, "label", passes(two_jobs[0], bad)), config)
    for name, value in {"HAZFLOW_STORE_ROOT": str(config.store_root), "HAZFLOW_WORK_DIR": str(config.work_dir)}.items():
        monkeypatch.setenv(name, value)
    assert main(["run-batch", uri]) == 1
    manifest = read_manifest(uri, config)
    assert "1 of 2 OpenQuake runs failed (WLG vs30=400 PGA 10%/50yr HIK-1 [OpenQuakeError])" in str(manifest.error())
    assert [f.label for f in manifest.failures] == [bad.label] and manifest.failures[0].log_tail
    assert manifest.ran == {two_jobs[0].key: True}


def test_a_missing_spec_or_manifest_is_a_storage_error_naming_it(tmp_path):
    config = Config(store_root=tmp_path, work_dir=tmp_path / "work")
    with pytest.raises(StorageError, match="nothing.json not found"):
        run_batch_spec(str(tmp_path / "nothing.json"), config)
    with pytest.raises(StorageError, match="nothing.result.json not found"):
        read_manifest(str(tmp_path / "nothing.json"), config)


@pytest.mark.openquake
def test_the_container_command_runs_a_demo_batch_against_moto_and_its_results_ingest(
    two_jobs, moto_endpoint, tmp_path, fake_credentials
):
    """What an ECS task does, run here: `python -m hazflow.run.worker run-batch s3://...` with the store
    settings in its environment; then the Airflow side ingests from the same (aws) store."""
    from hazflow.run.ecs import EcsSettings, worker_environment

    bucket = "worker-test"
    airflow_side = Config(
        store_backend="aws",
        store_root=f"s3://{bucket}/hazflow",
        work_dir=tmp_path / "airflow",
        aws_stage="worker",
        aws_endpoint=moto_endpoint,
    )
    aws_client("s3", moto_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
    )
    uri = stage_batch(BatchSpec("plan-ecs", 0, "WLG (+1 more)", passes(*two_jobs)), airflow_side)
    assert uri == f"s3://{bucket}/hazflow/batches/plan-ecs/0000.json"

    container_env = {**os.environ, **worker_environment(airflow_side, EcsSettings(oq_parallel=2))}
    container_env["HAZFLOW_WORK_DIR"] = str(tmp_path / "container")  # its own disk: nothing shared but AWS
    done = subprocess.run(
        [sys.executable, "-m", "hazflow.run.worker", "run-batch", uri], env=container_env, capture_output=True, text=True, timeout=600,
        cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    manifest = read_manifest(uri, airflow_side)
    assert isinstance(manifest, Manifest) and manifest.ok and list(manifest.ran.values()) == [True, True]
    store = airflow_side.open_store()
    for p in passes(*two_jobs):  # each job's artifacts are its pass's, under the pass's key
        for job in p.jobs:
            entry = store.ledger_get(job.key)
            assert (entry.artifact_key, entry.artifacts) == (p.key, f"s3://{bucket}/hazflow/artifacts/{p.key}")
    ingested = ingest_batch(two_jobs, store)
    assert {o.state for o in ingested} <= {"done", "no_ruptures"} and sum(o.rows for o in ingested) > 0
    rows = store.get_disagg_realizations("DEMO", "-41.300~174.780", 400, "PGA", 0.1)
    assert {r.leaf for r in rows} == {"SLAB-1", "HIK-1"}
    assert len(rows) == sum(o.rows for o in ingested)


def test_the_manifest_names_the_ecs_task_from_the_container_metadata_endpoint():
    from tests.support.ecs_agent import TaskMetadata

    metadata = TaskMetadata()
    try:
        arn = "arn:aws:ecs:ap-southeast-2:123456789012:task/hazflow/0123abcd"
        assert ecs_task_arn({"ECS_CONTAINER_METADATA_URI_V4": metadata.uri(arn)}) == arn
        assert ecs_task_arn({}) == ""  # not on ECS
        unknown = metadata.uri(arn).rsplit("/", 1)[0] + "/no-such-task"
        assert ecs_task_arn({"ECS_CONTAINER_METADATA_URI_V4": unknown}) == ""  # the endpoint does not answer: logged, not fatal
    finally:
        metadata.server.shutdown()


def test_a_worker_that_fails_as_a_whole_records_the_class_in_its_manifest(tmp_path, monkeypatch):
    """An unreadable spec fails the worker before any job; the manifest still carries the class, so
    the Airflow side raises BadRequest (fail now), not a generic error the policy would retry."""
    path = tmp_path / "batches" / "p" / "0000.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "something else"}')
    for name, value in {"HAZFLOW_STORE_ROOT": str(tmp_path / "store"), "HAZFLOW_WORK_DIR": str(tmp_path / "work")}.items():
        monkeypatch.setenv(name, value)
    assert main(["run-batch", str(path)]) == 2
    manifest = read_manifest(str(path), Config.from_env())
    assert [f.error_class for f in manifest.failures] == ["BadRequest"] and manifest.batch == -1
    with pytest.raises(BadRequest, match="0000.json: format"):
        raise manifest.error()


def test_a_batch_with_a_transient_and_a_data_integrity_failure_fails_at_once():
    from hazflow.exceptions import DataIntegrityError
    from hazflow.run.batch import Failure, batch_failure

    failures = [
        Failure("k1", "WLG ... CRU-1", "database busy", "", "TransientError"),
        Failure("k2", "WLG ... HIK-1", "not a datastore", "", "DataIntegrityError"),
    ]
    error = batch_failure(failures, 5)
    assert isinstance(error, DataIntegrityError)
    assert str(error).startswith(
        "2 of 5 OpenQuake runs failed (WLG ... CRU-1 [TransientError], WLG ... HIK-1 [DataIntegrityError])"
    )
    assert "first DataIntegrityError: WLG ... HIK-1: not a datastore" in str(error)
    assert [Failure.from_dict(f.to_dict()) for f in failures] == failures


def test_a_manifest_failure_of_an_unknown_class_fails_the_batch_as_data_integrity():
    """A manifest written by another hazflow (or edited) cannot make a failure pass as retryable."""
    from hazflow.exceptions import DataIntegrityError
    from hazflow.run.batch import Failure, batch_failure

    failures = [Failure("k1", "CRU-1", "busy", "", "TransientError"), Failure("k2", "HIK-1", "?", "", "SomeNewError")]
    error = batch_failure([Failure.from_dict(f.to_dict()) for f in failures], 2)
    assert isinstance(error, DataIntegrityError) and "unknown error class 'SomeNewError'" in str(error)
    assert "CRU-1 [TransientError], HIK-1 [SomeNewError]" in str(error)  # every failure still listed
