"""The bundle a risk modeller imports into OpenQuake next to their exposure and vulnerability (or
fragility) model: the hazard of an area and the parameters it came from, nothing else.

    <name>/
      hazard_curves/hazard_curve-<stat>-<IMT>.csv   every site of the area, OpenQuake's CSV layout
      maps/hazard_map-<stat>.csv, -<IMT>.png        each site's level at 10 % and 2 % in 50 years, and its map
      site_model.csv                                the sites with their VS30 (and z1pt0, z2pt5, backarc),
                                                    each with a unique id of at most 8 bytes (`bundle_site_ids`)
      exposure/                                     with an exposure: its copy (the XML and its CSV files),
                                                    which the ini files read
      job_risk.ini                                  classical_risk template reading the curves
      job_damage.ini                                classical_damage template reading the curves
      README.md                                     what is here and how to run it
      manifest.json                                 provenance: model, leaves, GMM branches, OpenQuake
                                                    version, settings and job-keys digests, statistic
    <name>.zip                                      the same, zipped

With an exposure the sites are those OpenQuake gives its assets to (`hazflow.extract.exposure`):
OpenQuake 3.26.2's risk calculators fail on a curves file with a site without assets.

Every curve is checked present before anything is written; the bundle is written under hidden
staging names of its writer's own, then its files are renamed into the folder one by one (the
manifest last) and the zip is renamed into place: a failure leaves no half-written file, a rerun
replaces the bundle, and two writers of one bundle do not clobber each other's staging.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hazflow import __version__
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.extract.curves import curve_file_name, write_hazard_curves_csv
from hazflow.extract.exposure import ExposureSelection
from hazflow.extract.request import AreaRequest
from hazflow.model.sites import Site
from hazflow.openquake.render import site_model
from hazflow.plan.imtl import level_at_poe
from hazflow.store import HazardAggregate, Store

logger = logging.getLogger(__name__)

CurvesByImt = dict[str, list[tuple[Site, HazardAggregate]]]

# Where the store keeps the bundles of area_extract: `extracts/<model>/<name>/versions/<version>/`,
# and `CURRENT.json`, the pointer to the whole version a reader follows (hazflow.steps.area_extract)
KEPT_PREFIX = "extracts"
KEPT_POINTER = "CURRENT.json"


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
    exposure: dict[str, Any] | None = None  # the exposure the sites were chosen for (ExposureSelection.to_dict)

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
    sites = "the site model" if request.vs30 is None else f"grid `{request.grid}`"
    return sites + (" with assets of the exposure" if request.exposure else "")


SITE_ID_BYTES = 8  # OpenQuake keeps custom_site_id as 8 bytes


def bundle_site_ids(sites: Sequence[Site]) -> list[str]:
    """An id per site, unique in the bundle and at most 8 bytes: a named site's own id (WLG) when it
    fits and is not taken, else `s` and the site's position (`s001`, ...). Only for the bundle: the
    site model of hazard jobs keeps its ids, so job keys do not change.

    >>> from hazflow.model.sites import resolve_sites
    >>> bundle_site_ids(resolve_sites(["WLG", "-41.300~174.700", "-41.300~174.800"]))
    ['WLG', 's2', 's3']
    """
    width = len(str(len(sites)))
    named = [s.id if s.id != s.code and len(s.id.encode()) <= SITE_ID_BYTES else "" for s in sites]
    taken = {n for n in named if named.count(n) == 1 and n}
    ids: list[str] = []
    for i, name in enumerate(named, start=1):
        if name in taken:
            ids.append(name)
            continue
        candidate, bump = f"s{i:0{width}d}", 0
        while candidate in taken:  # a named site already called s12: another number
            bump += 1
            candidate = f"s{len(sites) + bump:0{width}d}"
        taken.add(candidate)
        ids.append(candidate)
    assert all(len(i.encode()) <= SITE_ID_BYTES for i in ids), ids  # 7 digits: up to 9,999,999 sites
    return ids


def _site_model(request: AreaRequest, ids: Sequence[str]) -> str:
    """OpenQuake's site-model CSV of the sites, each at its VS30 (as the hazard runs rendered it), with
    the bundle's site ids."""
    rows = [site_model(vs30, (site,)).splitlines() for site, vs30 in request.targets]
    body = [f"{r[1].rsplit(',', 1)[0]},{site_id}" for r, site_id in zip(rows, ids, strict=True)]
    return "\n".join([rows[0][0], *body]) + "\n"


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


def _ini(
    request: AreaRequest, curve_files: list[str], investigation_time: float, mode: str, exposure: ExposureSelection | None
) -> str:
    """A classical_risk (`mode` risk) or classical_damage (`mode` damage) job reading the bundle's curves
    (and the bundle's copy of the exposure, when it was made for one)."""
    risk_file, what = (
        ("structural_vulnerability_file = vulnerability.xml", "vulnerability")
        if mode == "risk"
        else ("structural_fragility_file = fragility.xml", "fragility")
    )
    lines = [
        f"# classical_{mode} on hazflow's {request.model.name} {request.stat} hazard at {_vs30_text(request)},",
        f"# {len(request.sites)} site(s) of {_sites_text(request)} in {request.area.text[:200]}",
        "# (manifest.json says where every number comes from). "
        + (
            f"Put your {what}.xml beside this file, then: oq engine --run job_{mode}.ini"
            if exposure
            else f"Put your exposure.xml and\n# {what}.xml beside this file (or change the two names), then: "
            f"oq engine --run job_{mode}.ini"
        ),
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
        *_exposure_lines(request, exposure),
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


def _exposure_lines(request: AreaRequest, exposure: ExposureSelection | None) -> list[str]:
    distance = f"asset_hazard_distance = {request.asset_hazard_distance:g}"
    if exposure is None:
        return [
            "exposure_file = exposure.xml",
            "# OpenQuake 3.26.2 needs an asset within this distance (km) of EVERY site of the curves file (else",
            "# KeyError in getters.py); an extract made with --exposure keeps only the sites your assets go to.",
            "# An asset farther than it from every site stops the job, unless discard_assets = true.",
            distance,
        ]
    lines = [
        f"exposure_file = exposure/{exposure.exposure.xml}",
        f"# the sites are those OpenQuake gives these {exposure.assets} asset(s) to within this distance (km)",
        distance,
    ]
    if exposure.discarded:
        lines += [
            f"# {len(exposure.discarded)} asset(s) are farther than that from every site (manifest.json lists them):",
            "discard_assets = true",
        ]
    return lines


def _readme(request: AreaRequest, manifest: BundleManifest, exposure: ExposureSelection | None) -> str:
    imts = ", ".join(request.imts)
    return f"""# Hazard of an area: {request.model.name}, {request.stat}, {_vs30_text(request)}

{len(request.sites)} site(s) of {_sites_text(request)} in {request.area.text[:300]}, IMTs {imts}, written by
{manifest.generated_by}. Curves are probabilities of exceeding each level (g) in
{manifest.investigation_time:g} year(s), the `{request.stat}` of the model's aggregated hazard over its logic tree.

| file | what |
| --- | --- |
| `hazard_curves/*.csv` | one file per IMT, every site; OpenQuake's hazard-curve CSV layout |
| `maps/` | each site's level (g) at 10 % and 2 % in 50 years per IMT (`hazard_map-*.csv`), and a map per IMT |
| `site_model.csv` | the sites, their VS30, z1pt0, z2pt5 and back-arc flag |
{_readme_files(exposure)}| `manifest.json` | provenance: model, leaves, GMM branches and weights, OpenQuake version, settings and job-keys digests, statistic; the site ids of `site_model.csv` |

{_readme_exposure(request, exposure)}
The vulnerability (or fragility) model is yours: hazflow does not check that every taxonomy of the exposure
has a function, nor that the functions' IMTs and levels suit these curves. OpenQuake does, when it runs.
"""


def _readme_files(exposure: ExposureSelection | None) -> str:
    if exposure is None:
        return (
            "| `job_risk.ini` | a classical_risk job reading the curves (needs your `exposure.xml`, `vulnerability.xml`) |\n"
            "| `job_damage.ini` | a classical_damage job reading the curves (needs your `exposure.xml`, `fragility.xml`) |\n"
        )
    files = ", ".join(f"`{f}`" for f in exposure.to_dict()["files"])
    return (
        f"| `exposure/` | a copy of the exposure the sites were chosen for ({files}) |\n"
        "| `job_risk.ini` | a classical_risk job reading the curves and the exposure (needs your `vulnerability.xml`) |\n"
        "| `job_damage.ini` | a classical_damage job reading the curves and the exposure (needs your `fragility.xml`) |\n"
    )


def _readme_exposure(request: AreaRequest, exposure: ExposureSelection | None) -> str:
    distance = f"{request.asset_hazard_distance:g} km"
    if exposure is None:
        area = (
            f"--bbox {' '.join(f'{b:g}' for b in request.area.bounds)}"
            if request.area.kind == "bbox"
            else "--polygon AREA.geojson"
        )
        return f"""To run: put your exposure and vulnerability (or fragility) model beside the ini files, under the names they
give (or edit them), then `oq engine --run job_risk.ini` (or `job_damage.ini`).

**Every site needs an asset.** OpenQuake 3.26.2 (classical_risk and classical_damage from a hazard-curves
file) fails with `KeyError` in `getters.py` when a site of the curves file has no asset within
`asset_hazard_distance` ({distance}). This bundle holds every site of the area, so it runs only with an
exposure that has an asset near each of its {len(request.sites)} sites. For a real exposure, which covers some
of the area, make the bundle for it: hazflow then keeps exactly the sites OpenQuake gives its assets to,
and copies the exposure in:

    python -m hazflow extract {area} --model {request.model.name} --imts {" ".join(request.imts)} --stat {request.stat} --exposure exposure.xml

An asset farther than `asset_hazard_distance` from every site also stops the job, unless `discard_assets = true`.
"""
    text = f"""To run: put your vulnerability (or fragility) model beside the ini files, under the name they give (or
edit them), then `oq engine --run job_risk.ini` (or `job_damage.ini`).

**Made for an exposure.** `{exposure.exposure.source}` (digest {exposure.exposure.digest}, {exposure.assets} asset(s)),
copied in `exposure/`. These {len(request.sites)} site(s) are exactly those OpenQuake assigns its assets to within
{distance} (its own reader and association, repeated until every site kept has an asset): OpenQuake 3.26.2 fails
on a curves file with a site without assets. Each site's assets are counted in `manifest.json`.
"""
    if exposure.discarded:
        shown = "\n".join(f"| {a['id']} | {a['lon']:g} | {a['lat']:g} |" for a in exposure.discarded[:20])
        more = (
            f"\n\n... and {len(exposure.discarded) - 20} more (all in `manifest.json`)." if len(exposure.discarded) > 20 else ""
        )
        text += f"""
**{len(exposure.discarded)} asset(s) are farther than {distance} from every site of the area** and get no hazard: the
ini files set `discard_assets = true` so that OpenQuake runs without them. Widen the area, or raise
`asset_hazard_distance`, to include them:

| asset | lon | lat |
| --- | --- | --- |
{shown}{more}
"""
    return text


def swap_in(staging: Path, folder: Path, files: Sequence[str]) -> None:
    """Move each of `files` (relative paths, the manifest last) from `staging` into `folder` by an
    atomic rename, then drop what `folder` held beyond them: the folder is never missing, and each
    file is whole, the old one or the new one."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel in files:
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, target)
    kept = {folder / rel for rel in files}
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):  # files, then emptied folders
        if path.is_file() and path not in kept:
            path.unlink(missing_ok=True)
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def write_bundle(request: AreaRequest, store: Store, parent: Path, exposure: ExposureSelection | None = None) -> BundleManifest:
    """Write the request's bundle as `parent/<name>/` and `parent/<name>.zip` (replacing a previous one);
    with `exposure` (the request narrowed to its sites), a copy of it, which the ini files read."""
    curves = collect_curves(request, store)  # refuses before anything is written
    investigation_time = request.model.settings.investigation_time
    parent.mkdir(parents=True, exist_ok=True)
    writer = f"{os.getpid()}.{uuid.uuid4().hex[:12]}"  # staging names of this writer only
    folder, staging = parent / request.name, parent / f".{request.name}.{writer}.partial"
    zipped = parent / f".{request.name}.{writer}.zip.partial"
    try:
        curve_files = []
        for imt in request.imts:
            path = staging / "hazard_curves" / curve_file_name(request.stat, imt)
            write_hazard_curves_csv(curves[imt], path, investigation_time)
            curve_files.append(str(path.relative_to(staging)))
        ids = bundle_site_ids(request.sites)
        (staging / "site_model.csv").write_text(_site_model(request, ids))
        map_files = _hazard_map(request, curves, investigation_time, staging)
        for mode in ("risk", "damage"):
            (staging / f"job_{mode}.ini").write_text(_ini(request, curve_files, investigation_time, mode, exposure))
        exposure_files = []
        if exposure is not None:
            (staging / "exposure").mkdir()
            for name in exposure.exposure.files:
                shutil.copyfile(exposure.exposure.folder / name, staging / "exposure" / name)
                exposure_files.append(f"exposure/{name}")
        sites = [
            {"code": s.code, "site_id": i, "lat": s.lat, "lon": s.lon, "vs30": v, "backarc": s.backarc}
            for (s, v), i in zip(request.targets, ids, strict=True)
        ]
        if exposure is not None:
            for site, count in zip(sites, exposure.assets_per_site, strict=True):
                site["assets"] = count
        manifest = BundleManifest(
            name=request.name,
            request=request.to_dict(),
            sites=sites,
            investigation_time=investigation_time,
            files=[
                *curve_files,
                *map_files,
                "site_model.csv",
                *exposure_files,
                "job_risk.ini",
                "job_damage.ini",
                "README.md",
                "manifest.json",
            ],  # fmt: skip
            provenance=_provenance(curves),
            gmm_branches=_gmm_branches(request),
            exposure=exposure.to_dict() if exposure is not None else None,
        )
        (staging / "README.md").write_text(_readme(request, manifest, exposure))
        (staging / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=1))
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
            for rel in manifest.files:
                z.write(staging / rel, f"{request.name}/{rel}")
        swap_in(staging, folder, manifest.files)
        os.replace(zipped, parent / f"{request.name}.zip")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        zipped.unlink(missing_ok=True)
    manifest.folder, manifest.zip = str(folder), str(parent / f"{request.name}.zip")
    logger.info(
        "bundle %s: %d site(s) x %d IMT(s) of %s %s at %s in %s",
        request.name, len(request.sites), len(request.imts), request.model.name, request.stat, _vs30_text(request), folder,
    )  # fmt: skip
    return manifest
