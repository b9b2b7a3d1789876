"""Task bodies: turn Params and XComs into domain calls; return small JSON values."""

from __future__ import annotations

from typing import Any


def _config():
    from hazflow.config import Config

    return Config.from_env()


def plan_hazard(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate the request and return the job specs still to do (as dicts), in leaf x VS30 order."""
    from hazflow.openquake.runner import engine_version
    from hazflow.request import HazardRequest

    config = _config()
    request = HazardRequest.parse(params["model"], params["sites"], params["vs30s"], params["imts"], params["leaves"])
    return [spec.to_dict() for spec in request.jobs(engine_version(config.oq_python))]


def run_spec(spec: dict[str, Any], force: bool) -> dict[str, Any]:
    from hazflow.jobs import JobSpec
    from hazflow.realizations import run_job

    config = _config()
    return run_job(JobSpec.from_dict(spec), config.open_store(), config, force=force).to_dict()


def ingest_outcome(outcome: dict[str, Any], force: bool) -> dict[str, Any]:
    from hazflow.jobs import JobSpec
    from hazflow.realizations import ingest_job

    store = _config().open_store()
    entry = store.ledger_get(outcome["job_key"])
    if entry is None:
        from hazflow.exceptions import DataIntegrityError

        raise DataIntegrityError(f"job {outcome['job_key']} is not in the ledger")
    import json

    result = ingest_job(JobSpec.from_dict(json.loads(entry.spec)), store, force=force).to_dict()
    result["openquake_ran"] = not outcome["skipped"]  # did this run start OpenQuake for the job?
    return result


def summarise(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by state; OpenQuake jobs run by this DAG run (not reused), their seconds and HDF5 bytes."""
    from collections import Counter

    states = Counter(o["state"] for o in outcomes)
    ran = [o for o in outcomes if o["openquake_ran"]]
    return {
        "jobs": len(outcomes),
        "states": dict(sorted(states.items())),
        "openquake_runs": len(ran),
        "reused": len(outcomes) - len(ran),
        "oq_seconds": round(sum(o["oq_seconds"] for o in ran), 1),
        "hdf5_bytes": sum(o["hdf5_bytes"] for o in ran),
        "rows_ingested": sum(o["rows"] for o in outcomes if not o["skipped"]),
    }
