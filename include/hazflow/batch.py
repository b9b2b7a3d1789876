"""Run and ingest one batch of job specs: the work of one mapped task (or one ECS task).

A batch runs up to `Config.oq_parallel` OpenQuake jobs at once (each single-process on its own
core), so a worker with several cores is used whole. A failed job does not stop the others: each
is recorded in the ledger, then the failures are raised together, so a retry of the batch runs only
what failed (the ledger skips what already ran).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from hazflow.config import Config
from hazflow.exceptions import HazflowError, OpenQuakeError
from hazflow.jobs import JobSpec
from hazflow.realizations import Outcome, ingest_job, run_job
from hazflow.store import Store


def run_batch(specs: Sequence[JobSpec], store: Store, config: Config, force: bool = False) -> list[Outcome]:
    """OpenQuake for every spec not yet run (all when forced), `config.oq_parallel` at a time."""

    def one(spec: JobSpec) -> Outcome | HazflowError:
        try:
            return run_job(spec, store, config, force=force)
        except HazflowError as e:  # recorded as failed in the ledger by run_job
            return e

    with ThreadPoolExecutor(max_workers=max(1, min(config.oq_parallel, len(specs) or 1))) as pool:
        results = list(pool.map(one, specs))
    failed = [(spec, r) for spec, r in zip(specs, results, strict=True) if isinstance(r, HazflowError)]
    if failed:
        spec, first = failed[0]
        labels = ", ".join(s.label for s, _ in failed)
        raise OpenQuakeError(
            f"{len(failed)} of {len(specs)} OpenQuake runs failed ({labels}); first: {spec.label}: {getattr(first, 'message', first)}",
            getattr(first, "log_tail", ""),
        ) from first
    return [r for r in results if isinstance(r, Outcome)]


def ingest_batch(specs: Sequence[JobSpec], store: Store, force: bool = False) -> list[Outcome]:
    """Store the realizations of every spec of the batch (those already ingested are skipped)."""
    return [ingest_job(spec, store, force=force) for spec in specs]
