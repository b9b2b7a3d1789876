"""What one OpenQuake run and one OpenQuake process compute, and their keys: a *job spec* (`JobSpec`)
and a *pass* (`DisaggPass`), on the OpenQuake floor, below the planner that builds them
(`hazflow.plan.jobs`, `hazflow.plan.passes`) and beside the rendering that turns them into inputs.

A job's key is a content hash of its spec (model, leaf and its sources, the GMM branches of its
region, sites and their parameters, VS30, IMTs, targets, calculation settings, the OpenQuake version
and, for a disaggregation, the engine) and of what OpenQuake reads beyond it (`inputs`: the bytes of
the source files and the inputs as hazflow renders them, `hazflow.openquake.inputs`), so the same
work is never done twice and changed work never reuses an old result. It hashes the leaf's part,
then the target's part: the planner hashes a leaf's part once for all its jobs.

A *job* is one leaf x site x VS30 x PoE with its IMTs (the ledger's unit). A *pass* is the jobs of
one leaf x VS30 x site group that one process computes together: with the `hazardlib` engine every
PoE and IMT of a site comes from one calculation over the leaf's ruptures, and the sites of the
group run in turn in the same process; with the `oq` engine a pass is one job (`oq engine --run`
with its IMTs in `iml_disagg`). A pass holds only jobs still to do, so a retried pass recomputes
nothing the ledger already has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.settings import CalcSettings
from hazflow.model.sites import Site

JobKind = Literal["hazard", "disagg"]
CONTRIBUTORS_FLOOR = 1e-4
"""A run that records contributors keeps, per realization and target, every source or fault whose
rate is at least this share of the target's rate; the others are summed as "the rest"."""


def target_label(site_id: str, vs30: float, imt: str | None = None, poe: float | None = None) -> str:
    """How targets are named in logs, errors and the UI: `WLG vs30=400 PGA 10%/50yr`."""
    parts = [site_id, f"vs30={vs30:g}"] + ([imt] if imt else []) + ([f"{poe * 100:g}%/50yr"] if poe is not None else [])
    return " ".join(parts)


def run_label(site_id: str, vs30: float, imts: Sequence[str], poe: float, leaf: str) -> str:
    """A disaggregation run: `WLG vs30=400 PGA,SA(0.5) 10%/50yr CRU-2`."""
    return f"{target_label(site_id, vs30, ','.join(imts), poe)} {leaf}"


def canonical(data: dict[str, Any]) -> bytes:
    """The bytes a key hashes: sorted, compact JSON."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def target_part(
    vs30: float,
    sites: Sequence[Site],
    imts: Sequence[str],
    poe: float | None = None,
    imls: Sequence[float] = (),
    target_stat: str = "mean",
) -> dict[str, Any]:
    """`target_stat` (the hazard curve statistic the levels were read from) only when not the mean, so
    that the keys of every job planned before it existed stay what they were."""
    part = {"vs30": float(vs30), "sites": [vars(s) for s in sites], "imts": list(imts), "poe": poe, "imls": list(imls)}
    return part | {"target_stat": target_stat} if target_stat != "mean" else part


def leaf_hasher(leaf_part: dict[str, Any]) -> Any:
    """A sha256 fed with a leaf's part; copies of it finish the keys of that leaf's jobs."""
    hasher = hashlib.sha256(canonical(leaf_part))
    hasher.update(b"\n")
    return hasher


def job_key(hasher: Any, target_bytes: bytes) -> str:
    """The key of one job: its leaf's hasher (not consumed) finished with its target part."""
    h = hasher.copy()
    h.update(target_bytes)
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class JobSpec:
    """One OpenQuake run: a classical hazard job (all sites of a request) or a disaggregation (one site)."""

    kind: JobKind
    model: str
    leaf: str
    trt: str
    sources: tuple[str, ...]
    gmms: tuple[tuple[str, float], ...]  # (OpenQuake uncertainty text, weight) of the leaf's region
    vs30: float
    sites: tuple[Site, ...]
    imts: tuple[str, ...]
    settings: CalcSettings
    oq_version: str
    poe: float | None = None  # disagg: target probability of exceedance in 50 years
    imls: tuple[float, ...] = field(default=())  # disagg: the level of each IMT, in the order of `imts`
    engine: str = "oq"  # disagg: "hazardlib" (one pass for all PoEs) or "oq" (`oq engine --run` per PoE)
    target_stat: str = "mean"  # disagg: the aggregated hazard curve statistic the levels were read from
    contributors: bool = False  # disagg, one-pass engine: also record the rates by source and fault (`by_source`)
    inputs: str = ""  # digest of what OpenQuake reads beyond these fields (hazflow.openquake.inputs)

    @property
    def key(self) -> str:
        """Content hash (24 hex characters) identifying this work."""
        return job_key(leaf_hasher(self.leaf_part()), canonical(self.target_part()))

    @property
    def label(self) -> str:
        """What the Airflow UI shows for a mapped instance: `CRU-2 vs30=400` (hazard),
        `WLG vs30=400 PGA,SA(0.5) 10%/50yr CRU-2` (disaggregation)."""
        if self.kind == "hazard":
            return f"{self.leaf} vs30={self.vs30:g}"
        return run_label(self.sites[0].id, self.vs30, self.imts, float(self.poe or 0.0), self.leaf)

    def leaf_part(self) -> dict[str, Any]:
        """What every job of one leaf shares (sources, GMM branches, settings, OpenQuake version and,
        for a disaggregation, the engine that computes it)."""
        part = {
            "kind": self.kind,
            "model": self.model,
            "leaf": self.leaf,
            "trt": self.trt,
            "sources": list(self.sources),
            "gmms": [list(g) for g in self.gmms],
            "settings": self.settings.to_dict(),
            "oq_version": self.oq_version,
            "inputs": self.inputs,
        }
        if self.kind != "disagg":
            return part
        extra = {"contributors": {"floor": CONTRIBUTORS_FLOOR}} if self.contributors else {}  # off: the keys of before
        return part | {"engine": self.engine} | extra

    def target_part(self) -> dict[str, Any]:
        """What differs between the jobs of one leaf (sites, VS30, IMTs and, for a disaggregation, the targets)."""
        return target_part(self.vs30, self.sites, self.imts, self.poe, self.imls, self.target_stat)

    def to_dict(self) -> dict[str, Any]:
        return self.leaf_part() | self.target_part()

    def to_json(self) -> str:
        """The spec as the ledger keeps it (sorted JSON)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        return cls(
            kind=data["kind"],
            model=data["model"],
            leaf=data["leaf"],
            trt=data["trt"],
            sources=tuple(data["sources"]),
            gmms=tuple((u, float(w)) for u, w in data["gmms"]),
            vs30=float(data["vs30"]),
            sites=tuple(Site(**s) for s in data["sites"]),
            imts=tuple(data["imts"]),
            settings=CalcSettings.from_dict(data["settings"]),
            oq_version=data["oq_version"],
            poe=data.get("poe"),
            imls=tuple(float(x) for x in data.get("imls", ())),
            engine=str(data.get("engine", "oq")),
            target_stat=str(data.get("target_stat", "mean")),
            contributors="contributors" in data,
            inputs=str(data.get("inputs", "")),
        )


@dataclass(frozen=True)
class DisaggPass:
    """Disaggregation jobs of one leaf, VS30, IMT set and engine, at one or more sites, each with its PoEs."""

    jobs: tuple[JobSpec, ...]

    def __post_init__(self) -> None:
        if not self.jobs:
            raise DataIntegrityError("a pass without jobs")
        first = self.jobs[0]
        shared = ("kind", "model", "leaf", "vs30", "imts", "engine", "oq_version", "settings", "contributors")
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
