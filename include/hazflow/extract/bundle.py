"""The bundle a risk modeller imports into OpenQuake next to their exposure and vulnerability (or
fragility) model: the hazard of an area and the parameters it came from, nothing else.

    <name>/
      hazard_curves/hazard_curve-<stat>-<IMT>.csv   every site of the area, OpenQuake's CSV layout
      maps/hazard_map-<stat>.csv, -<IMT>.png        each site's level at 10 % and 2 % in 50 years, and its map
      site_model.csv                                the sites with their VS30 (and z1pt0, z2pt5, backarc)
      job_risk.ini                                  classical_risk template reading the curves
      job_damage.ini                                classical_damage template reading the curves
      README.md                                     what is here and how to run it
      manifest.json                                 provenance: model, leaves, GMM branches, OpenQuake
                                                    version, settings and job-keys digests, statistic
    <name>.zip                                      the same, zipped

Every curve is checked present before anything is written; the folder is written under a hidden
staging name and then renamed, so a failure leaves no half-written bundle and a rerun replaces it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hazflow import __version__
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.extract.curves import curve_file_name, write_hazard_curves_csv
from hazflow.extract.request import AreaRequest
from hazflow.model.sites import Site
from hazflow.openquake.render import site_model
from hazflow.plan.imtl import level_at_poe
from hazflow.store import HazardAggregate, Store

logger = logging.getLogger(__name__)

CurvesByImt = dict[str, list[tuple[Site, HazardAggregate]]]


@dataclass
class BundleManifest:
    """What a bundle holds and where its numbers come from (also `manifest.json`)."""

    name: str
    request: dict[str, Any]
    sites: list[dict[str, Any]]
    investigation_time: float
    files: list[str]
    provenance: dict[str, Any]
    gmm_branches: dict[str, list[dict[str, Any]]]
    generated_by: str = f"hazflow {__version__}"
    folder: str = ""
    zip: str = ""
    computed: dict[str, Any] = field(default_factory=dict)  # what --compute ran first (jobs, targets)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def missing_hazard(request: AreaRequest, store: Store) -> dict[str, list[str]]:
    """Site code -> the IMTs whose `stat` curve at the request's VS30 is not stored (empty: none missing)."""
    missing: dict[str, list[str]] = {}
    for site, vs30 in request.targets:
        stored = {a.imt for a in store.get_hazard_aggregates(request.model.name, site.code, vs30, agg=request.stat)}
        lacking = [imt for imt in request.imts if imt not in stored]
        if lacking:
            missing[site.code] = lacking
    return missing


def collect_curves(request: AreaRequest, store: Store) -> CurvesByImt:
    """Every site's `stat` curve of each IMT; refuses, listing the sites, when any is missing."""
    curves: CurvesByImt = {imt: [] for imt in request.imts}
    missing: list[str] = []
    for site, vs30 in request.targets:
        rows = {a.imt: a for a in store.get_hazard_aggregates(request.model.name, site.code, vs30, agg=request.stat)}
        lacking = [imt for imt in request.imts if imt not in rows]
        if lacking:
            missing.append(f"{site.code}{'' if request.vs30 else f' vs30={vs30:g}'} ({', '.join(lacking)})")
        for imt in request.imts:
            if imt in rows:
                curves[imt].append((site, rows[imt]))
    if missing:
        _refuse_missing(request, store, curves, missing)
    return curves


def _refuse_missing(request: AreaRequest, store: Store, curves: CurvesByImt, missing: list[str]) -> None:
    model, stat, vs30 = request.model.name, request.stat, _vs30_text(request)
    if not any(curves.values()):  # nothing of this statistic anywhere: a wrong stat, or no hazard at all here
        others = sorted({a.agg for s, v in request.targets[:20] for a in store.get_hazard_aggregates(model, s.code, v)})
        if others:
            raise BadRequest("stat", f"no {stat!r} curves stored for the area's sites; stored statistics are {', '.join(others)}")
    for imt, rows in curves.items():
        if not rows and len(request.imts) > 1 and any(curves.values()):
            raise BadRequest("imts", f"no {stat} curves of {imt} at any site of the area ({vs30}): leave it out, or compute it")
    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
    raise DataIntegrityError(
        f"{len(missing)} of {len(request.sites)} site(s) of the area have no aggregated {stat} hazard curve "
        f"of {model} at {vs30}: {shown}. Run with compute (--compute) to run hazard_realizations and "
        "hazard_aggregation for exactly those sites first"
    )


def _vs30_text(request: AreaRequest) -> str:
    return f"VS30 {request.vs30:g} m/s" if request.vs30 is not None else "each site's VS30 (site model)"


def _sites_text(request: AreaRequest) -> str:
    return "the site model" if request.vs30 is None else f"grid `{request.grid}`"


def _site_model(request: AreaRequest) -> str:
    """OpenQuake's site-model CSV of the sites, each at its VS30 (as the hazard runs rendered it)."""
    rows = [site_model(vs30, (site,)).splitlines() for site, vs30 in request.targets]
    return "\n".join([rows[0][0], *(r[1] for r in rows)]) + "\n"


def _hazard_map(request: AreaRequest, curves: CurvesByImt, investigation_time: float, folder: Path) -> list[str]:
    """`hazard_map-<stat>.csv` (each site's level, g, at 10 % and 2 % in 50 years, per IMT; empty
    where the curve does not reach the PoE) and a map per IMT (`hazard_map-<stat>-<IMT>.png`)."""
    from hazflow.report.plots import TARGET_POES, plot_area_map

    kind = request.stat if request.stat == "mean" else f"quantile-{request.stat}"
    table: dict[str, list[Any]] = {
        "lon": [s.lon for s in request.sites],
        "lat": [s.lat for s in request.sites],
        "vs30": list(request.vs30s),
    }
    outline = list(request.area.geometry.exterior.coords)
    files = []
    for imt in request.imts:
        levels = np.full((len(request.sites), len(TARGET_POES)), np.nan)
        for i, (_, curve) in enumerate(curves[imt]):
            annual = -np.expm1(np.log1p(-np.clip(curve.values, 0, 1 - 1e-15)) / investigation_time)
            for j, poe in enumerate(TARGET_POES):
                try:
                    levels[i, j] = level_at_poe(curve.levels, annual, poe)
                except BadRequest:  # the curve does not reach this PoE: left empty, drawn as a cross
                    pass
        for j, poe in enumerate(TARGET_POES):
            table[f"{imt}-{poe:g}in50"] = [f"{v:.6g}" if np.isfinite(v) else "" for v in levels[:, j]]
        title = f"{request.model.name} {request.stat} {imt}, {_vs30_text(request)}: the level of each site"
        name = f"maps/hazard_map-{kind}-{imt}.png"
        plot_area_map(imt, [(s.lon, s.lat) for s in request.sites], levels, outline, title, folder / name)
        files.append(name)
    csv_name = f"maps/hazard_map-{kind}.csv"
    columns = list(table)
    rows = [",".join(columns)] + [",".join(str(table[c][i]) for c in columns) for i in range(len(request.sites))]
    (folder / csv_name).write_text("\n".join(rows) + "\n")
    return [csv_name, *files]


def _provenance(curves: CurvesByImt) -> dict[str, Any]:
    """What the curves were computed from, as distinct values (with how many curves have each)."""
    seen: dict[str, Counter[str]] = {}
    for rows in curves.values():
        for _, curve in rows:
            prov = json.loads(curve.provenance or "{}")
            for key in ("oq_version", "settings_digest", "job_keys_digest", "method", "renormalised", "leaves", "composites"):
                value = prov.get(key)
                text = json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)
                seen.setdefault(key, Counter())[text] += 1
    return {key: dict(counts) for key, counts in seen.items()}


def _gmm_branches(request: AreaRequest) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for branch in request.model.gmm_branches:
        out.setdefault(branch.trt, []).append({"gmm": branch.id, "weight": branch.weight})
    return out


def _ini(request: AreaRequest, curve_files: list[str], investigation_time: float, mode: str) -> str:
    """A classical_risk (`mode` risk) or classical_damage (`mode` damage) job reading the bundle's curves."""
    risk_file, what = (
        ("structural_vulnerability_file = vulnerability.xml", "vulnerability")
        if mode == "risk"
        else ("structural_fragility_file = fragility.xml", "fragility")
    )
    lines = [
        f"# classical_{mode} on hazflow's {request.model.name} {request.stat} hazard at {_vs30_text(request)},",
        f"# {len(request.sites)} sites of {_sites_text(request)} in {request.area.text[:200]}",
        "# (manifest.json says where every number comes from). Put your exposure.xml and",
        f"# {what}.xml beside this file (or change the two names), then: oq engine --run job_{mode}.ini",
        "",
        "[general]",
        f"description = classical_{mode}: {request.model.name} {request.stat} hazard, {_vs30_text(request)}, {request.name}",
        f"calculation_mode = classical_{mode}",
        "",
        "[hazard]",
        "# Precomputed hazard curves, one file per IMT. Their levels (g) are in the files' poe-<level> columns:",
        f"# {', '.join(request.imts)}; {what} functions must use these IMTs within the levels' range.",
        f"hazard_curves_file = {' '.join(curve_files)}",
        f"investigation_time = {investigation_time!r}",
        "# The sites come from the curves; site_model.csv has their VS30 and depths, for reference only:",
        "# OpenQuake refuses a site_model_file beside hazard_curves_file.",
        "",
        "[exposure]",
        "exposure_file = exposure.xml",
        "# assets further than this (km) from every site of the area are left out, with a warning",
        "asset_hazard_distance = 10",
        "",
        f"[{what}]",
        risk_file,
        "",
        "[risk]",
        "# the period the results are for (years); the curves' own period is investigation_time",
        f"risk_investigation_time = {50.0 if mode == 'risk' else 1.0!r}",
    ]
    if mode == "risk":
        lines += ["conditional_loss_poes = 0.1 0.02", "lrem_steps_per_interval = 5"]
    return "\n".join(lines) + "\n"


def _readme(request: AreaRequest, manifest: BundleManifest) -> str:
    imts = ", ".join(request.imts)
    return f"""# Hazard of an area: {request.model.name}, {request.stat}, {_vs30_text(request)}

{len(request.sites)} sites of {_sites_text(request)} in {request.area.text[:300]}, IMTs {imts}, written by
{manifest.generated_by}. Curves are probabilities of exceeding each level (g) in
{manifest.investigation_time:g} year(s), the `{request.stat}` of the model's aggregated hazard over its logic tree.

| file | what |
| --- | --- |
| `hazard_curves/*.csv` | one file per IMT, every site; OpenQuake's hazard-curve CSV layout |
| `maps/` | each site's level (g) at 10 % and 2 % in 50 years per IMT (`hazard_map-*.csv`), and a map per IMT |
| `site_model.csv` | the sites, their VS30, z1pt0, z2pt5 and back-arc flag |
| `job_risk.ini` | a classical_risk job reading the curves (needs your `exposure.xml`, `vulnerability.xml`) |
| `job_damage.ini` | a classical_damage job reading the curves (needs your `exposure.xml`, `fragility.xml`) |
| `manifest.json` | provenance: model, leaves, GMM branches and weights, OpenQuake version, settings and job-keys digests, statistic |

To run: put your exposure and vulnerability (or fragility) model beside the ini files, under the names they
give (or edit them), then `oq engine --run job_risk.ini` (or `job_damage.ini`). Assets further than
`asset_hazard_distance` km from every site are left out: use a finer grid, or a wider area, if OpenQuake warns.
"""


def write_bundle(request: AreaRequest, store: Store, parent: Path) -> BundleManifest:
    """Write the request's bundle as `parent/<name>/` and `parent/<name>.zip` (replacing a previous one)."""
    curves = collect_curves(request, store)  # refuses before anything is written
    investigation_time = request.model.settings.investigation_time
    parent.mkdir(parents=True, exist_ok=True)
    folder, staging = parent / request.name, parent / f".{request.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        curve_files = []
        for imt in request.imts:
            path = staging / "hazard_curves" / curve_file_name(request.stat, imt)
            write_hazard_curves_csv(curves[imt], path, investigation_time)
            curve_files.append(str(path.relative_to(staging)))
        (staging / "site_model.csv").write_text(_site_model(request))
        map_files = _hazard_map(request, curves, investigation_time, staging)
        for mode in ("risk", "damage"):
            (staging / f"job_{mode}.ini").write_text(_ini(request, curve_files, investigation_time, mode))
        manifest = BundleManifest(
            name=request.name,
            request=request.to_dict(),
            sites=[{"code": s.code, "lat": s.lat, "lon": s.lon, "vs30": v, "backarc": s.backarc} for s, v in request.targets],
            investigation_time=investigation_time,
            files=[*curve_files, *map_files, "site_model.csv", "job_risk.ini", "job_damage.ini", "README.md", "manifest.json"],
            provenance=_provenance(curves),
            gmm_branches=_gmm_branches(request),
        )
        (staging / "README.md").write_text(_readme(request, manifest))
        (staging / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=1))
        zipped = parent / f".{request.name}.zip.partial"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
            for rel in manifest.files:
                z.write(staging / rel, f"{request.name}/{rel}")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
        os.replace(zipped, parent / f"{request.name}.zip")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        (parent / f".{request.name}.zip.partial").unlink(missing_ok=True)
        raise
    manifest.folder, manifest.zip = str(folder), str(parent / f"{request.name}.zip")
    logger.info(
        "bundle %s: %d site(s) x %d IMT(s) of %s %s at %s in %s",
        request.name, len(request.sites), len(request.imts), request.model.name, request.stat, _vs30_text(request), folder,
    )  # fmt: skip
    return manifest
