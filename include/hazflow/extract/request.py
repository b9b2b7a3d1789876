"""An area-extract request (`python -m hazflow extract`, the `area_extract` DAG), validated before
anything is read: the area, its sites on a grid, the model, one VS30, the IMTs and the statistic.
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
from hazflow.model.logic_tree import HazardModel, load_model
from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.model.sites import Site
from hazflow.plan.fields import validate_count, validate_flag, validate_imts, validate_target_stat, validate_vs30s


@dataclass(frozen=True)
class AreaRequest:
    """The hazard of an area: statistic `stat` of the aggregated curves at `vs30`, for `imts`, at the
    grid's sites in the area."""

    model: HazardModel
    area: Area
    grid: str
    sites: tuple[Site, ...]
    vs30: float
    imts: tuple[str, ...]
    stat: str  # "mean" or a quantile named as the aggregates are ("0.9")
    compute: bool  # compute the hazard of sites that have none, instead of refusing

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> AreaRequest:
        """Validate raw values: `bbox` or `polygon`, `model`, `vs30`, `imts`, `stat` (mean), `grid`
        (NZ_0_1_NB_1_1), `max_sites` (500), `compute` (false)."""
        if params.get("model") in (None, ""):
            raise BadRequest("model", "missing: give DEMO or an nzshm-model version such as NSHM_v1.0.4")
        model = load_model(str(params["model"]))
        area = parse_area(params.get("bbox"), params.get("polygon"))
        if "vs30" not in params:
            raise BadRequest("vs30", "missing: one VS30 in m/s, e.g. 400")
        (vs30,) = validate_vs30s([params["vs30"]], "vs30")
        imts = validate_imts(params.get("imts"), "imts")
        stat = validate_target_stat(params.get("stat", "mean"), "stat")
        grid = str(params.get("grid") or DEFAULT_GRID)
        max_sites = validate_count(params.get("max_sites", DEFAULT_MAX_SITES), "max_sites", 1, what="number of sites")
        compute = validate_flag(params.get("compute", False), "compute")
        sites = tuple(area_sites(area, grid, max_sites))
        return cls(model, area, grid, sites, vs30, imts, stat, compute)

    @property
    def name(self) -> str:
        """The bundle's name: model, statistic, VS30 and a digest of the area, grid and IMTs (a rerun
        of the same request rewrites the same bundle)."""
        key = json.dumps([self.area.to_geojson(), self.grid, list(self.imts)], sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        return f"{self.model.name}-{self.stat}-vs30_{self.vs30:g}-{digest}"

    def hazard_params(self, sites: tuple[Site, ...] | None = None) -> dict[str, Any]:
        """Params of hazard_realizations / hazard_aggregation for `sites` (default: all of the area),
        every leaf; the aggregation stores the NSHM quantiles and the requested one."""
        chosen = self.sites if sites is None else sites
        quantiles = sorted(set(DEFAULT_QUANTILES) | ({float(self.stat)} if self.stat != "mean" else set()))
        return {
            "model": self.model.name, "sites": [s.code for s in chosen], "vs30s": [self.vs30], "imts": list(self.imts),
            "quantiles": quantiles,
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The request as the manifest records it."""
        return {
            "model": self.model.name, "area": self.area.to_geojson(), "area_given_as": self.area.kind, "grid": self.grid,
            "sites": len(self.sites), "vs30": self.vs30, "imts": list(self.imts), "stat": self.stat,
        }  # fmt: skip
