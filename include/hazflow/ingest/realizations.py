"""Ingest a finished OpenQuake job: read its HDF5 (h5py) into realization rows (one per site x
GMM branch x IMT, or per GMM branch x IMT of a disaggregation target) and store them together with
the job's `done` ledger entry. An empty result ("no ruptures") is stored as zeros, so aggregation
sees a zero contribution, not a gap. Idempotent: an ingested job is skipped unless forced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from hazflow.exceptions import DataIntegrityError
from hazflow.model.logic_tree import HazardModel, gmm_identity, load_model
from hazflow.openquake.datastore import (
    Disaggregation,
    HazardCurves,
    SourceRates,
    read_disaggregation,
    read_hazard_curves,
    read_source_rates,
)
from hazflow.openquake.spec import JobSpec
from hazflow.run.job import HDF5_NAME, Outcome, datastore_name
from hazflow.store import DisaggRealization, HazardRealization, Store
from hazflow.store.records import FINISHED_STATES, NO_CONTRIBUTORS, RAN_STATES, LedgerState, contributor_rows

logger = logging.getLogger(__name__)


def ingest_job(spec: JobSpec, store: Store, force: bool = False) -> Outcome:
    """Read the job's HDF5 and store its realizations together with the ledger entry (`done`)."""
    entry = store.ledger_get(spec.key)
    if entry is None or entry.state not in RAN_STATES:
        state = entry.state if entry else "unknown"
        raise DataIntegrityError(f"job {spec.key} ({spec.label}) cannot be ingested: the ledger says {state!r}, not run")
    if entry.state in FINISHED_STATES and not force:
        return Outcome.of(spec, entry, skipped=True)
    model = load_model(spec.model)
    start = time.monotonic()
    finished: LedgerState = "no_ruptures" if entry.empty else "done"
    if spec.kind == "hazard":
        hazard = _hazard_rows(spec, model, None if entry.empty else read_hazard_curves(store.artifact(spec.key, HDF5_NAME)))
        done = replace(entry, state=finished, rows=len(hazard), ingest_seconds=round(time.monotonic() - start, 3), error="")
        store.put_hazard_realizations(hazard, done)
    else:
        where = entry.artifact_key or spec.key  # a pass keeps every site's datastore under its own key
        site = spec.sites[0]
        path = store.artifact(where, datastore_name(spec))
        datastore = None if entry.empty else read_disaggregation(path, imls=spec.imls, lonlat=(site.lon, site.lat))
        rates = None if entry.empty or not spec.contributors else read_source_rates(path, spec.imls, (site.lon, site.lat))
        if spec.contributors and not entry.empty and rates is None:
            raise DataIntegrityError(f"job {spec.key} ({spec.label}): asked for contributors, its datastore has none")
        if rates is not None and rates.unsupported:  # stored without: the aggregation names the realizations
            logger.warning("job %s (%s): no contributors recorded: %s", spec.key, spec.label, rates.unsupported)
            rates = None
        disagg = _disagg_rows(spec, model, datastore, rates)
        done = replace(entry, state=finished, rows=len(disagg), ingest_seconds=round(time.monotonic() - start, 3), error="")
        store.put_disagg_realizations(disagg, done)
    return Outcome.of(spec, done, skipped=False)


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


def contributor_table_of(rates: SourceRates | None, r: int, i: int) -> np.ndarray:
    """Realization r's contributors at IMT i: the sources and faults with a rate, "the rest" last."""
    if rates is None:
        return NO_CONTRIBUTORS
    live = np.flatnonzero(rates.rate[r, i] > 0)
    return contributor_rows(
        [rates.names[c] for c in live], [rates.kinds[c] for c in live], rates.rate[r, i, live], rates.mag[r, i, live], rates.rrup[r, i, live],
        rates.eps[r, i, live], rates.closest[live, 1], rates.closest[live, 2],
    )  # fmt: skip


def _disagg_rows(
    spec: JobSpec, model: HazardModel, disagg: Disaggregation | None, rates: SourceRates | None = None
) -> list[DisaggRealization]:
    digest = spec.settings.digest()
    s = spec.settings
    edges = {"Mag": np.asarray(s.mag_edges), "Dist": np.asarray(s.dist_edges), "Eps": np.asarray(s.eps_edges)}
    site = spec.sites[0]
    if spec.poe is None:
        raise DataIntegrityError(f"job {spec.key}: a disaggregation spec without its target PoE")
    if disagg is None:
        gmms = [g.id for g in model.gmms_for(spec.trt)]
        shape = (1, len(s.mag_edges) - 1, len(s.dist_edges) - 1, len(s.eps_edges) - 1)
        return [
            DisaggRealization(
                spec.model, spec.leaf, gmm, site.code, spec.vs30, imt, float(spec.poe), iml, ("TRT", "Mag", "Dist", "Eps"),
                (spec.trt,), edges, np.zeros(shape), spec.key, spec.oq_version, digest, spec.target_stat,
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
            disagg.trts, disagg.bin_edges, disagg.values[r, i].copy(), spec.key, spec.oq_version, digest, spec.target_stat,
            contributor_table_of(rates, r, i),
        )
        for r, gmm in enumerate(gmms) for i, imt in enumerate(disagg.imts)
    ]  # fmt: skip


def ingest_batch(specs: Sequence[JobSpec], store: Store, force: bool = False) -> list[Outcome]:
    """Store the realizations of every spec of a batch (those already ingested are skipped)."""
    return [ingest_job(spec, store, force=force) for spec in specs]


def ingest_ran_job(job_key: str, store: Store, force: bool = False) -> Outcome:
    """Ingest the job the ledger knows under `job_key` (its spec is kept in its entry)."""
    entry = store.ledger_get(job_key)
    if entry is None:
        raise DataIntegrityError(f"job {job_key} is not in the ledger")
    return ingest_job(JobSpec.from_json(entry.spec), store, force=force)


def ingest_planned_batch(plan_id: str, batch: int, store: Store, force: bool = False) -> list[Outcome]:
    """Ingest every run of one batch of a kept disaggregation plan."""
    from hazflow.plan.disagg import load_plan

    return ingest_batch(load_plan(plan_id, store).specs(batch), store, force=force)
