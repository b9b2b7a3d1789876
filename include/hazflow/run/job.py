"""Run one job spec with OpenQuake: render its inputs, run the engine, keep its artifacts, and
record it in the ledger as `ran` (or `failed`, with the log tail).

Ingest (`hazflow.ingest.realizations`) is a separate step: in production OpenQuake runs on M5 nodes
and ingest on cheap workers. Both are idempotent: a job whose key the ledger knows as run is skipped
unless forced, so reruns never repeat an OpenQuake job that is already done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hazflow.config import Config
from hazflow.exceptions import HazflowError, boundary_class
from hazflow.model.logic_tree import load_model
from hazflow.openquake.prepare import render_job
from hazflow.openquake.runner import run_job as run_openquake
from hazflow.openquake.spec import JobSpec
from hazflow.run.lease import held
from hazflow.run.work_folders import work_folder
from hazflow.store import LedgerEntry, Store
from hazflow.store.leases import Lease
from hazflow.store.records import RAN_STATES, LedgerState

HDF5_NAME = "calc.hdf5"  # a hazard job's datastore
LOG_NAME = "oq.log"
INPUT_NAMES = ("job.ini", "source_model_logic_tree.xml", "gsim_logic_tree.xml", "site_model.csv")


def datastore_name(spec: JobSpec) -> str:
    """The artifact name of a job's datastore: `calc.hdf5` (hazard), `calc-<site code>.hdf5`
    (disaggregation: one per site, also where a pass computed several sites)."""
    return HDF5_NAME if spec.kind == "hazard" else f"calc-{spec.sites[0].code}.hdf5"


@dataclass(frozen=True)
class Outcome:
    """What a step did to one job: small enough for an XCom."""

    job_key: str
    label: str
    state: str
    skipped: bool
    oq_seconds: float = 0.0
    hdf5_bytes: int = 0
    rows: int = 0
    pass_key: str = ""  # the OpenQuake process that computed it (its pass; its own key when alone)

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))

    @classmethod
    def of(cls, spec: JobSpec, entry: LedgerEntry, skipped: bool) -> Outcome:
        """What the ledger says of a job."""
        where = entry.artifact_key or entry.job_key
        return cls(spec.key, spec.label, entry.state, skipped, entry.oq_seconds, entry.hdf5_bytes, entry.rows, where)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_entry(spec: JobSpec, state: LedgerState, **kw: Any) -> LedgerEntry:
    """A ledger entry for `spec` in `state`, with its provenance; `kw` sets timings, sizes, errors."""
    return LedgerEntry(
        job_key=spec.key,
        kind=spec.kind,
        model=spec.model,
        leaf=spec.leaf,
        vs30=spec.vs30,
        sites=tuple(s.code for s in spec.sites),
        imts=spec.imts,
        poe=spec.poe,
        state=state,
        oq_version=spec.oq_version,
        settings_digest=spec.settings.digest(),
        engine=spec.engine,
        spec=spec.to_json(),
        **kw,
    )


def failure(error: HazflowError, context: str = "") -> dict[str, str]:
    """The fields of a failed entry: `error` (all it says, `context` first: OpenQuake's message and
    its log's tail, where the cause usually is), `error_class` (what the retry policy and the campaign
    view see) and OpenQuake's `log_tail` on its own, when it has one."""
    tail = getattr(error, "log_tail", "") or ""
    return {"error": f"{context}{error}"[-4000:], "error_class": boundary_class(error), "log_tail": tail[-8000:]}


def run_job(spec: JobSpec, store: Store, config: Config, force: bool = False) -> Outcome:
    """Run OpenQuake for `spec` unless the ledger says it has run; keep its artifacts; record `ran`.
    The job's lease is held while it runs (`hazflow.run.lease`): `LeaseHeld` if another live copy
    runs it, and its entries are written fenced by the lease."""
    existing = store.ledger_get(spec.key)
    if existing and existing.state in RAN_STATES and not force:
        return Outcome.of(spec, existing, skipped=True)
    with held(store, [spec.key], config.lease_ttl_s) as (beat, refused):
        if spec.key in refused:
            raise refused[spec.key]
        existing = store.ledger_get(spec.key)  # another copy may have finished it before the lease was ours
        if existing and existing.state in RAN_STATES and not force:
            return Outcome.of(spec, existing, skipped=True)
        return _run_leased(spec, existing, store, config, beat.fence(spec.key))


def _run_leased(spec: JobSpec, existing: LedgerEntry | None, store: Store, config: Config, fence: Lease) -> Outcome:
    model = load_model(spec.model)
    attempts = (existing.attempts if existing else 0) + 1
    started = now()
    with work_folder(config.work_dir, spec.key) as jobdir:
        try:
            job_ini = render_job(spec, model, jobdir)
            result = run_openquake(job_ini, config.openquake())
        except HazflowError as e:
            failed = new_entry(spec, "failed", attempts=attempts, started_at=started, finished_at=now(), **failure(e))
            store.ledger_record(failed, fence=fence)
            raise
        files = {name: jobdir / name for name in INPUT_NAMES}
        files[LOG_NAME] = result.log
        hdf5_bytes = 0
        if result.hdf5 is not None:
            files[datastore_name(spec)] = result.hdf5
            hdf5_bytes = result.hdf5.stat().st_size
        where = store.put_artifacts(spec.key, files)
    entry = new_entry(
        spec,
        "ran",
        empty=result.state == "no_ruptures",
        attempts=attempts,
        started_at=started,
        finished_at=now(),
        oq_seconds=round(result.seconds, 3),
        cpu_seconds=round(result.usage.cpu_seconds, 3),
        max_rss_mb=round(result.usage.max_rss_mb, 1),
        pass_jobs=1,
        hdf5_bytes=hdf5_bytes,
        artifacts=where,
    )
    store.ledger_record(entry, fence=fence)
    return Outcome.of(spec, entry, skipped=False)
