"""Run disaggregation passes: the jobs of one leaf x VS30 x site group that one OpenQuake pass
computes, and record each job in the ledger.

With the `hazardlib` engine a pass is `hazflow.openquake.onepass` (every PoE and IMT of a site from
one calculation, the sites in turn), and several passes share one OpenQuake process (its start-up
paid once); with `oq` a pass is one job, run by `run.job.run_job` (`oq engine --run`). Only jobs the
ledger does not have as run are computed (all of them when forced), so a retried pass recomputes
nothing already done. On success each job gets a `ran` entry pointing at its pass's artifacts
(inputs, log, a datastore per site: a calculation shared by sites is kept under each site's name), with its share of the wall and CPU seconds and HDF5 bytes; a
pass that fails leaves each of its jobs `failed` with the error and nothing stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hazflow.config import Config
from hazflow.exceptions import HazflowError
from hazflow.model.logic_tree import load_model
from hazflow.openquake.engines import PASS_RESULT
from hazflow.openquake.prepare import render_pass
from hazflow.openquake.runner import PassResult
from hazflow.openquake.runner import run_passes as run_openquake_passes
from hazflow.openquake.spec import DisaggPass
from hazflow.run.job import LOG_NAME, Outcome, datastore_name, failure, new_entry, now, run_job
from hazflow.run.lease import held
from hazflow.run.work_folders import work_folder
from hazflow.store import LedgerEntry, Store
from hazflow.store.leases import Lease, LeaseLost
from hazflow.store.records import RAN_STATES

INPUT_NAMES = ("job.ini", "source_model_logic_tree.xml", "gsim_logic_tree.xml", "pass.json", PASS_RESULT)


def run_pass(p: DisaggPass, store: Store, config: Config, force: bool = False) -> list[Outcome]:
    """Compute the jobs of `p` the ledger does not have as run (all when forced); an outcome per job,
    in order; the pass's error raised if it failed."""
    (result,) = run_passes([p], store, config, force)
    if isinstance(result, HazflowError):
        raise result
    return result


def run_passes(
    passes: Sequence[DisaggPass], store: Store, config: Config, force: bool = False
) -> list[list[Outcome] | HazflowError]:
    """Several passes, one after another; with `hazardlib`, in one OpenQuake process. Per pass, an
    outcome per job or the error that stopped it (its jobs recorded as failed)."""
    out: list[list[Outcome] | HazflowError | None] = [None] * len(passes)
    todo: dict[int, tuple[DisaggPass, dict[str, LedgerEntry | None]]] = {}
    for i, p in enumerate(passes):
        if p.engine == "oq":
            try:
                out[i] = [run_job(job, store, config, force=force) for job in p.jobs]
            except HazflowError as e:
                out[i] = e
            continue
        existing = {job.key: store.ledger_get(job.key) for job in p.jobs}
        done = {k: e for k, e in existing.items() if e is not None and e.state in RAN_STATES and not force}
        if len(done) == len(p.jobs):
            out[i] = [Outcome.of(job, done[job.key], skipped=True) for job in p.jobs]
        else:
            todo[i] = (DisaggPass(tuple(job for job in p.jobs if job.key not in done)), existing)
    if not todo:
        return [o for o in out if o is not None]
    with held(store, [passes[i].key for i in todo], config.lease_ttl_s) as (beat, refused):
        for i in list(todo):
            if passes[i].key in refused:  # another live copy computes it: this one fails it as transient
                out[i] = refused.pop(passes[i].key)
                del todo[i]
                continue
            existing = {job.key: store.ledger_get(job.key) for job in passes[i].jobs}  # again, now the lease is ours
            done = {k: e for k, e in existing.items() if e is not None and e.state in RAN_STATES and not force}
            if len(done) == len(passes[i].jobs):
                out[i] = [Outcome.of(job, done[job.key], skipped=True) for job in passes[i].jobs]
                del todo[i]
            else:
                todo[i] = (DisaggPass(tuple(job for job in passes[i].jobs if job.key not in done)), existing)
        if todo:
            fences = [beat.fence(passes[i].key) for i in todo]
            computed = _compute([pair[0] for pair in todo.values()], [pair[1] for pair in todo.values()], fences, store, config)
            for (i, (_, existing)), result in zip(todo.items(), computed, strict=True):
                if isinstance(result, HazflowError):
                    out[i] = result
                    continue
                outcomes = []
                for job in passes[i].jobs:
                    entry = existing[job.key]
                    outcomes.append(
                        result[job.key] if entry is None or job.key in result else Outcome.of(job, entry, skipped=True)
                    )
                out[i] = outcomes
    return [o for o in out if o is not None]


def _compute(
    passes: list[DisaggPass], existing: list[dict[str, LedgerEntry | None]], fences: list[Lease], store: Store, config: Config
) -> list[dict[str, Outcome] | HazflowError]:
    """Run the one-pass disaggregations of `passes` in one process; artifacts kept under each pass's key;
    a `ran` or `failed` entry per job, written fenced by the pass's lease (a pass whose lease was lost
    gets `LeaseLost`, its entries unwritten)."""
    attempts = [{key: (entry.attempts if entry else 0) + 1 for key, entry in e.items()} for e in existing]
    started = now()
    with work_folder(config.work_dir, passes[0].key) as workdir:
        try:
            files = [render_pass(p, load_model(p.jobs[0].model), _folder(workdir, i)) for i, p in enumerate(passes)]
            results: list[PassResult | HazflowError] = list(run_openquake_passes(files, workdir, config.openquake()))
        except HazflowError as e:  # the process itself failed (rendering, time limit): every pass fails, as e's class
            results = [e] * len(passes)
        out: list[dict[str, Outcome] | HazflowError] = []
        for p, result, tries, fence, folder in zip(
            passes, results, attempts, fences, (_folder(workdir, i) for i in range(len(passes))), strict=True
        ):
            try:
                if isinstance(result, HazflowError):
                    error = failure(result, context=f"pass {p.key} ({p.label}): ")
                    for job in p.jobs:
                        failed = new_entry(job, "failed", attempts=tries[job.key], started_at=started, finished_at=now(), **error)
                        store.ledger_record(failed, fence=fence)
                    out.append(result)
                else:
                    out.append(_record(p, result, folder, tries, started, store, fence))
            except LeaseLost as e:
                out.append(e)
    return out


def _folder(workdir: Path, i: int) -> Path:
    folder = workdir / f"pass{i}"
    folder.mkdir(exist_ok=True)
    return folder


def _record(
    p: DisaggPass, result: PassResult, folder: Path, attempts: dict[str, int], started: str, store: Store, fence: Lease
) -> dict[str, Outcome]:
    """Keep a finished pass's artifacts under its key and give each job its `ran` entry."""
    files = {name: folder / name for name in INPUT_NAMES}
    files |= {path.name: path for path in sorted(folder.glob("site_model_*.csv"))}
    files[LOG_NAME] = result.log
    by_code = {s.code: s for s in result.sites}
    jobs_per_file: dict[Path | None, int] = {}  # a calculation shared by sites is one datastore
    for job in p.jobs:
        hdf5 = by_code[job.sites[0].code].hdf5
        jobs_per_file[hdf5] = jobs_per_file.get(hdf5, 0) + 1
    sizes = {}
    for site in p.sites:
        hdf5 = by_code[site.code].hdf5
        if hdf5 is not None:
            files[datastore_name(p.jobs_at(site)[0])] = hdf5
        sizes[site.code] = hdf5.stat().st_size // jobs_per_file[hdf5] if hdf5 is not None else 0
    where = store.put_artifacts(p.key, files)
    n, usage, out = len(p.jobs), result.usage, {}
    for job in p.jobs:
        code = job.sites[0].code
        entry = new_entry(
            job, "ran", empty=by_code[code].state == "no_ruptures", attempts=attempts[job.key], started_at=started,
            finished_at=now(), oq_seconds=round(usage.seconds / n, 3), cpu_seconds=round(usage.cpu_seconds / n, 3),
            max_rss_mb=round(usage.max_rss_mb, 1), pass_jobs=n, hdf5_bytes=sizes[code],
            artifacts=where, artifact_key=p.key,
        )  # fmt: skip
        store.ledger_record(entry, fence=fence)
        out[job.key] = Outcome.of(job, entry, skipped=False)
    return out
