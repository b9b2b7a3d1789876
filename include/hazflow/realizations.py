"""Produce realizations: run a job spec with OpenQuake, keep its artifacts, ingest into the store.

`run_job` and `ingest_job` are separate steps (in production OpenQuake runs on M5 nodes and ingest
on cheap workers). Both are idempotent: a job whose key the ledger knows as run (or ingested) is
skipped unless forced, so reruns never repeat an OpenQuake job that is already done.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hazflow.config import Config
from hazflow.exceptions import DataIntegrityError, HazflowError
from hazflow.jobs import JobSpec
from hazflow.model import HazardModel, gmm_identity, load_model
from hazflow.openquake.datastore import Disaggregation, HazardCurves, read_disaggregation, read_hazard_curves
from hazflow.openquake.render import render_job
from hazflow.openquake.runner import run_job as run_openquake
from hazflow.store import DisaggRealization, HazardRealization, LedgerEntry, Store
from hazflow.store.records import FINISHED_STATES, RAN_STATES

HDF5_NAME = "calc.hdf5"
LOG_NAME = "oq.log"
INPUT_NAMES = ("job.ini", "source_model_logic_tree.xml", "gsim_logic_tree.xml", "site_model.csv")


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

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _new_entry(spec: JobSpec, state: str, **kw: object) -> LedgerEntry:
    return LedgerEntry(
        job_key=spec.key,
        kind=spec.kind,
        model=spec.model,
        leaf=spec.leaf,
        vs30=spec.vs30,
        sites=tuple(s.code for s in spec.sites),
        imts=spec.imts,
        poe=spec.poe,
        state=state,  # type: ignore[arg-type]
        oq_version=spec.oq_version,
        settings_digest=spec.settings.digest(),
        spec=json.dumps(spec.to_dict(), sort_keys=True),
        **kw,  # type: ignore[arg-type]
    )


def run_job(spec: JobSpec, store: Store, config: Config, force: bool = False) -> Outcome:
    """Run OpenQuake for `spec` unless the ledger says it has run; keep its artifacts; record `ran`."""
    existing = store.ledger_get(spec.key)
    if existing and existing.state in RAN_STATES and not force:
        return Outcome(spec.key, spec.label, existing.state, True, existing.oq_seconds, existing.hdf5_bytes, existing.rows)
    model = load_model(spec.model)
    attempts = (existing.attempts if existing else 0) + 1
    started = _now()
    config.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{spec.key}.", dir=config.work_dir) as tmp:
        jobdir = Path(tmp)
        try:
            job_ini = render_job(spec, model, jobdir)
            result = run_openquake(job_ini, config.openquake())
        except HazflowError as e:
            failed = _new_entry(spec, "failed", attempts=attempts, started_at=started, finished_at=_now(), error=str(e)[-4000:])
            store.ledger_record(failed)
            raise
        files = {name: jobdir / name for name in INPUT_NAMES}
        files[LOG_NAME] = result.log
        hdf5_bytes = 0
        if result.hdf5 is not None:
            files[HDF5_NAME] = result.hdf5
            hdf5_bytes = result.hdf5.stat().st_size
        where = store.put_artifacts(spec.key, files)
    entry = _new_entry(
        spec,
        "ran",
        empty=result.state == "no_ruptures",
        attempts=attempts,
        started_at=started,
        finished_at=_now(),
        oq_seconds=round(result.seconds, 3),
        hdf5_bytes=hdf5_bytes,
        artifacts=where,
    )
    store.ledger_record(entry)
    return Outcome(spec.key, spec.label, "ran", False, entry.oq_seconds, hdf5_bytes)


def ingest_job(spec: JobSpec, store: Store, force: bool = False) -> Outcome:
    """Read the job's HDF5 and store its realizations together with the ledger entry (`done`)."""
    entry = store.ledger_get(spec.key)
    if entry is None or entry.state not in RAN_STATES:
        state = entry.state if entry else "unknown"
        raise DataIntegrityError(f"job {spec.key} ({spec.label}) cannot be ingested: the ledger says {state!r}, not run")
    if entry.state in FINISHED_STATES and not force:
        return Outcome(spec.key, spec.label, entry.state, True, entry.oq_seconds, entry.hdf5_bytes, entry.rows)
    model = load_model(spec.model)
    start = time.monotonic()
    if spec.kind == "hazard":
        rows = _hazard_rows(spec, model, None if entry.empty else read_hazard_curves(store.artifact(spec.key, HDF5_NAME)))
        put = store.put_hazard_realizations
    else:
        rows = _disagg_rows(spec, model, None if entry.empty else read_disaggregation(store.artifact(spec.key, HDF5_NAME)))
        put = store.put_disagg_realizations
    state = "no_ruptures" if entry.empty else "done"
    done = replace(entry, state=state, rows=len(rows), ingest_seconds=round(time.monotonic() - start, 3), error="")
    put(rows, done)
    return Outcome(spec.key, spec.label, state, False, done.oq_seconds, done.hdf5_bytes, len(rows))


def gmm_ids(spec: JobSpec, model: HazardModel, uncertainties: list[str]) -> list[str]:
    """Map OpenQuake realizations (by uncertainty text) to the model's GMM branch ids."""
    by_identity = {gmm_identity(g.uncertainty): g.id for g in model.gmms_for(spec.trt)}
    out = []
    for text in uncertainties:
        identity = gmm_identity(text)
        if identity not in by_identity:
            raise DataIntegrityError(f"job {spec.key}: realization GMM {text!r} is not a {spec.trt} branch of {model.name}")
        out.append(by_identity[identity])
    return out


def _match_sites(spec: JobSpec, lonlats: list[tuple[float, float]]) -> list[str]:
    """Site codes of the datastore's sites, matched on rounded coordinates (OpenQuake may reorder)."""
    by_coords = {(round(s.lon, 3), round(s.lat, 3)): s.code for s in spec.sites}
    try:
        codes = [by_coords[(round(lon, 3), round(lat, 3))] for lon, lat in lonlats]
    except KeyError as e:
        raise DataIntegrityError(f"job {spec.key}: datastore site {e} is not one of the job's sites") from None
    if sorted(codes) != sorted(by_coords.values()):
        raise DataIntegrityError(f"job {spec.key}: datastore sites {codes} differ from the job's {sorted(by_coords.values())}")
    return codes


def _hazard_rows(spec: JobSpec, model: HazardModel, curves: HazardCurves | None) -> list[HazardRealization]:
    digest = spec.settings.digest()
    levels = np.asarray(spec.settings.levels, dtype=float)
    if curves is None:  # no ruptures: every component realization contributes zero
        gmms = [g.id for g in model.gmms_for(spec.trt)]
        zeros = np.zeros_like(levels)
        return [
            HazardRealization(spec.model, spec.leaf, gmm, site.code, spec.vs30, imt, levels, zeros, spec.key, spec.oq_version, digest)
            for site in spec.sites for imt in spec.imts for gmm in gmms
        ]  # fmt: skip
    if curves.engine_version != spec.oq_version:
        raise DataIntegrityError(f"job {spec.key}: datastore from OpenQuake {curves.engine_version}, spec says {spec.oq_version}")
    if not np.allclose(curves.levels, levels, rtol=1e-12):
        raise DataIntegrityError(f"job {spec.key}: datastore levels differ from the settings' level grid")
    codes = _match_sites(spec, [(s.lon, s.lat) for s in curves.sites])
    gmms = gmm_ids(spec, model, [r.gmm for r in curves.realizations])
    return [
        HazardRealization(
            spec.model,
            spec.leaf,
            gmm,
            code,
            spec.vs30,
            imt,
            levels,
            curves.values[s, r, i].copy(),
            spec.key,
            spec.oq_version,
            digest,
        )
        for s, code in enumerate(codes)
        for r, gmm in enumerate(gmms)
        for i, imt in enumerate(curves.imts)
    ]


def _disagg_rows(spec: JobSpec, model: HazardModel, disagg: Disaggregation | None) -> list[DisaggRealization]:
    digest = spec.settings.digest()
    s = spec.settings
    edges = {"Mag": np.asarray(s.mag_edges), "Dist": np.asarray(s.dist_edges), "Eps": np.asarray(s.eps_edges)}
    site = spec.sites[0]
    if disagg is None:
        gmms = [g.id for g in model.gmms_for(spec.trt)]
        shape = (1, len(s.mag_edges) - 1, len(s.dist_edges) - 1, len(s.eps_edges) - 1)
        return [
            DisaggRealization(
                spec.model, spec.leaf, gmm, site.code, spec.vs30, imt, float(spec.poe), iml, ("TRT", "Mag", "Dist", "Eps"),
                (spec.trt,), edges, np.zeros(shape), spec.key, spec.oq_version, digest,
            )
            for imt, iml in zip(spec.imts, spec.imls, strict=True) for gmm in gmms
        ]  # fmt: skip
    for axis, expected in edges.items():
        if not np.allclose(disagg.bin_edges[axis], expected):
            raise DataIntegrityError(f"job {spec.key}: {axis} bin edges differ from the settings' fixed edges")
    _match_sites(spec, [(disagg.site.lon, disagg.site.lat)])
    gmms = gmm_ids(spec, model, [r.gmm for r in disagg.realizations])
    return [
        DisaggRealization(
            spec.model, spec.leaf, gmm, site.code, spec.vs30, imt, float(spec.poe), float(disagg.imls[i]), disagg.axes,
            disagg.trts, disagg.bin_edges, disagg.values[r, i].copy(), spec.key, spec.oq_version, digest,
        )
        for r, gmm in enumerate(gmms) for i, imt in enumerate(disagg.imts)
    ]  # fmt: skip
