"""`extract`: the hazard of an area (bounding box or GeoJSON polygon) as a bundle OpenQuake's
classical_risk and classical_damage import, as the `area_extract` DAG makes it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hazflow.cli.output import Output
from hazflow.config import Config


def extract(args: argparse.Namespace, config: Config) -> Output:
    """Compute what is missing (with --compute), then write the bundle folder and zip under --dest."""
    from hazflow.extract.area import read_polygon
    from hazflow.extract.site_model import read_site_model
    from hazflow.steps.area_extract import extract_area

    vs30 = args.vs30 if args.vs30 is not None or args.site_model else 400.0
    params: dict[str, Any] = {
        "model": args.model, "vs30": vs30, "imts": args.imts, "stat": args.stat, "grid": args.grid,
        "max_sites": args.max_sites, "compute": args.compute, "bbox": args.bbox, "exposure": args.exposure,
        "asset_hazard_distance": args.asset_hazard_distance,
    }  # fmt: skip
    if args.site_model:
        params["site_model"] = read_site_model(Path(args.site_model))
    if args.polygon:
        params["polygon"] = read_polygon(Path(args.polygon)).to_geojson()
    manifest = extract_area(params, config, Path(args.dest))
    lines = [
        f"{len(manifest.sites)} site(s) x {len(manifest.request['imts'])} IMT(s), {manifest.request['stat']} at VS30 "
        f"{manifest.request['vs30']}, in {manifest.folder}",
        f"zip: {manifest.zip}",
    ]
    if manifest.computed:
        c = manifest.computed
        lines.append(
            f"computed first: {c['sites']} site(s), {c['jobs']} classical job(s), {c['openquake_runs']} OpenQuake run(s)"
        )
    if manifest.exposure:
        e = manifest.exposure
        lines.append(
            f"exposure {e['source']}: {e['assets_kept']} of {e['assets']} asset(s) at {e['sites_kept']} site(s) "
            f"within {e['asset_hazard_distance_km']:g} km"
            + (f"; {len(e['discarded'])} farther from every site (listed in manifest.json)" if e["discarded"] else "")
        )
        lines.append("next: put vulnerability.xml (or fragility.xml) in the folder, then oq engine --run job_risk.ini")
    else:
        lines.append(
            "next: put exposure.xml and vulnerability.xml (or fragility.xml) in the folder, then oq engine --run job_risk.ini"
            " (every site needs an asset: see README.md, or make the bundle with --exposure)"
        )
    return Output(manifest.to_dict(), "\n".join(lines))


def add_commands(sub: argparse._SubParsersAction) -> None:
    from hazflow.extract.exposure import DEFAULT_DISTANCE_KM
    from hazflow.extract.grid import DEFAULT_GRID, DEFAULT_MAX_SITES

    p = sub.add_parser("extract", help="the hazard of an area as an OpenQuake classical_risk / classical_damage bundle")
    area = p.add_mutually_exclusive_group(required=True)
    area.add_argument("--bbox", nargs=4, type=float, metavar=("MINLON", "MINLAT", "MAXLON", "MAXLAT"), help="degrees")
    area.add_argument("--polygon", metavar="AREA.geojson", help="a GeoJSON Polygon, Feature or one-feature FeatureCollection")
    p.add_argument("--model", default="DEMO", help="DEMO or an nzshm-model version such as NSHM_v1.0.4")
    p.add_argument("--vs30", type=float, default=None, help="m/s, every site (default 400)")
    p.add_argument(
        "--site-model",
        metavar="SITES.csv",
        help="instead of --vs30 and --grid: OpenQuake's site-model CSV (lon,lat,vs30), its rows in the area",
    )
    p.add_argument("--imts", nargs="+", default=["PGA", "SA(0.5)"])
    p.add_argument("--stat", default="mean", help="mean or a stored quantile such as 0.9")
    p.add_argument(
        "--grid", default=DEFAULT_GRID, help=f"an nzshm-common grid name or a resolution in degrees (default {DEFAULT_GRID})"
    )
    p.add_argument("--max-sites", type=int, default=DEFAULT_MAX_SITES, help="refuse a larger area (split it)")
    p.add_argument(
        "--compute", action="store_true", help="run hazard_realizations and hazard_aggregation for sites without curves"
    )
    p.add_argument(
        "--exposure",
        metavar="EXPOSURE.xml",
        help="an OpenQuake exposure (NRML XML, or the CSV form's XML): keep only the sites its assets go to, and copy it in",
    )
    p.add_argument(
        "--asset-hazard-distance",
        type=float,
        default=DEFAULT_DISTANCE_KM,
        metavar="KM",
        help=f"the bundle's asset_hazard_distance (default {DEFAULT_DISTANCE_KM:g})",
    )
    p.add_argument("--dest", required=True, help="folder to write <bundle>/ and <bundle>.zip under")
    p.set_defaults(func=extract)
