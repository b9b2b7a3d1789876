"""The exposure beside an extract, without OpenQuake: staging (a copy with its CSV files, a digest of
all of them), the refusals made before OpenQuake starts, the request narrowed to the kept sites, the
bundle's site ids, and a bundle written for a selection (its copy of the exposure, ini files, README
and manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazflow.exceptions import BadRequest
from hazflow.extract.bundle import bundle_site_ids, write_bundle
from hazflow.extract.exposure import ExposureSelection, stage_exposure, validate_distance
from hazflow.extract.request import AreaRequest
from hazflow.model.sites import Site, resolve_sites
from tests.extract.conftest import AREA
from tests.support.risk_inputs import exposure_csv_form, exposure_xml

WELLINGTON = [(174.7817, -41.2905), (174.7762, -41.2784)]


def test_an_inline_exposure_is_staged_whole_with_a_digest_of_its_bytes(tmp_path):
    source = tmp_path / "mine.xml"
    source.write_text(exposure_xml(WELLINGTON, ["te_papa", "beehive"]))
    staged = stage_exposure(str(source), tmp_path / "stage")
    assert (staged.xml, staged.datafiles, staged.source) == ("mine.xml", (), str(source))
    assert (staged.folder / "mine.xml").read_bytes() == source.read_bytes()
    assert staged.folder == tmp_path / "stage" / staged.digest and len(staged.digest) == 16
    assert stage_exposure(str(source), tmp_path / "stage") == staged  # staged once, found again
    source.write_text(exposure_xml(WELLINGTON, ["te_papa", "parliament"]))
    assert stage_exposure(str(source), tmp_path / "stage").digest != staged.digest


@pytest.mark.parametrize("csv_at", ["assets.csv", "data/assets.csv", "../elsewhere/assets.csv"])
def test_the_csv_form_is_staged_with_its_csv_file_beside_it(tmp_path, csv_at):
    xml = tmp_path / "exp" / "exposure.xml"
    xml.parent.mkdir()
    exposure_csv_form(xml, (xml.parent / csv_at).resolve(), WELLINGTON, ["b1", "b2"])
    staged = stage_exposure(str(xml), tmp_path / "stage")
    assert staged.files == ["exposure.xml", "assets.csv"]
    assert (staged.folder / "assets.csv").read_bytes() == (xml.parent / csv_at).resolve().read_bytes()
    assert "<assets>assets.csv</assets>" in (staged.folder / "exposure.xml").read_text()  # the copy names it beside it
    before = staged.digest
    (xml.parent / csv_at).resolve().write_text((xml.parent / csv_at).resolve().read_text().replace("1000000", "2000000"))
    assert stage_exposure(str(xml), tmp_path / "stage").digest != before  # the digest covers the CSV file


@pytest.mark.parametrize(
    "write, message",
    [(None, "cannot read the exposure: {path} not found"),
     (lambda p: p.write_text('{"type": "FeatureCollection", "features": []}'),
      "{path}: not an OpenQuake exposure (NRML XML): not well-formed (invalid token): line 1, column 0"),
     (lambda p: p.write_text("<nrml>\n<exposureModel>\n<description>mine</exposureModel>\n</nrml>"),
      "{path}: not an OpenQuake exposure (NRML XML): mismatched tag: line 3"),
     (lambda p: exposure_csv_form(p, p.parent / "gone.csv", WELLINGTON, ["b1", "b2"]) and (p.parent / "gone.csv").unlink(),
      "cannot read gone.csv, a CSV file of the exposure {path}")],
    ids=["missing", "json", "mismatched", "csv-missing"],
)  # fmt: skip
def test_an_unreadable_exposure_is_refused_naming_the_file(tmp_path, write, message):
    path = tmp_path / "exposure.xml"
    if write:
        write(path)
    with pytest.raises(BadRequest) as e:
        stage_exposure(str(path), tmp_path / "stage")
    assert e.value.field == "exposure" and message.format(path=path) in e.value.message
    assert not (tmp_path / "stage").exists() or not any((tmp_path / "stage").iterdir())  # nothing staged


@pytest.mark.parametrize("value", [0, -1, 100.5, "far", None, True, float("nan"), float("inf")])
def test_an_asset_hazard_distance_is_a_positive_number_of_km(value):
    with pytest.raises(BadRequest, match="asset_hazard_distance: a distance in km"):
        validate_distance(value)


def test_an_exposure_offers_the_area_beyond_max_sites_and_narrows_to_the_kept():
    wide = AREA | {"bbox": [174.0, -42.0, 176.0, -40.0], "max_sites": 2}
    with pytest.raises(BadRequest, match="more than max_sites=2"):
        AreaRequest.parse(wide)
    request = AreaRequest.parse(wide | {"exposure": "exposure.xml", "asset_hazard_distance": 5})
    assert len(request.sites) > 2 and request.asset_hazard_distance == 5.0 and request.max_sites == 2
    kept = request.keep([3, 7], "0123456789abcdef")
    assert kept.sites == (request.sites[3], request.sites[7]) and kept.vs30s == (400.0, 400.0)
    with pytest.raises(BadRequest, match="max_sites: 3 sites of the area have assets of the exposure, more than max_sites=2"):
        request.keep([1, 2, 3], "0123456789abcdef")


def test_the_exposure_and_its_distance_name_the_bundle():
    plain = AreaRequest.parse(AREA)
    one = AreaRequest.parse(AREA | {"exposure": "a.xml"}).keep([0, 1], "aaaaaaaaaaaaaaaa")
    other = AreaRequest.parse(AREA | {"exposure": "a.xml"}).keep([0, 1], "bbbbbbbbbbbbbbbb")
    farther = AreaRequest.parse(AREA | {"exposure": "a.xml", "asset_hazard_distance": 20}).keep([0, 1], "aaaaaaaaaaaaaaaa")
    assert one.name.startswith("DEMO-mean-vs30_400-exposure_aaaaaaaa_10km-")
    assert farther.name.startswith("DEMO-mean-vs30_400-exposure_aaaaaaaa_20km-")
    assert len({plain.name, one.name, other.name, farther.name}) == 4
    assert plain.name == AreaRequest.parse(AREA).name and "exposure" not in plain.name  # bundles without one keep their names


@pytest.mark.parametrize(
    "codes, expected",
    [(["-41.300~174.700", "-41.300~174.800", "-41.300~174.900"], ["s1", "s2", "s3"]),
     (["WLG", "-41.300~174.700", "AKL"], ["WLG", "s2", "AKL"]),
     ([f"-41.300~{174 + i / 1000:.3f}" for i in range(12)], [f"s{i:02d}" for i in range(1, 13)])],
    ids=["lat-lon", "named", "padded"],
)  # fmt: skip
def test_bundle_site_ids_are_unique_and_fit_8_bytes(codes, expected):
    assert bundle_site_ids(resolve_sites(codes)) == expected


def test_bundle_site_ids_step_around_a_named_site_called_like_a_number():
    sites = [Site("s2", -41.3, 174.7, "odd", False), *resolve_sites(["-41.300~174.800", "-41.300~174.900"])]
    ids = bundle_site_ids(sites)
    assert ids[0] == "s2" and len(set(ids)) == 3 and all(len(i.encode()) <= 8 for i in ids)
    long = [Site("a_very_long_id", -41.3, 174.7, "long", False), Site("a_very_long_id", -41.4, 174.7, "long", False)]
    assert bundle_site_ids(long) == ["s1", "s2"]


@pytest.fixture
def selection(tmp_path):
    source = tmp_path / "portfolio.xml"
    points = [*WELLINGTON, (176.91, -39.49)]
    source.write_text(exposure_xml(points, ["te_papa", "beehive", "napier"]))
    staged = stage_exposure(str(source), tmp_path / "stage")
    far = ({"id": "napier", "lon": 176.91, "lat": -39.49},)
    return ExposureSelection(staged, 10.0, (1, 4), (1, 1), far, 3, (174.7762, -41.2905, 176.91, -39.49), 2,
                             {"import": 3.0, "read": 0.1, "association": 0.1})  # fmt: skip


def test_a_bundle_for_an_exposure_carries_it_and_lists_what_it_leaves_out(area_store, tmp_path, selection):
    request = AreaRequest.parse(AREA | {"exposure": selection.exposure.source}).keep(selection.kept, selection.exposure.digest)
    manifest = write_bundle(request, area_store[0], tmp_path / "bundles", selection)
    folder = Path(manifest.folder)
    assert "exposure/portfolio.xml" in manifest.files
    assert (folder / "exposure" / "portfolio.xml").read_bytes() == Path(selection.exposure.source).read_bytes()
    assert [s["code"] for s in manifest.sites] == [request.sites[0].code, request.sites[1].code]
    assert [(s["site_id"], s["assets"]) for s in manifest.sites] == [("s1", 1), ("s2", 1)]
    curves = (folder / "hazard_curves" / "hazard_curve-mean-PGA.csv").read_text().splitlines()
    assert len(curves) == 2 + 2  # the comment, the header and the two kept sites
    for mode in ("risk", "damage"):
        ini = (folder / f"job_{mode}.ini").read_text()
        assert "exposure_file = exposure/portfolio.xml" in ini and "discard_assets = true" in ini
        assert "asset_hazard_distance = 10\n" in ini
    readme = (folder / "README.md").read_text()
    assert (
        "**1 asset(s) are farther than 10 km from every site of the area**" in readme and "| napier | 176.91 | -39.49 |" in readme
    )
    assert "hazflow does not check that every taxonomy of the exposure" in readme
    kept = json.loads((folder / "manifest.json").read_text())
    assert kept["exposure"]["digest"] == selection.exposure.digest and kept["exposure"]["discarded"] == list(selection.discarded)
    assert (kept["exposure"]["assets"], kept["exposure"]["assets_kept"], kept["exposure"]["sites_kept"]) == (3, 2, 2)
    site_model = (folder / "site_model.csv").read_text().splitlines()
    assert [row.rsplit(",", 1)[1] for row in site_model] == ["custom_site_id", "s1", "s2"]


def test_a_bundle_without_an_exposure_says_every_site_needs_an_asset(area_store, tmp_path):
    manifest = write_bundle(AreaRequest.parse(AREA), area_store[0], tmp_path / "bundles")
    folder = Path(manifest.folder)
    readme = (folder / "README.md").read_text()
    assert "**Every site needs an asset.** OpenQuake 3.26.2" in readme
    assert (
        "python -m hazflow extract --bbox 174.69 -41.36 174.91 -41.19 --model DEMO" in readme
        and "--exposure exposure.xml" in readme
    )
    assert "exposure_file = exposure.xml" in (folder / "job_risk.ini").read_text()
    assert "discard_assets" not in (folder / "job_risk.ini").read_text().replace("unless discard_assets = true", "")
    assert manifest.exposure is None and not (folder / "exposure").exists()
    ids = [row.rsplit(",", 1)[1] for row in (folder / "site_model.csv").read_text().splitlines()[1:]]
    assert ids == [s["site_id"] for s in manifest.sites] and len(set(ids)) == 6  # not `-41.300~` six times
