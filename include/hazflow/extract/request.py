"""An area-extract request (`python -m hazflow extract`, the `area_extract` DAG), validated before
anything is read: the area, its sites (on a grid at one VS30, or a site model's rows at their own),
the model, the IMTs and the statistic.
Every error names its field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hazflow.exceptions import BadRequest
from hazflow.extract.area import Area, parse_area
from hazflow.extract.grid import DEFAULT_GRID, DEFAULT_MAX_SITES, area_sites
from hazflow.extract.site_model import parse_site_model
from hazflow.model.logic_tree import HazardModel, load_model
from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.model.sites import Site, resolve_sites, site_code
from hazflow.plan.fields import (
    validate_count,
    validate_flag,
    validate_imts,
    validate_target_stat,
    validate_vs30s,
    with_other_entries,
)


@dataclass(frozen=True)
class AreaRequest:
    """The hazard of an area: statistic `stat` of the aggregated curves, for `imts`, at the grid's
    sites in the area at one `vs30`, or at the rows of a site model in the area at their own VS30."""

    model: HazardModel
    area: Area
    grid: str  # the grid's name or resolution; "site_model" when the sites are a site model's rows
    sites: tuple[Site, ...]
    vs30s: tuple[float, ...]  # each site's VS30 (m/s), aligned with `sites`
    imts: tuple[str, ...]
    stat: str  # "mean" or a quantile named as the aggregates are ("0.9")
    compute: bool  # compute the hazard of sites that have none, instead of refusing
    vs30: float | None  # the one VS30 given; None with a site model
    site_model_digest: str = ""  # sha256[:16] of the site model's rows, when given

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> AreaRequest:
        """Validate raw values: `bbox` or `polygon`, `model`, `vs30` or `site_model` (CSV text),
        `imts`, `stat` (mean), `grid` (NZ_0_1_NB_1_1), `max_sites` (500), `compute` (false)."""
        if params.get("model") in (None, ""):
            raise BadRequest("model", "missing: give DEMO or an nzshm-model version such as NSHM_v1.0.4")
        model = load_model(str(params["model"]))
        area = parse_area(params.get("bbox"), params.get("polygon"))
        given_vs30, site_model = params.get("vs30"), params.get("site_model") or ""
        if given_vs30 is not None and site_model:
            raise BadRequest("vs30", "give one VS30 or a site model (each site its own VS30), not both")
        if given_vs30 is None and not site_model:
            raise BadRequest("vs30", "missing: one VS30 in m/s (e.g. 400), or a site model")
        imts = validate_imts(with_other_entries(params).get("imts"), "imts")
        stat = validate_target_stat(params.get("stat", "mean"), "stat")
        max_sites = validate_count(params.get("max_sites", DEFAULT_MAX_SITES), "max_sites", 1, what="number of sites")
        compute = validate_flag(params.get("compute", False), "compute")
        if site_model:
            rows = [r for r in parse_site_model(str(site_model)) if area.covers(r[0], r[1])]
            if not rows:
                raise BadRequest("area", f"no site of the site model in the area ({area.text})")
            if len(rows) > max_sites:
                raise BadRequest(
                    "area", f"{len(rows)} sites of the site model in the area, more than max_sites={max_sites}: split it"
                )
            sites = tuple(resolve_sites([site_code(lat, lon) for lat, lon, _ in rows], "site_model"))
            digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
            return cls(model, area, "site_model", sites, tuple(r[2] for r in rows), imts, stat, compute, None, digest)
        (vs30,) = validate_vs30s([given_vs30], "vs30")
        grid = str(params.get("grid") or DEFAULT_GRID)
        sites = tuple(area_sites(area, grid, max_sites))
        return cls(model, area, grid, sites, (vs30,) * len(sites), imts, stat, compute, vs30)

    @property
    def targets(self) -> list[tuple[Site, float]]:
        """(site, VS30) of every site."""
        return list(zip(self.sites, self.vs30s, strict=True))

    @property
    def name(self) -> str:
        """The bundle's name: model, statistic, VS30 (or `site_model`) and a digest of the area, the
        grid or site model and the IMTs (a rerun of the same request rewrites the same bundle)."""
        key = json.dumps([self.area.to_geojson(), self.grid, self.site_model_digest, list(self.imts)], sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        vs30 = f"vs30_{self.vs30:g}" if self.vs30 is not None else "site_model"
        return f"{self.model.name}-{self.stat}-{vs30}-{digest}"

    def hazard_params(self, sites: tuple[Site, ...] | None = None, vs30: float | None = None) -> dict[str, Any]:
        """Params of hazard_realizations / hazard_aggregation for `sites` at `vs30` (default: every
        site, at the request's VS30s), every leaf; the aggregation stores the NSHM quantiles and the requested one."""
        chosen = self.sites if sites is None else sites
        vs30s = [vs30] if vs30 is not None else sorted(set(self.vs30s))
        quantiles = sorted(set(DEFAULT_QUANTILES) | ({float(self.stat)} if self.stat != "mean" else set()))
        return {
            "model": self.model.name, "sites": [s.code for s in chosen], "vs30s": vs30s, "imts": list(self.imts),
            "quantiles": quantiles,
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The request as the manifest records it."""
        return {
            "model": self.model.name, "area": self.area.to_geojson(), "area_given_as": self.area.kind, "grid": self.grid,
            "sites": len(self.sites), "vs30": self.vs30 if self.vs30 is not None else "site_model",
            "site_model_digest": self.site_model_digest, "imts": list(self.imts), "stat": self.stat,
        }  # fmt: skip
