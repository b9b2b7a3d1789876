"""Run one batch of disaggregation passes: the work of one mapped task, or of one ECS task.

A batch runs up to `Config.oq_parallel` passes at once (each an OpenQuake process on its own core),
so a worker with several cores is used whole. A failed pass does not stop the others: each of its
jobs is recorded in the ledger as failed, then the failures are raised together, so a retry of the
batch runs only what failed (the ledger skips what already ran).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hazflow.config import Config
from hazflow.exceptions import HazflowError, OpenQuakeError, boundary_class, most_severe, rebuild
from hazflow.openquake.spec import DisaggPass, JobSpec
from hazflow.run.job import Outcome
from hazflow.run.passes import run_passes
from hazflow.store import Store
from hazflow.store.records import RAN_STATES


@dataclass(frozen=True)
class Failure:
    """One job of a batch that failed: what a manifest records and a batch error lists. `error_class`
    is one of `hazflow.exceptions.BOUNDARY_CLASSES`, so that the class of what went wrong inside a
    worker reaches the retry policy outside it."""

    job_key: str
    label: str
    error: str
    log_tail: str = ""
    error_class: str = OpenQuakeError.__name__

    @classmethod
    def of(cls, spec: JobSpec, error: BaseException) -> Failure:
        message = error.message if isinstance(error, OpenQuakeError) else str(error)
        return cls(spec.key, spec.label, message, getattr(error, "log_tail", ""), boundary_class(error))

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        return cls(
            str(data["job_key"]),
            str(data["label"]),
            str(data["error"]),
            str(data.get("log_tail", "")),
            str(data.get("error_class", OpenQuakeError.__name__)),
        )


def lanes(passes: Sequence[DisaggPass], count: int) -> list[list[int]]:
    """The passes (indices) of each of at most `count` OpenQuake processes running side by side: the
    largest passes first, each to the lane with least work (in sites), each lane in pass order.
    Engine `oq` passes get a lane each (one `oq engine --run` per job, scheduled as they come)."""
    if not passes:
        return []
    if any(p.engine == "oq" for p in passes):
        return [[i] for i in range(len(passes))]
    work = [0] * min(count, len(passes))
    members: list[list[int]] = [[] for _ in work]
    for i in sorted(range(len(passes)), key=lambda i: -len(passes[i].sites)):
        lane = work.index(min(work))
        work[lane] += len(passes[i].sites)
        members[lane].append(i)
    return sorted((sorted(m) for m in members if m), key=lambda m: m[0])


def run_each(
    passes: Sequence[DisaggPass], store: Store, config: Config, force: bool = False
) -> tuple[list[Outcome], list[tuple[JobSpec, HazflowError]]]:
    """Every pass, in `config.oq_parallel` OpenQuake processes at a time (the passes of one process in
    turn): (outcomes of the jobs that ran or were done, (job, error) of the jobs of failed passes),
    in the order of the passes. Nothing is raised."""
    results: list[list[Outcome] | HazflowError | None] = [None] * len(passes)

    def one(lane: list[int]) -> None:
        try:
            for i, result in zip(lane, run_passes([passes[i] for i in lane], store, config, force=force), strict=True):
                results[i] = result
        except HazflowError as e:  # not a pass's own failure: the whole lane failed
            for i in lane:
                results[i] = e

    with ThreadPoolExecutor(max_workers=max(1, min(config.oq_parallel, len(passes) or 1))) as pool:
        list(pool.map(one, lanes(passes, config.oq_parallel)))
    outcomes: list[Outcome] = []
    failed: list[tuple[JobSpec, HazflowError]] = []
    for p, result in zip(passes, results, strict=True):
        if not isinstance(result, HazflowError):
            outcomes += result or []
            continue
        for job in p.jobs:  # a job the ledger had as run before the pass failed stays done
            entry = store.ledger_get(job.key)
            if entry is not None and entry.state in RAN_STATES and not force:
                outcomes.append(Outcome.of(job, entry, skipped=True))
            else:
                failed.append((job, result))
    return outcomes, failed


def batch_failure(failures: Sequence[Failure], total: int) -> HazflowError:
    """One error for a batch's failed runs, of the most severe class among them (a data-integrity
    error fails the batch at once even if another run only timed out): every failed run with its
    class, then the first failure of that class with its message and log tail."""
    name = most_severe([f.error_class for f in failures])
    first = next(f for f in failures if f.error_class == name)
    listed = ", ".join(f"{f.label} [{f.error_class}]" for f in failures)
    message = f"{len(failures)} of {total} OpenQuake runs failed ({listed}); first {name}: {first.label}: {first.error}"
    return rebuild(name, message, first.log_tail, where=f"batch of {first.label}")


def run_batch(passes: Sequence[DisaggPass], store: Store, config: Config, force: bool = False) -> list[Outcome]:
    """`run_each`, raising one error for the batch if any pass failed (`batch_failure`)."""
    outcomes, failed = run_each(passes, store, config, force)
    if failed:
        raise batch_failure([Failure.of(s, e) for s, e in failed], len(outcomes) + len(failed)) from failed[0][1]
    return outcomes
