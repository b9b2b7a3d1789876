"""Disaggregation jobs grouped into passes, the jobs one OpenQuake process computes together (a
pass, `DisaggPass`, is `hazflow.openquake.spec`'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hazflow.openquake.spec import DisaggPass, JobSpec


def group_into_passes(jobs: Sequence[JobSpec], sites_per_pass: int) -> list[DisaggPass]:
    """Jobs (one site and PoE each) into passes: by leaf, VS30, IMT set and engine, at most
    `sites_per_pass` sites each, in the order the jobs come; engine `oq`: one job each."""
    groups: dict[tuple[Any, ...], list[JobSpec]] = {}
    for job in jobs:
        groups.setdefault((job.leaf, job.vs30, job.imts, job.engine), []).append(job)
    passes = []
    for (_, _, _, engine), members in groups.items():
        if engine == "oq":
            passes += [DisaggPass((job,)) for job in members]
            continue
        codes = list(dict.fromkeys(job.sites[0].code for job in members))
        for start in range(0, len(codes), sites_per_pass):
            chunk = set(codes[start : start + sites_per_pass])
            passes.append(DisaggPass(tuple(job for job in members if job.sites[0].code in chunk)))
    return passes
