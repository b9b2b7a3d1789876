"""Passes: the disaggregation jobs one OpenQuake process computes.

A *job* is one leaf x site x VS30 x PoE with its IMTs (the ledger's unit, as before). A *pass* is
the jobs of one leaf x VS30 x site group that one process computes together: with the `hazardlib`
engine every PoE and IMT of a site comes from one calculation over the leaf's ruptures, and the
sites of the group run in turn in the same process; with the `oq` engine a pass is one job (`oq
engine --run` with its IMTs in `iml_disagg`). A pass holds only jobs still to do, so a retried pass
recomputes nothing the ledger already has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.sites import Site
from hazflow.plan.jobs import JobSpec, target_label


@dataclass(frozen=True)
class DisaggPass:
    """Disaggregation jobs of one leaf, VS30, IMT set and engine, at one or more sites, each with its PoEs."""

    jobs: tuple[JobSpec, ...]

    def __post_init__(self) -> None:
        if not self.jobs:
            raise DataIntegrityError("a pass without jobs")
        first = self.jobs[0]
        shared = ("kind", "model", "leaf", "vs30", "imts", "engine", "oq_version", "settings")
        for job in self.jobs:
            if job.kind != "disagg" or len(job.sites) != 1 or any(getattr(job, a) != getattr(first, a) for a in shared):
                raise DataIntegrityError(
                    f"{job.label} cannot share a pass with {first.label}: one leaf, VS30, IMT set and engine"
                )
        if first.engine == "oq" and len(self.jobs) != 1:
            raise DataIntegrityError(f"engine oq runs one job per pass, not {len(self.jobs)}")
        if len({job.key for job in self.jobs}) != len(self.jobs):
            raise DataIntegrityError(f"a pass of {first.leaf} holds a job twice")

    @property
    def engine(self) -> str:
        return self.jobs[0].engine

    @property
    def leaf(self) -> str:
        return self.jobs[0].leaf

    @property
    def vs30(self) -> float:
        return self.jobs[0].vs30

    @property
    def imts(self) -> tuple[str, ...]:
        return self.jobs[0].imts

    @property
    def sites(self) -> tuple[Site, ...]:
        """The pass's sites, in the order of its jobs."""
        return tuple({job.sites[0].code: job.sites[0] for job in self.jobs}.values())

    def jobs_at(self, site: Site) -> tuple[JobSpec, ...]:
        """The jobs of one site (one per PoE), in the pass's order."""
        return tuple(job for job in self.jobs if job.sites[0].code == site.code)

    def levels(self, site: Site) -> list[list[float]]:
        """The levels (g) of one site, shape (n_imts, n_poes of the site): what its calculation disaggregates at."""
        jobs = self.jobs_at(site)
        return [[job.imls[m] for job in jobs] for m in range(len(self.imts))]

    @property
    def key(self) -> str:
        """Content hash (24 hex characters) of the pass: its engine and the keys of its jobs."""
        text = "\n".join(["pass", self.engine, *(job.key for job in self.jobs)])
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def label(self) -> str:
        """`WLG,CHC vs30=400 PGA,SA(0.5) 10%,2%/50yr CRU-1`; a one-job pass is named as its job."""
        if len(self.jobs) == 1:
            return self.jobs[0].label
        poes = list(dict.fromkeys(float(job.poe or 0.0) for job in self.jobs))
        sites = ",".join(site.id for site in self.sites)
        return f"{target_label(sites, self.vs30, ','.join(self.imts))} {','.join(f'{p * 100:g}%' for p in poes)}/50yr {self.leaf}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "jobs": [{"key": job.key, "spec": job.to_dict()} for job in self.jobs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "pass") -> DisaggPass:
        """A pass from `to_dict`; `BadRequest` naming `where` and the field unless every job is a job
        spec whose key is its own (a changed spec is not the planned job) and the jobs can share a pass."""
        jobs = []
        for i, job in enumerate(data["jobs"]):
            try:
                spec = JobSpec.from_dict(job["spec"])
            except (KeyError, TypeError, ValueError) as e:
                raise BadRequest(f"{where}.jobs[{i}]", f"not a job spec ({type(e).__name__}: {e})") from None
            if spec.key != job.get("key"):
                raise BadRequest(f"{where}.jobs[{i}].key", f"{job.get('key')!r} is not the key of its spec ({spec.key})")
            jobs.append(spec)
        try:
            return cls(tuple(jobs))
        except DataIntegrityError as e:
            raise BadRequest(where, str(e)) from None


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
