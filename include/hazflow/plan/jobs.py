"""Job specs built for a request: a leaf's classical or disaggregation job, its inputs digest taken
from what OpenQuake will read (`hazflow.openquake.inputs`). The spec and its key are
`hazflow.openquake.spec`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hazflow.choices import DEFAULT_DISAGG_ENGINE
from hazflow.model.logic_tree import HazardModel, Leaf
from hazflow.model.sites import Site
from hazflow.openquake.spec import JobKind, JobSpec


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
    contributors: bool = False,
) -> JobSpec:
    """The disaggregation of one leaf at one site, VS30 and PoE at the level of each IMT (g), read off
    the aggregated curve's `target_stat`, computed by `engine` (the one-pass `hazardlib`, or
    `oq engine --run` with the IMTs in `iml_disagg`); `contributors`: the one-pass engine records the
    rates by source and fault too."""
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
        contributors=contributors,
    )
