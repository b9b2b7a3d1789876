"""Job specs: everything one OpenQuake run needs, and its key.

The key is a content hash of the spec (model, leaf and its sources, the GMM branches of its region,
sites and their parameters, VS30, IMTs, targets, calculation settings, the OpenQuake version and,
for a disaggregation, the engine) and of what OpenQuake reads beyond it (the bytes of the source
files and the inputs as hazflow renders them: `hazflow.openquake.inputs`),
so the same work is never done twice and changed work never reuses an old result. It hashes the
leaf's part, then the target's part: the planner hashes a leaf's part once for all its jobs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hazflow.model.logic_tree import HazardModel, Leaf
from hazflow.model.settings import CalcSettings
from hazflow.model.sites import Site
from hazflow.openquake.engines import DEFAULT_DISAGG_ENGINE

JobKind = Literal["hazard", "disagg"]


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
        return part | {"engine": self.engine} if self.kind == "disagg" else part

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
            inputs=str(data.get("inputs", "")),
        )


def _job(
    model: HazardModel,
    leaf: Leaf,
    kind: JobKind,
    vs30: float,
    sites: tuple[Site, ...],
    imts: tuple[str, ...],
    oq_version: str,
    **targets: Any,
) -> JobSpec:
    spec = JobSpec(
        kind=kind,
        model=model.name,
        leaf=leaf.id,
        trt=leaf.trt,
        sources=leaf.sources,
        gmms=tuple((g.uncertainty, g.weight) for g in model.gmms_for(leaf.trt)),
        vs30=float(vs30),
        sites=tuple(sites),
        imts=tuple(imts),
        settings=model.settings,
        oq_version=oq_version,
        **targets,
    )
    return respec(spec, model)


def respec(spec: JobSpec, model: HazardModel, **changes: Any) -> JobSpec:
    """`spec` with `changes` and its inputs digest recomputed, so that a spec changed after it was
    built (another setting, GMM branch or level) names what OpenQuake will read: the worker refuses
    a spec whose digest is not that of its inputs."""
    from hazflow.openquake.inputs import inputs_digest  # renders a probe job: imported when a job is built

    changed = replace(spec, **changes)
    return replace(changed, inputs=inputs_digest(changed, model))


def hazard_job(
    model: HazardModel, leaf: Leaf, vs30: float, sites: tuple[Site, ...], imts: tuple[str, ...], oq_version: str
) -> JobSpec:
    """The classical job of one leaf at one VS30 (the sites of a request share one run)."""
    return _job(model, leaf, "hazard", vs30, sites, imts, oq_version)


def disagg_job(
    model: HazardModel,
    leaf: Leaf,
    vs30: float,
    site: Site,
    poe: float,
    imls: dict[str, float],
    oq_version: str,
    engine: str = DEFAULT_DISAGG_ENGINE,
    target_stat: str = "mean",
) -> JobSpec:
    """The disaggregation of one leaf at one site, VS30 and PoE at the level of each IMT (g), read off
    the aggregated curve's `target_stat`, computed by `engine` (the one-pass `hazardlib`, or
    `oq engine --run` with the IMTs in `iml_disagg`)."""
    imts = tuple(imls)
    levels = tuple(float(imls[i]) for i in imts)
    return _job(
        model,
        leaf,
        "disagg",
        vs30,
        (site,),
        imts,
        oq_version,
        poe=float(poe),
        imls=levels,
        engine=engine,
        target_stat=target_stat,
    )
