"""A risk user's exposure beside an area extract: which of the area's sites its assets go to.

OpenQuake 3.26.2's classical_risk and classical_damage, reading precomputed hazard curves, fail when
a site of the curves file has no asset (`KeyError` in `getters.CurveGetter`; fixed upstream after the
release, gem/oq-engine #11631). A real exposure covers some cells of an area, never all, so an extract
given one keeps exactly the sites OpenQuake will give its assets to, chosen by OpenQuake's own reader
and association in the OpenQuake venv (`hazflow.openquake.association`).

The exposure is an OpenQuake exposure model: NRML XML with its assets inline, or the CSV form (an XML
header whose `<assets>` names CSV files beside it). It is staged, with its CSV files, under
`<work_dir>/exposures/<digest>/` (read from a path or an s3:// URI), so OpenQuake reads a local copy
and the bundle can carry it; the digest covers the XML and every CSV file. An association is kept
beside the staged copy, keyed by the sites and the distance, so the steps of one extract (plan,
targets, bundle) associate once.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hazflow.exceptions import BadRequest, StorageError
from hazflow.model.nshm import EXTRACT_ASSET_HAZARD_DISTANCE_KM
from hazflow.model.sites import Site
from hazflow.openquake.runner import OpenQuakeConfig, run_association
from hazflow.remote.clients import DEFAULT_REGION
from hazflow.remote.documents import read_bytes
from hazflow.remote.uris import is_s3

logger = logging.getLogger(__name__)

FIELD = "exposure"
DEFAULT_DISTANCE_KM = EXTRACT_ASSET_HAZARD_DISTANCE_KM  # the bundle's asset_hazard_distance
MAX_DISTANCE_KM = 100.0


@dataclass(frozen=True)
class StagedExposure:
    """A local copy of an exposure: `folder/xml` and its CSV files `folder/<datafile>` (CSV form)."""

    source: str  # the path or URI as given
    folder: Path
    xml: str
    datafiles: tuple[str, ...]
    digest: str  # sha256[:16] of the XML and each CSV file (name and bytes)

    @property
    def files(self) -> list[str]:
        """The staged file names: the XML first."""
        return [self.xml, *self.datafiles]


@dataclass(frozen=True)
class ExposureSelection:
    """The candidate sites an exposure's assets go to, within `distance_km` (OpenQuake's rule)."""

    exposure: StagedExposure
    distance_km: float
    kept: tuple[int, ...]  # indices of the candidate sites kept, ascending
    assets_per_site: tuple[int, ...]  # aligned with `kept`
    discarded: tuple[dict[str, Any], ...]  # id, lon, lat of each asset farther than the distance from every site
    assets: int  # assets in the exposure
    extent: tuple[float, float, float, float]  # the assets' min lon, min lat, max lon, max lat
    rounds: int  # associations until every kept site had an asset
    timings: dict[str, float]  # seconds of OpenQuake's import, its reading of the exposure, the associations

    def to_dict(self) -> dict[str, Any]:
        """What the bundle's manifest records."""
        return {
            "source": self.exposure.source, "files": [f"exposure/{f}" for f in self.exposure.files],
            "digest": self.exposure.digest, "asset_hazard_distance_km": self.distance_km, "assets": self.assets,
            "assets_kept": self.assets - len(self.discarded), "extent": list(self.extent), "sites_kept": len(self.kept),
            "association_rounds": self.rounds, "discarded": list(self.discarded),
        }  # fmt: skip


def validate_distance(value: Any, field: str = "asset_hazard_distance") -> float:
    """An asset-hazard distance in km, in (0, 100]."""
    try:
        distance = float(value)
    except (TypeError, ValueError):
        raise BadRequest(field, f"a distance in km, got {value!r}") from None
    if isinstance(value, bool) or not 0 < distance <= MAX_DISTANCE_KM:
        raise BadRequest(field, f"a distance in km, above 0 and at most {MAX_DISTANCE_KM:g}, got {value!r}")
    return distance


def _read(uri: str, what: str, endpoint_url: str | None, region: str) -> bytes:
    try:
        return read_bytes(uri, endpoint_url, region)
    except StorageError as e:
        raise BadRequest(FIELD, f"cannot read {what}: {e}") from None
    except OSError as e:
        raise BadRequest(FIELD, f"cannot read {what} {uri}: {e.strerror or e}") from None


def _csv_names(source: str, data: bytes) -> list[str]:
    """The CSV files the `<assets>` element names (the CSV form), [] for inline assets. Parses only
    up to the assets: the rest is OpenQuake's to read. Not XML at all: refused here, line named."""
    try:
        for event, element in ET.iterparse(io.BytesIO(data), events=("start", "end")):
            tag = element.tag.rpartition("}")[2]
            if event == "start" and tag == "asset":
                return []
            if event == "end" and tag == "assets":
                return (element.text or "").split()
    except ET.ParseError as e:
        raise BadRequest(FIELD, f"{source}: not an OpenQuake exposure (NRML XML): {e}") from None
    return []


def stage_exposure(source: str, root: Path, endpoint_url: str | None = None, region: str = DEFAULT_REGION) -> StagedExposure:
    """Copy the exposure at `source` (path or s3:// URI, read through `endpoint_url`) and its CSV
    files under `root/<digest>/`; `BadRequest` naming the file when one cannot be read or the XML is not XML."""
    if not str(source).strip():
        raise BadRequest(FIELD, "empty: give an OpenQuake exposure file (NRML XML, or the CSV form's XML)")
    xml_bytes = _read(source, "the exposure", endpoint_url, region)
    names = _csv_names(source, xml_bytes)
    base = source.rsplit("/", 1)[0] if is_s3(source) else str(Path(source).resolve().parent)
    datafiles: list[tuple[str, bytes]] = []
    for name in names:
        where = f"{base}/{name}" if is_s3(source) else str(Path(base) / name)
        plain = PurePosixPath(name).name
        if plain in [n for n, _ in datafiles] or plain == _xml_name(source):
            raise BadRequest(FIELD, f"{source}: two of its files are named {plain}: rename one")
        datafiles.append((plain, _read(where, f"{name}, a CSV file of the exposure {source}", endpoint_url, region)))
    digest = hashlib.sha256(xml_bytes)
    for name, data in datafiles:
        digest.update(name.encode() + b"\0" + data)
    staged = StagedExposure(source, root / digest.hexdigest()[:16], _xml_name(source), tuple(n for n, _ in datafiles),
                            digest.hexdigest()[:16])  # fmt: skip
    if not (staged.folder / staged.xml).exists():
        staging = root / f".{staged.digest}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if names and names != [n for n, _ in datafiles]:  # CSV files elsewhere: the copy names them beside it
            text = xml_bytes.decode("utf-8")
            text = re.sub(r"(<(?:\w+:)?assets\s*>)[^<]*(</(?:\w+:)?assets>)", rf"\g<1>{' '.join(staged.datafiles)}\g<2>", text)
            xml_bytes = text.encode("utf-8")
        (staging / staged.xml).write_bytes(xml_bytes)
        for name, data in datafiles:
            (staging / name).write_bytes(data)
        shutil.rmtree(staged.folder, ignore_errors=True)
        staging.rename(staged.folder)
    return staged


def _xml_name(source: str) -> str:
    name = PurePosixPath(source).name if is_s3(source) else Path(source).name
    return name if name.lower().endswith(".xml") else f"{name}.xml"


def _selection_key(sites: list[Site], distance_km: float) -> str:
    points = [(f"{s.lon:.3f}", f"{s.lat:.3f}") for s in sites]
    return hashlib.sha256(json.dumps([points, distance_km]).encode()).hexdigest()[:16]


def select_sites(
    source: str,
    sites: list[Site],
    distance_km: float,
    area_text: str,
    work_dir: Path,
    oq: OpenQuakeConfig,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
) -> ExposureSelection:
    """The sites of `sites` (the area's candidates) the exposure's assets go to. `BadRequest` naming
    the exposure when OpenQuake cannot read it, or when no asset is within `distance_km` of a site."""
    staged = stage_exposure(source, work_dir / "exposures", endpoint_url, region)
    key = _selection_key(sites, distance_km)
    cached = staged.folder / f"association-{key}.json"
    if cached.exists():
        result = json.loads(cached.read_text())
        logger.info("exposure %s (%s): the association kept at %s", source, staged.digest, cached)
    else:
        request = {"exposure": str(staged.folder / staged.xml), "lons": [s.lon for s in sites],
                   "lats": [s.lat for s in sites], "distance_km": distance_km}  # fmt: skip
        result = run_association(request, work_dir / "exposures" / "runs" / f"{staged.digest}-{key}", oq)
        if "error" not in result:
            cached.write_text(json.dumps(result))
    if result.get("kind") == "input":
        message = str(result["error"])
        for name in staged.files:  # the staged copy's paths, as the user knows them
            message = message.replace(str(staged.folder / name), name)
        raise BadRequest(FIELD, f"{source}: OpenQuake cannot read it as an exposure: {message}")
    if result.get("kind") == "no_assets":
        lon0, lat0, lon1, lat1 = result["extent"]
        raise BadRequest(
            FIELD,
            f"no asset of {source} within {distance_km:g} km of a site of the area ({area_text[:200]}): its "
            f"{result['assets']} asset(s) span lon {lon0:g} to {lon1:g}, lat {lat0:g} to {lat1:g}",
        )
    selection = ExposureSelection(
        staged, distance_km, tuple(result["kept"]), tuple(result["assets_per_site"]), tuple(result["discarded"]),
        int(result["assets"]), tuple(result["extent"]), int(result["rounds"]),
        {part: float(result[f"{part}_seconds"]) for part in ("import", "read", "association")},
    )  # fmt: skip
    logger.info(
        "exposure %s (%s): %d asset(s), %d discarded beyond %g km; %d of %d site(s) kept after %d association(s)",
        source, staged.digest, selection.assets, len(selection.discarded), distance_km, len(selection.kept), len(sites),
        selection.rounds,
    )  # fmt: skip
    return selection
