"""Disaggregation targets: levels read off the aggregated mean hazard curves, and job specs.

One store read per (site, VS30) gives every IMT's mean curve; each (IMT, PoE) target gets its
level by `imtl.level_at_poe`. The IMTs of one leaf/site/VS30/PoE share one OpenQuake run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hazflow.exceptions import BadRequest
from hazflow.imtl import level_at_poe
from hazflow.jobs import JobSpec, disagg_job, target_label
from hazflow.model import HazardModel, Leaf
from hazflow.request import validate_fractions
from hazflow.sites import Site
from hazflow.store import Store


@dataclass(frozen=True)
class DisaggTarget:
    site: Site
    vs30: float
    imt: str
    poe: float  # in 50 years
    iml: float  # g, read off the mean curve

    @property
    def label(self) -> str:
        return target_label(self.site.id, self.vs30, self.imt, self.poe)


def validate_poes(poes: Sequence[float], field: str = "poes") -> tuple[float, ...]:
    """Distinct probabilities of exceedance in 50 years, each in (0, 1)."""
    return validate_fractions(poes, field, "PoE", open_interval=True)


def read_targets(
    store: Store, model: HazardModel, site: Site, vs30: float, imts: Sequence[str], poes: Sequence[float]
) -> list[DisaggTarget]:
    """Targets of one (site, VS30) with their levels; one store read. Errors name the missing curve."""
    means = {a.imt: a for a in store.get_hazard_aggregates(model.name, site.code, vs30) if a.agg == "mean"}
    targets = []
    for imt in imts:
        if imt not in means:
            raise BadRequest(
                "imts",
                f"no aggregated mean hazard curve of {model.name} for {site.id} vs30={vs30:g} {imt}: run hazard_aggregation first",
            )
        curve = means[imt]
        for poe in poes:
            iml = level_at_poe(curve.levels, curve.values, poe, what=f"mean {imt} curve at {site.id} vs30={vs30:g}")
            targets.append(DisaggTarget(site, float(vs30), imt, poe, iml))
    return targets


def disagg_jobs(model: HazardModel, leaves: Sequence[Leaf], targets: Sequence[DisaggTarget], oq_version: str) -> list[JobSpec]:
    """One job per leaf x (site, VS30, PoE), its IMTs' levels together in iml_disagg."""
    groups: dict[tuple[str, float, float], dict[str, float]] = {}
    sites: dict[str, Site] = {}
    for t in targets:
        groups.setdefault((t.site.code, t.vs30, t.poe), {})[t.imt] = t.iml
        sites[t.site.code] = t.site
    return [
        disagg_job(model, leaf, vs30, sites[code], poe, imls, oq_version)
        for leaf in leaves
        for (code, vs30, poe), imls in groups.items()
    ]
