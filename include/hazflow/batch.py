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


def run_each(
    specs: Sequence[JobSpec], store: Store, config: Config, force: bool = False
) -> tuple[list[Outcome], list[tuple[JobSpec, HazflowError]]]:
    """OpenQuake for every spec not yet run (all when forced), `config.oq_parallel` at a time;
    (outcomes, failures), in the order of `specs`. Nothing is raised for a failed job."""

    def one(spec: JobSpec) -> Outcome | HazflowError:
        try:
            return run_job(spec, store, config, force=force)
        except HazflowError as e:  # recorded as failed in the ledger by run_job
            return e

    with ThreadPoolExecutor(max_workers=max(1, min(config.oq_parallel, len(specs) or 1))) as pool:
        results = list(pool.map(one, specs))
    failed = [(spec, r) for spec, r in zip(specs, results, strict=True) if isinstance(r, HazflowError)]
    return [r for r in results if isinstance(r, Outcome)], failed


def batch_failure(failed: Sequence[tuple[str, str, str]], total: int) -> OpenQuakeError:
    """One error for a batch's failed runs, given as (label, message, log tail): all labels, the first message."""
    label, message, tail = failed[0]
    labels = ", ".join(f[0] for f in failed)
    return OpenQuakeError(f"{len(failed)} of {total} OpenQuake runs failed ({labels}); first: {label}: {message}", tail)


def run_batch(specs: Sequence[JobSpec], store: Store, config: Config, force: bool = False) -> list[Outcome]:
    """`run_each`, raising one `OpenQuakeError` for the batch if any run failed."""
    outcomes, failed = run_each(specs, store, config, force)
    if failed:
        raise batch_failure(
            [(s.label, getattr(e, "message", str(e)), getattr(e, "log_tail", "")) for s, e in failed], len(specs)
        ) from failed[0][1]
    return outcomes


def ingest_batch(specs: Sequence[JobSpec], store: Store, force: bool = False) -> list[Outcome]:
    """Store the realizations of every spec of the batch (those already ingested are skipped)."""
    return [ingest_job(spec, store, force=force) for spec in specs]
