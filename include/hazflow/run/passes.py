"""Run one disaggregation pass: the jobs of one leaf x VS30 x site group that one OpenQuake process
computes, and record each job in the ledger.

With the `hazardlib` engine the process is `hazflow.openquake.onepass` (every PoE and IMT of a site
from one calculation, the sites in turn); with `oq` a pass is one job, run by `run.job.run_job`
(`oq engine --run`). Only jobs the ledger does not have as run are computed (all of them when
forced), so a retried pass recomputes nothing already done. On success each job gets a `ran` entry
pointing at the pass's artifacts (inputs, log, one datastore per site), with its share of the
process's wall and CPU seconds and HDF5 bytes; on failure each gets `failed` with the log tail.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hazflow.config import Config
from hazflow.exceptions import HazflowError
from hazflow.model.logic_tree import load_model
from hazflow.openquake.engines import PASS_RESULT
from hazflow.openquake.render import render_pass
from hazflow.openquake.runner import run_pass as run_openquake_pass
from hazflow.plan.passes import DisaggPass
from hazflow.run.job import LOG_NAME, Outcome, datastore_name, new_entry, now, run_job
from hazflow.store import LedgerEntry, Store
from hazflow.store.records import RAN_STATES

INPUT_NAMES = ("job.ini", "source_model_logic_tree.xml", "gsim_logic_tree.xml", "pass.json", PASS_RESULT)


def run_pass(p: DisaggPass, store: Store, config: Config, force: bool = False) -> list[Outcome]:
    """Compute the jobs of `p` the ledger does not have as run (all when forced); an outcome per job, in order."""
    if p.engine == "oq":
        return [run_job(job, store, config, force=force) for job in p.jobs]
    existing = {job.key: store.ledger_get(job.key) for job in p.jobs}
    done = {k: e for k, e in existing.items() if e is not None and e.state in RAN_STATES and not force}
    todo = DisaggPass(tuple(job for job in p.jobs if job.key not in done)) if len(done) < len(p.jobs) else None
    ran = _compute(todo, existing, store, config) if todo else {}
    return [Outcome.of(job, done[job.key], skipped=True) if job.key in done else ran[job.key] for job in p.jobs]


def _compute(p: DisaggPass, existing: dict[str, LedgerEntry | None], store: Store, config: Config) -> dict[str, Outcome]:
    """Run the one-pass disaggregation of `p`; its artifacts kept under the pass's key; a `ran` entry per job."""
    model = load_model(p.jobs[0].model)
    attempts = {key: (entry.attempts if entry else 0) + 1 for key, entry in existing.items()}
    started = now()
    config.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{p.key}.", dir=config.work_dir) as tmp:
        passdir = Path(tmp)
        try:
            result = run_openquake_pass(render_pass(p, model, passdir), config.openquake())
        except HazflowError as e:
            for job in p.jobs:
                error = f"pass {p.key} ({p.label}): {e}"[-4000:]
                store.ledger_record(
                    new_entry(job, "failed", attempts=attempts[job.key], started_at=started, finished_at=now(), error=error)
                )
            raise
        files = {name: passdir / name for name in INPUT_NAMES} | {
            f"site_model_{i}.csv": passdir / f"site_model_{i}.csv" for i in range(len(p.sites))
        }
        files[LOG_NAME] = result.log
        by_code = {s.code: s for s in result.sites}
        sizes = {}
        for site in p.sites:
            hdf5 = by_code[site.code].hdf5
            if hdf5 is not None:
                files[datastore_name(p.jobs_at(site)[0])] = hdf5
            sizes[site.code] = hdf5.stat().st_size if hdf5 is not None else 0
        where = store.put_artifacts(p.key, files)
    n = len(p.jobs)
    out = {}
    for job in p.jobs:
        code = job.sites[0].code
        entry = new_entry(
            job, "ran", empty=by_code[code].state == "no_ruptures", attempts=attempts[job.key], started_at=started,
            finished_at=now(), oq_seconds=round(result.usage.seconds / n, 3), cpu_seconds=round(result.usage.cpu_seconds / n, 3),
            max_rss_mb=round(result.usage.max_rss_mb, 1), pass_jobs=n, hdf5_bytes=sizes[code] // len(p.jobs_at(job.sites[0])),
            artifacts=where, artifact_key=p.key,
        )  # fmt: skip
        store.ledger_record(entry)
        out[job.key] = Outcome.of(job, entry, skipped=False)
    return out
