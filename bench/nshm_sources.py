"""Write NSHM-format source archives that OpenQuake reads as it reads NSHM's own, named by the toshi
ids of the leaves they stand for, so that `NSHM_v1.0.4` with `HAZFLOW_NSHM_SOURCES=DIR` runs unchanged.

    python bench/nshm_sources.py --dest DIR [--scale test|nshm] [--leaves PUY-1 HIK-1 CRU-1 SLAB-1]

What each archive holds (docs/NSHM_SOURCES.md says where each detail comes from, and what is a guess):

- an inversion archive (a leaf's `InversionSource`): `<stem>-ruptures.xml`, one `multiFaultSource`
  whose ruptures are in the companion `<stem>-ruptures.hdf5` (OpenQuake's layout: a group per source
  id with `mag`, `rake`, `probs_occur` (n, 2) and `rupture_idxs`, the section ids of each rupture);
  and `<stem>-ruptures_sections.xml`, a `geometryModel` of kite-surface fault sections named
  `<parent fault>, Subsection <k>` (OpenSHA's subsection naming);
- a distributed archive (`DistributedSource`): `<stem>-background.xml`, one `multiPointSource` of
  gridded seismicity (truncated Gutenberg-Richter at every point).

Sizes: `test` runs in seconds a job; `nshm` is one leaf per fault system at NSHM's published order
of sections, ruptures, sections per rupture and background points (FIELD_NOTES.md). Deterministic:
the same arguments write the same bytes (zip members carry a fixed time stamp).
"""

from __future__ import annotations

import argparse
import io
import logging
import math
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger("bench.nshm_sources")

DEFAULT_LEAVES = ("PUY-1", "HIK-1", "CRU-1", "SLAB-1")
SCALES = ("test", "nshm")
NRML = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<nrml xmlns:gml="http://www.opengis.net/gml" xmlns="http://openquake.org/xmlns/nrml/0.5">\n'
)
ZIP_TIME = (2022, 10, 1, 0, 0, 0)
KM_PER_DEG_LAT = 110.57
LAND = (166.5, 178.5, -47.3, -34.5)  # lon, lon, lat, lat: where `nshm`-size crustal faults are drawn


@dataclass(frozen=True)
class Section:
    """One fault section: a kite surface of two down-dip profiles, (lon, lat, depth km) each end."""

    id: int
    name: str
    profiles: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...]


@dataclass(frozen=True)
class Ruptures:
    """Ruptures of one multiFaultSource: magnitudes, rakes, annual rates and section ids."""

    mags: np.ndarray
    rakes: np.ndarray
    rates: np.ndarray
    sections: list[list[int]]


def _offset(lon: float, lat: float, azimuth_deg: float, km: float) -> tuple[float, float]:
    """The point `km` from (lon, lat) towards `azimuth_deg` (flat earth: sections are km long)."""
    az = math.radians(azimuth_deg)
    dlat = km * math.cos(az) / KM_PER_DEG_LAT
    dlon = km * math.sin(az) / (111.32 * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


def fault_sections(
    parent: str, start: tuple[float, float], strike: float, length_km: float, dip: float, top: float, bottom: float,
    first_id: int, sub_km: float,
) -> list[Section]:  # fmt: skip
    """A straight fault cut into subsections of about `sub_km` along strike, dipping to the right of strike."""
    n = max(1, round(length_km / sub_km))
    step = length_km / n
    horizontal = (bottom - top) / math.tan(math.radians(dip))
    out = []
    lon, lat = start
    for k in range(n):
        ends = [(lon, lat), _offset(lon, lat, strike, step)]
        profiles = []
        for elon, elat in ends:
            tlon, tlat = _offset(elon, elat, strike + 90.0, top / math.tan(math.radians(dip)))
            blon, blat = _offset(elon, elat, strike + 90.0, horizontal + top / math.tan(math.radians(dip)))
            profiles.append(((tlon, tlat, top), (blon, blat, bottom)))
        out.append(Section(first_id + k, f"{parent}, Subsection {k}", tuple(profiles)))
        lon, lat = ends[1]
    return out


def interface_tiles(
    name: str, start: tuple[float, float], strike: float, along: int, down: int, tile_km: float, dip: float, top: float,
) -> list[list[Section]]:  # fmt: skip
    """A subduction interface as rows (down dip) of tiles (along strike), each a section."""
    rows = []
    sid = 0
    dz = tile_km * math.sin(math.radians(dip))
    dh = tile_km * math.cos(math.radians(dip))
    for row in range(down):
        lon0, lat0 = _offset(*start, strike + 90.0, row * dh)
        z0 = top + row * dz
        tiles = []
        for col in range(along):
            a = _offset(lon0, lat0, strike, col * tile_km)
            b = _offset(lon0, lat0, strike, (col + 1) * tile_km)
            profiles = tuple(((x, y, z0), (*_offset(x, y, strike + 90.0, dh), z0 + dz)) for x, y in (a, b))
            tiles.append(Section(sid, f"{name}, Subsection {sid}", profiles))
            sid += 1
        rows.append(tiles)
    return rows


def magnitude(area_km2: np.ndarray, c: float) -> np.ndarray:
    """Mw = log10(area) + c (the area-magnitude form NSHM's inversions use; c per fault system)."""
    return np.log10(area_km2) + c


def _rates(mags: np.ndarray, total: float, b: float, rng: np.random.Generator) -> np.ndarray:
    """Annual rates falling off as Gutenberg-Richter with magnitude, scattered as an inversion's are."""
    w = 10.0 ** (-b * (mags - mags.min())) * rng.lognormal(0.0, 0.7, len(mags))
    return total * w / w.sum()


def crustal(scale: str, rng: np.random.Generator) -> tuple[list[Section], Ruptures]:
    """Crustal faults: at `test` four named parents around Wellington and one near Christchurch; at
    `nshm` 880 parents in 80 corridors over New Zealand, ruptures as windows of up to 124 sections."""
    sections: list[Section] = []
    corridors: list[list[int]] = []
    if scale == "test":
        parents = [  # name, start (lon, lat), strike, length km, dip
            ("Wellington Hutt Valley", (174.55, -41.50), 45.0, 60.0, 80.0),
            ("Ohariu", (174.40, -41.45), 40.0, 50.0, 75.0),
            ("Wairarapa Nicholson", (174.95, -41.55), 40.0, 70.0, 70.0),
            ("Porters Pass", (171.60, -43.35), 70.0, 40.0, 75.0),
        ]
        for name, start, strike, length, dip in parents:
            secs = fault_sections(name, start, strike, length, dip, 0.0, 20.0, len(sections), 10.0)
            sections += secs
            corridors.append([s.id for s in secs])
        windows = [c[i : i + n] for c in corridors for n in range(1, len(c) + 1) for i in range(len(c) - n + 1)]
        # joint ruptures of the Wellington faults (multi-fault: sections of two parents)
        hutt, ohariu, wai = corridors[0], corridors[1], corridors[2]
        windows += [hutt[:k] + ohariu[:k] for k in range(1, 4)] + [hutt[-3:] + wai[-3:]]
        c_mag = 4.2
        total_rate = 0.01
    else:
        per_corridor = 11  # 880 parents (NZ CFM v1.0: 880 fault zones) in 80 corridors
        for k in range(80):
            lon = rng.uniform(167.5, 178.0)
            lat = -47.0 + (lon - 167.0) * 1.1 + rng.normal(0.0, 1.2)
            lat = float(np.clip(lat, -46.5, -35.0))
            strike = float(rng.uniform(20.0, 60.0))
            ids = []
            for p in range(per_corridor):
                length = float(np.clip(rng.lognormal(math.log(25.0), 0.5), 8.0, 120.0))
                end = _offset(lon, lat, strike, length)
                if not (LAND[0] <= end[0] <= LAND[1] and LAND[2] <= end[1] <= LAND[3]):
                    strike = (strike + 180.0) % 360.0  # turn back at the edge of New Zealand's box
                dip = float(rng.uniform(45.0, 90.0))
                secs = fault_sections(f"Fault {k:02d}-{p:02d}", (lon, lat), strike, length, dip, 0.0, 15.0, len(sections), 7.5)
                sections += secs
                ids += [s.id for s in secs]
                lon, lat = _offset(lon, lat, strike + float(rng.normal(0.0, 8.0)), length + 2.0)
            corridors.append(ids)
        # windows of 2-124 sections, fewer the longer (published: 2-124 sections per rupture)
        windows = []
        target = 329_921
        lengths = np.arange(2, 125)
        weights = 1.0 / lengths**1.2
        weights /= weights.sum()
        while len(windows) < target:
            c = corridors[int(rng.integers(len(corridors)))]
            n = int(min(rng.choice(lengths, p=weights), len(c)))
            i = int(rng.integers(0, len(c) - n + 1))
            windows.append(c[i : i + n])
        c_mag = 4.2
        total_rate = 0.3
    area = np.array([len(w) * _section_area(sections[w[0]]) for w in windows])
    mags = np.round(magnitude(area, c_mag), 2)
    rakes = np.where(rng.random(len(windows)) < 0.5, 180.0, 90.0)
    return sections, Ruptures(mags, rakes, _rates(mags, total_rate, 1.0, rng), windows)


def _section_area(section: Section) -> float:
    (t0, b0), (t1, _) = section.profiles
    along = _distance_km(t0, t1)
    down = math.hypot(_distance_km(t0, b0), b0[2] - t0[2])
    return along * down


def _distance_km(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    dy = (b[1] - a[1]) * KM_PER_DEG_LAT
    dx = (b[0] - a[0]) * 111.32 * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(dx, dy)


def interface(system: str, scale: str, rng: np.random.Generator) -> tuple[list[Section], Ruptures]:
    """Subduction interface tiles (15 km square) and ruptures as rectangles of tiles."""
    if system == "HIK" and scale == "test":  # Hikurangi: dips north-west beneath the southern North Island
        start, strike, dip = (176.6, -40.6), 220.0, 12.0
        along, down = 8, 4
        name, total_rate = "Hikurangi", 0.02
    elif system == "HIK":  # Hikurangi-Kermadec from 37 S (west of the antimeridian) to Cook Strait
        start, strike, dip = (179.3, -37.0), 213.0, 12.0
        along, down = 60, 10
        name, total_rate = "Hikurangi", 0.02
    else:  # Puysegur: dips east beneath Fiordland
        start, strike, dip = (165.6, -47.5), 20.0, 20.0
        along, down = (6, 3) if scale == "test" else (30, 6)
        name, total_rate = "Puysegur", 0.005
    rows = interface_tiles(name, start, strike, along, down, 15.0, dip, 5.0)
    sections = [tile for row in rows for tile in row]
    windows = []
    for width in range(1, along + 1):
        for height in range(1, down + 1):
            if scale == "nshm" and width < max(2, height):  # at NSHM's size: ruptures longer than wide
                continue
            for c0 in range(0, along - width + 1, 1 if scale == "test" else max(1, width // 4)):
                for r0 in range(down - height + 1):
                    windows.append([rows[r][c].id for r in range(r0, r0 + height) for c in range(c0, c0 + width)])
    area = np.array([len(w) * 225.0 for w in windows])
    mags = np.round(magnitude(area, 3.95), 2)
    rakes = np.full(len(windows), 90.0)
    return sections, Ruptures(mags, rakes, _rates(mags, total_rate, 0.95, rng), windows)


def background_points(system: str, scale: str) -> tuple[np.ndarray, float, float]:
    """(lon, lat) points of gridded seismicity and its seismogenic depths (km)."""
    if scale == "nshm" and system in ("CRU", "SLAB"):
        from nzshm_common.grids import load_grid

        points = np.array([(lon, lat) for lat, lon in load_grid("NZ_0_1_NB_1_1")])  # 3,741 points at 0.1 degree
    else:
        centres = {
            "CRU": [(174.78, -41.30), (172.63, -43.53)],
            "SLAB": [(175.5, -40.5)],
            "HIK": [(176.0, -41.0)],
            "PUY": [(166.5, -46.5)],
        }
        half = 0.2 if scale == "test" else 2.0
        step = 0.2 if scale == "test" else 0.1
        grid = np.arange(-half, half + 1e-9, step)
        points = np.array([(x + dx, y + dy) for x, y in centres[system] for dx in grid for dy in grid])
    top, bottom = {"CRU": (0.0, 20.0), "SLAB": (40.0, 200.0), "HIK": (5.0, 40.0), "PUY": (5.0, 40.0)}[system]
    return np.round(points, 3), top, bottom


def sections_xml(sections: Sequence[Section]) -> str:
    parts = [NRML, '  <geometryModel name="fault sections">\n']
    for s in sections:
        parts.append(f'    <section name="{s.name}" id="{s.id}">\n      <kiteSurface>\n')
        for (x0, y0, z0), (x1, y1, z1) in s.profiles:
            parts.append(
                f"        <profile><gml:LineString><gml:posList>{x0:.4f} {y0:.4f} {z0:.3f} {x1:.4f} {y1:.4f} {z1:.3f}"
                "</gml:posList></gml:LineString></profile>\n"
            )
        parts.append("      </kiteSurface>\n    </section>\n")
    parts.append("  </geometryModel>\n</nrml>\n")
    return "".join(parts)


def ruptures_xml(source_id: str, name: str, trt: str) -> str:
    return (
        NRML
        + f'  <sourceModel name="{name}" investigation_time="1.0">\n'
        + f'    <sourceGroup name="{name}" rup_interdep="indep" src_interdep="indep" tectonicRegion="{trt}">\n'
        + f'      <multiFaultSource id="{source_id}" name="{name}"/>\n'
        + "    </sourceGroup>\n  </sourceModel>\n</nrml>\n"
    )


def ruptures_hdf5(source_id: str, ruptures: Ruptures) -> bytes:
    """OpenQuake's companion layout of a multiFaultSource's ruptures (as classical/case_65's ssm.hdf5)."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w", track_order=True) as f:
        group = f.create_group(source_id)
        group["mag"] = ruptures.mags.astype(float)
        group["rake"] = ruptures.rakes.astype(float)
        probs = 1.0 - np.exp(-ruptures.rates)
        group["probs_occur"] = np.stack([1.0 - probs, probs], axis=1)
        text = [" ".join(map(str, ids)).encode() for ids in ruptures.sections]
        group.create_dataset("rupture_idxs", data=np.array(text, dtype=object), dtype=h5py.string_dtype())
    return buffer.getvalue()


def background_xml(source_id: str, name: str, trt: str, system: str, scale: str) -> str:
    points, top, bottom = background_points(system, scale)
    n = len(points)
    # a: log10 of the annual number of M >= 0 at a point, so M >= 5 at 10**(a - 5 b): 0.001-0.004 a
    # year a cell (about 10 a year over New Zealand's 3,741 cells at 0.1 degree)
    a_values = np.round(np.linspace(2.0, 2.6, n) if n > 1 else np.array([2.3]), 4)
    max_mag = {"CRU": 7.5, "SLAB": 7.5, "HIK": 7.0, "PUY": 7.0}[system]
    depths = np.linspace(top, bottom, 4)[1:3] if bottom - top > 10 else np.array([(top + bottom) / 2])
    hypo = "".join(f'<hypoDepth depth="{d:.1f}" probability="{1 / len(depths):.6f}"/>' for d in depths[:-1])
    hypo += f'<hypoDepth depth="{depths[-1]:.1f}" probability="{1 - (len(depths) - 1) * round(1 / len(depths), 6):.6f}"/>'
    return (
        NRML
        + f'  <sourceModel name="{name}" investigation_time="1.0">\n'
        + f'    <sourceGroup name="{name}" rup_interdep="indep" src_interdep="indep" tectonicRegion="{trt}">\n'
        + f'    <multiPointSource id="{source_id}" name="{name}" tectonicRegion="{trt}">\n'
        + "      <multiPointGeometry>\n"
        + f"        <gml:posList>{' '.join(f'{x:.3f} {y:.3f}' for x, y in points)}</gml:posList>\n"
        + f"        <upperSeismoDepth>{top:g}</upperSeismoDepth><lowerSeismoDepth>{bottom:g}</lowerSeismoDepth>\n"
        + "      </multiPointGeometry>\n"
        + "      <magScaleRel>WC1994</magScaleRel><ruptAspectRatio>1.0</ruptAspectRatio>\n"
        + f'      <multiMFD kind="truncGutenbergRichterMFD" size="{n}">\n'
        + f"        <a_val>{' '.join(f'{a:g}' for a in a_values)}</a_val><b_val>1.0</b_val>\n"
        + f"        <min_mag>5.0</min_mag><max_mag>{max_mag:g}</max_mag>\n"
        + "      </multiMFD>\n"
        + '      <nodalPlaneDist><nodalPlane dip="60" probability="0.5" rake="90" strike="45"/>'
        + '<nodalPlane dip="60" probability="0.5" rake="180" strike="135"/></nodalPlaneDist>\n'
        + f"      <hypoDepthDist>{hypo}</hypoDepthDist>\n"
        + "    </multiPointSource>\n    </sourceGroup>\n  </sourceModel>\n</nrml>\n"
    )


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip of `members` in name order, with fixed time stamps: the same members, the same bytes."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, members[name])
    tmp.replace(path)


def archives(leaf_id: str, scale: str) -> Iterator[tuple[str, str, dict[str, bytes]]]:
    """(toshi id, kind, members) of each archive of an NSHM_v1.0.4 leaf."""
    from hazflow.model.logic_tree import load_model

    model = load_model("NSHM_v1.0.4")
    leaf = model.leaf(leaf_id)
    system = leaf.fault_system
    kinds = ("inversion", "distributed") if len(leaf.sources) == 2 else ("distributed",)
    for toshi_id, kind in zip(leaf.sources, kinds, strict=True):
        stem = toshi_id.rstrip("=")
        rng = np.random.default_rng(_seed(toshi_id, scale))
        if kind == "inversion":
            sections, ruptures = crustal(scale, rng) if system == "CRU" else interface(system, scale, rng)
            source_id = f"{system}-{stem[-8:]}"
            members = {
                f"{stem}-ruptures.xml": ruptures_xml(source_id, f"{system} inversion {leaf_id}", leaf.trt).encode(),
                f"{stem}-ruptures.hdf5": ruptures_hdf5(source_id, ruptures),
                f"{stem}-ruptures_sections.xml": sections_xml(sections).encode(),
            }
            logger.info("%s %s: %d sections, %d ruptures", leaf_id, toshi_id, len(sections), len(ruptures.mags))
        else:
            xml = background_xml(f"{system}-bg-{stem[-8:]}", f"{system} background", leaf.trt, system, scale)
            members = {f"{stem}-background.xml": xml.encode()}
        yield toshi_id, kind, members


def _seed(toshi_id: str, scale: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{toshi_id}:{scale}".encode()).digest()[:4], "little")


def write_archives(dest: Path, scale: str, leaves: Sequence[str] = DEFAULT_LEAVES) -> list[Path]:
    """Write `<toshi id>.zip` for every archive of `leaves` into `dest`; the paths written."""
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {SCALES}, got {scale!r}")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for leaf_id in leaves:
        for toshi_id, _kind, members in archives(leaf_id, scale):
            path = dest / f"{toshi_id}.zip"
            write_zip(path, members)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, required=True, help="folder to write <toshi id>.zip into")
    parser.add_argument("--scale", choices=SCALES, default="test")
    parser.add_argument("--leaves", nargs="+", default=list(DEFAULT_LEAVES), help="NSHM_v1.0.4 leaf ids")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in write_archives(args.dest, args.scale, args.leaves):
        print(f"{path}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
