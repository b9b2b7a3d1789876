"""An area-extract request (`python -m hazflow extract`, the `area_extract` DAG), validated before
anything is read: the area, its sites (on a grid at one VS30, or a site model's rows at their own),
the model, the IMTs and the statistic.
Every error names its field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hazflow import limits
from hazflow.exceptions import BadRequest
from hazflow.extract.area import Area, parse_area
from hazflow.extract.exposure import DEFAULT_DISTANCE_KM, validate_distance
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
    exposure: str = ""  # an OpenQuake exposure (path or URI): the sites are those its assets go to
    asset_hazard_distance: float = DEFAULT_DISTANCE_KM  # km, the bundle's (and the association's)
    max_sites: int = DEFAULT_MAX_SITES
    exposure_digest: str = ""  # set once the sites are narrowed to the exposure's (`keep`)

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> AreaRequest:
        """Validate raw values: `bbox` or `polygon`, `model`, `vs30` or `site_model` (CSV text),
        `imts`, `stat` (mean), `grid` (NZ_0_1_NB_1_1), `max_sites` (500), `compute` (false),
        `exposure` (a path or URI; none) and `asset_hazard_distance` (10 km). With an exposure the
        sites are its candidates (up to 50,000); `max_sites` applies to those `keep` keeps."""
        if params.get("model") in (None, ""):
            raise BadRequest("model", "missing: give DEMO or an nzshm-model version such as NSHM_v1.0.4")
        model = load_model(str(params["model"]))
        area = parse_area(params.get("bbox"), params.get("polygon"))
        given_vs30, site_model = params.get("vs30"), params.get("site_model") or ""
        if given_vs30 is not None and site_model:
            raise BadRequest("vs30", "give one VS30 or a site model (each site its own VS30), not both")
        if given_vs30 is None and not site_model:
            raise BadRequest("vs30", "missing: one VS30 in m/s (e.g. 400), or a site model")
        imts = validate_imts(with_other_entries(params).get("imts"), "imts", model=model.name)
        stat = validate_target_stat(params.get("stat", "mean"), "stat")
        most = limits.current().extract_sites
        max_sites = validate_count(params.get("max_sites", min(DEFAULT_MAX_SITES, most)), "max_sites", 1, what="number of sites")
        if max_sites > most:
            raise limits.refuse(
                "max_sites", "sites", max_sites, "extract_sites", most, "split the area into smaller ones (one extract each)"
            )
        compute = validate_flag(params.get("compute", False), "compute")
        exposure = str(params.get("exposure") or "").strip()
        distance = validate_distance(params.get("asset_hazard_distance", DEFAULT_DISTANCE_KM))
        cap, cap_name = (most, "candidate sites for an exposure") if exposure else (max_sites, "max_sites")
        if site_model:
            rows = [r for r in parse_site_model(str(site_model), bounds=model.vs30_range) if area.covers(r[0], r[1])]
            if not rows:
                raise BadRequest("area", f"no site of the site model in the area ({area.text})")
            if len(rows) > cap:
                raise BadRequest("area", f"{len(rows)} sites of the site model in the area, more than {cap_name}={cap}: split it")
            sites = tuple(resolve_sites([site_code(lat, lon) for lat, lon, _ in rows], "site_model"))
            digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
            vs30s = tuple(r[2] for r in rows)
            return cls(model, area, "site_model", sites, vs30s, imts, stat, compute, None, digest, exposure, distance, max_sites)
        (vs30,) = validate_vs30s([given_vs30], "vs30", bounds=model.vs30_range)
        grid = str(params.get("grid") or DEFAULT_GRID)
        sites = tuple(area_sites(area, grid, cap, cap_name))
        return cls(model, area, grid, sites, (vs30,) * len(sites), imts, stat, compute, vs30, "", exposure, distance, max_sites)

    def keep(self, indices: Sequence[int], exposure_digest: str) -> AreaRequest:
        """The request narrowed to the sites at `indices` (those an exposure's assets go to); refuses
        more than `max_sites` of them."""
        if len(indices) > self.max_sites:
            raise BadRequest(
                "max_sites",
                f"{len(indices)} sites of the area have assets of the exposure, more than max_sites={self.max_sites}: "
                "raise max_sites, or split the area",
            )
        sites = tuple(self.sites[i] for i in indices)
        vs30s = tuple(self.vs30s[i] for i in indices)
        return replace(self, sites=sites, vs30s=vs30s, exposure_digest=exposure_digest)

    @property
    def targets(self) -> list[tuple[Site, float]]:
        """(site, VS30) of every site."""
        return list(zip(self.sites, self.vs30s, strict=True))

    @property
    def name(self) -> str:
        """The bundle's name: model, statistic, VS30 (or `site_model`), the exposure's digest and
        distance when given, and a digest of the area, the grid or site model, the IMTs (and the
        exposure): a rerun of the same request rewrites the same bundle."""
        parts: list[Any] = [self.area.to_geojson(), self.grid, self.site_model_digest, list(self.imts)]
        if self.exposure:
            parts += [self.exposure_digest, self.asset_hazard_distance]
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]
        vs30 = f"vs30_{self.vs30:g}" if self.vs30 is not None else "site_model"
        exposure = f"-exposure_{self.exposure_digest[:8]}_{self.asset_hazard_distance:g}km" if self.exposure else ""
        return f"{self.model.name}-{self.stat}-{vs30}{exposure}-{digest}"

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
            "exposure": self.exposure or None, "asset_hazard_distance": self.asset_hazard_distance,
        }  # fmt: skip
