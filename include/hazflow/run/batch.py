"""Run one batch of job specs: the work of one mapped task, or of one ECS task.

A batch runs up to `Config.oq_parallel` OpenQuake jobs at once (each single-process on its own
core), so a worker with several cores is used whole. A failed job does not stop the others: each
is recorded in the ledger, then the failures are raised together, so a retry of the batch runs only
what failed (the ledger skips what already ran).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hazflow.config import Config
from hazflow.exceptions import HazflowError, OpenQuakeError
from hazflow.plan.jobs import JobSpec
from hazflow.run.job import Outcome, run_job
from hazflow.store import Store


@dataclass(frozen=True)
class Failure:
    """One job of a batch that failed: what a manifest records and a batch error lists."""

    job_key: str
    label: str
    error: str
    log_tail: str = ""

    @classmethod
    def of(cls, spec: JobSpec, error: BaseException) -> Failure:
        return cls(spec.key, spec.label, getattr(error, "message", str(error)), getattr(error, "log_tail", ""))

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        return cls(str(data["job_key"]), str(data["label"]), str(data["error"]), str(data.get("log_tail", "")))


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


def batch_failure(failures: Sequence[Failure], total: int) -> OpenQuakeError:
    """One error for a batch's failed runs: all their labels, the first one's message and log tail."""
    first = failures[0]
    labels = ", ".join(f.label for f in failures)
    return OpenQuakeError(
        f"{len(failures)} of {total} OpenQuake runs failed ({labels}); first: {first.label}: {first.error}", first.log_tail
    )


def run_batch(specs: Sequence[JobSpec], store: Store, config: Config, force: bool = False) -> list[Outcome]:
    """`run_each`, raising one `OpenQuakeError` for the batch if any run failed."""
    outcomes, failed = run_each(specs, store, config, force)
    if failed:
        raise batch_failure([Failure.of(s, e) for s, e in failed], len(specs)) from failed[0][1]
    return outcomes
