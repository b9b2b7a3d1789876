"""How long an area extract takes to choose its sites for a large exposure: OpenQuake's reader and
association (`hazflow.extract.exposure.select_sites`, in the OpenQuake venv), end to end.

The area is the Wellington region on nzshm-common's 0.01 degree grid `WLG_0_01_nb_1_1` (764 sites,
`--max-sites` raised). The exposure is `--assets` buildings (default 100,000) shaped like a regional
portfolio: most of them clustered around the region's towns (Wellington, Lower Hutt, Porirua, Upper
Hutt, with their own spreads), the rest spread over the region's box, some of them at sea or beyond
10 km of every site. It is written in both of OpenQuake's forms: the CSV form (an XML header naming a
CSV file, what a portfolio of this size comes as) and NRML XML with the assets inline. Each form is
timed twice: a first selection (staging, OpenQuake's start-up and import, reading, association
repeated until every kept site has an asset) and the same selection again, which reads the kept
association back.

    .venv/bin/python bench/exposure_sites.py [--assets 100000] [--forms csv xml]

Prints `key: value` lines: the sites of the area, per form the assets, sites kept, assets discarded,
association rounds, the first selection's seconds and the repeat's. Target (issue 34): <= 10 s for the
first selection of 100,000 assets, OpenQuake's import included.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

# (lon, lat, spread in degrees, share of the assets): the region's towns
TOWNS = ((174.777, -41.289, 0.025, 0.40), (174.905, -41.210, 0.030, 0.22), (174.840, -41.135, 0.025, 0.13),
         (175.070, -41.125, 0.030, 0.10))  # fmt: skip
HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<nrml xmlns="http://openquake.org/xmlns/nrml/0.5">
<exposureModel id="wellington" category="buildings" taxonomySource="bench">
<description>{n} buildings of the Wellington region</description>
<conversions><costTypes><costType name="structural" type="aggregated" unit="NZD"/></costTypes></conversions>
"""


def portfolio(n: int, bounds: tuple[float, float, float, float], seed: int = 34) -> np.ndarray:
    """(n, 2) lon, lat of the buildings: each town's share around it, the rest uniform in `bounds`."""
    rng = np.random.default_rng(seed)
    parts = []
    for lon, lat, spread, share in TOWNS:
        k = int(n * share)
        parts.append(np.column_stack([rng.normal(lon, spread, k), rng.normal(lat, spread * 0.7, k)]))
    rest = n - sum(len(p) for p in parts)
    minlon, minlat, maxlon, maxlat = bounds
    parts.append(np.column_stack([rng.uniform(minlon, maxlon, rest), rng.uniform(minlat, maxlat, rest)]))
    return np.round(np.concatenate(parts), 5)


def write_csv_form(folder: Path, points: np.ndarray) -> Path:
    """The CSV form: exposure.xml naming assets.csv."""
    rows = ["id,lon,lat,taxonomy,number,structural"]
    taxonomies = ("W", "RC", "URM", "S")
    rows += [f"b{i},{lon},{lat},{taxonomies[i % 4]},1,{400_000 + (i % 7) * 50_000}" for i, (lon, lat) in enumerate(points)]
    (folder / "assets.csv").write_text("\n".join(rows) + "\n")
    xml = folder / "exposure.xml"
    xml.write_text(
        HEADER.format(n=len(points)) + "<tagNames></tagNames>\n<assets>assets.csv</assets>\n</exposureModel>\n</nrml>\n"
    )
    return xml


def write_xml_form(folder: Path, points: np.ndarray) -> Path:
    """NRML XML with every asset inline."""
    taxonomies = ("W", "RC", "URM", "S")
    assets = "\n".join(
        f'<asset id="b{i}" number="1" taxonomy="{taxonomies[i % 4]}"><location lon="{lon}" lat="{lat}"/>'
        f'<costs><cost type="structural" value="{400_000 + (i % 7) * 50_000}"/></costs></asset>'
        for i, (lon, lat) in enumerate(points)
    )
    xml = folder / "exposure_inline.xml"
    xml.write_text(HEADER.format(n=len(points)) + f"<assets>\n{assets}\n</assets>\n</exposureModel>\n</nrml>\n")
    return xml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--forms", nargs="+", choices=("csv", "xml"), default=["csv", "xml"])
    parser.add_argument("--distance", type=float, default=10.0, help="asset_hazard_distance, km")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from hazflow.config import Config
    from hazflow.extract.area import bbox_area
    from hazflow.extract.exposure import select_sites
    from hazflow.extract.grid import area_sites

    grid = "WLG_0_01_nb_1_1"
    area = bbox_area([174.6, -41.4, 175.25, -41.0])
    sites = area_sites(area, grid, max_sites=10_000)
    config = Config.from_env()
    # Cold: a task's first selection pays OpenQuake's import either way (in the fresh warm process it
    # starts, or here in the run), and a cold run times it as `of_which_openquake_import`.
    openquake = replace(config.openquake(), warm=False)
    print(f"area: {area.text}, grid {grid}")
    print(f"sites_of_area: {len(sites)}")
    points = portfolio(args.assets, area.bounds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for form in args.forms:
            exposure = (write_csv_form if form == "csv" else write_xml_form)(folder, points)
            work = folder / f"work-{form}"
            start = time.perf_counter()
            selection = select_sites(str(exposure), sites, args.distance, area.text, work, openquake)
            first = time.perf_counter() - start
            start = time.perf_counter()
            again = select_sites(str(exposure), sites, args.distance, area.text, work, openquake)
            repeat = time.perf_counter() - start
            assert again.kept == selection.kept
            print(f"{form}_assets: {selection.assets}")
            print(f"{form}_sites_kept: {len(selection.kept)}")
            print(f"{form}_assets_discarded: {len(selection.discarded)}")
            print(f"{form}_association_rounds: {selection.rounds}")
            print(f"{form}_first_selection_seconds: {first:.2f}")
            for part in ("import", "read", "association"):
                print(f"{form}_of_which_openquake_{part}_seconds: {selection.timings[part]:.2f}")
            print(f"{form}_repeat_selection_seconds: {repeat:.2f}")
    print("target_seconds: 10 (first selection of 100,000 assets, OpenQuake's import included)")


if __name__ == "__main__":
    main()
