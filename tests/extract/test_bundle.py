"""The bundle: OpenQuake-layout curves equal to the store's, the site model, the two job.ini files, the
README, the manifest and the zip; missing hazard refused, naming the sites, with nothing written."""

from __future__ import annotations

import json
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.extract.bundle import missing_hazard, write_bundle
from hazflow.extract.request import AreaRequest
from hazflow.store import HazardAggregate
from tests.extract.conftest import AREA, PROVENANCE, synthetic_curve


@pytest.fixture
def out(tmp_path):
    """Where bundles are written (the store is elsewhere under tmp_path)."""
    (tmp_path / "bundles").mkdir()
    return tmp_path / "bundles"


@pytest.mark.parametrize("stat", ["mean", "0.9"])
def test_curves_are_the_stored_aggregates(area_store, out, stat):
    store, sites = area_store
    request = AreaRequest.parse(AREA | {"stat": stat})
    manifest = write_bundle(request, store, out)
    kind = "mean" if stat == "mean" else "quantile-0.9"
    for imt in request.imts:
        path = out / request.name / "hazard_curves" / f"hazard_curve-{kind}-{imt}.csv"
        comment = path.read_text().splitlines()[0]
        assert f"kind='{kind}'" in comment and f"imt='{imt}'" in comment and "investigation_time=1.0" in comment
        table = pd.read_csv(path, skiprows=1)
        assert list(table.columns[:3]) == ["lon", "lat", "depth"]
        for site, row in zip(sites, table.itertuples(index=False), strict=True):
            stored = store.get_hazard_aggregates("DEMO", site.code, 400.0, imt, stat)[0]
            assert (row.lon, row.lat) == (site.lon, site.lat)
            assert [float(c[4:]) for c in table.columns[3:]] == stored.levels.tolist()
            np.testing.assert_allclose(np.asarray(row[3:], dtype=float), stored.values, rtol=1e-8)
    assert manifest.request["stat"] == stat and len(manifest.sites) == 6


def test_bundle_files_manifest_and_zip(area_store, out):
    store, _ = area_store
    request = AreaRequest.parse(AREA)
    manifest = write_bundle(request, store, out)
    folder = out / request.name
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(manifest.files)
    site_model = pd.read_csv(folder / "site_model.csv")
    assert len(site_model) == 6 and set(site_model["vs30"]) == {400}
    risk = (folder / "job_risk.ini").read_text()
    assert "calculation_mode = classical_risk" in risk and "investigation_time = 1.0" in risk
    assert "hazard_curves_file = hazard_curves/hazard_curve-mean-PGA.csv hazard_curves/hazard_curve-mean-SA(0.5).csv" in risk
    assert "calculation_mode = classical_damage" in (folder / "job_damage.ini").read_text()
    kept = json.loads((folder / "manifest.json").read_text())
    assert kept["provenance"]["settings_digest"] == {"9ace2d867dae57b7": 12}  # 6 sites x 2 IMTs
    assert kept["provenance"]["oq_version"] == {"3.26.2": 12}
    assert set(kept["gmm_branches"]) == {"Active Shallow Crust", "Subduction Interface", "Subduction Intraslab"}
    with zipfile.ZipFile(manifest.zip) as z:
        assert sorted(z.namelist()) == sorted(f"{request.name}/{f}" for f in manifest.files)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_rerun_replaces_the_bundle(area_store, out):
    store, _ = area_store
    request = AreaRequest.parse(AREA)
    first = write_bundle(request, store, out)
    (out / request.name / "stray.txt").write_text("from before")
    second = write_bundle(request, store, out)
    assert first.files == second.files and not (out / request.name / "stray.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == [request.name, f"{request.name}.zip"]


def test_two_writers_of_one_bundle_at_once_each_finish_and_leave_it_whole(area_store, out):
    """Each writer stages under names of its own (a shared staging name let one delete the other's)."""
    store, _ = area_store
    request = AreaRequest.parse(AREA)
    with ThreadPoolExecutor(2) as pool:
        manifests = list(pool.map(lambda _: write_bundle(request, store, out), range(4)))
    assert {tuple(m.files) for m in manifests} == {tuple(manifests[0].files)}
    folder = out / request.name
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(manifests[0].files)
    assert sorted(p.name for p in out.iterdir()) == [request.name, f"{request.name}.zip"]  # no staging left
    with zipfile.ZipFile(out / f"{request.name}.zip") as z:
        assert sorted(z.namelist()) == sorted(f"{request.name}/{f}" for f in manifests[0].files)


def test_missing_sites_are_listed_and_nothing_is_written(area_store, out):
    store, sites = area_store
    wider = AREA | {"bbox": [174.59, -41.36, 174.91, -41.19]}  # adds 174.6 at -41.3 and -41.2: no curves there
    request = AreaRequest.parse(wider)
    assert missing_hazard(request, store) == {"-41.300~174.600": ["PGA", "SA(0.5)"], "-41.200~174.600": ["PGA", "SA(0.5)"]}
    with pytest.raises(
        DataIntegrityError, match=r"2 of 8 site\(s\) .* -41.300~174.600 \(PGA, SA\(0.5\)\), -41.200~174.600 .*--compute"
    ):
        write_bundle(request, store, out)
    assert list(out.iterdir()) == []


def test_an_unknown_statistic_is_refused_listing_the_stored_ones(area_store, out):
    store, _ = area_store
    with pytest.raises(BadRequest, match="no '0.5' curves stored .* stored statistics are 0.9, mean") as e:
        write_bundle(AreaRequest.parse(AREA | {"stat": "0.5"}), store, out)
    assert e.value.field == "stat" and list(out.iterdir()) == []


def test_an_imt_without_curves_is_refused(area_store, out):
    store, _ = area_store
    with pytest.raises(BadRequest, match=r"no mean curves of SA\(1.0\) at any site") as e:
        write_bundle(AreaRequest.parse(AREA | {"imts": ["PGA", "SA(1.0)"]}), store, out)
    assert e.value.field == "imts" and list(out.iterdir()) == []


def test_a_site_model_bundle_takes_each_sites_curve_at_its_vs30(area_store, out, demo):
    store, sites = area_store
    levels = np.asarray(demo.settings.levels)
    store.put_hazard_aggregates([HazardAggregate("DEMO", sites[1].code, 750.0, imt, "mean", levels, 0.5 * synthetic_curve(levels, 1, imt, "mean"), PROVENANCE)
                                 for imt in ("PGA", "SA(0.5)")])  # fmt: skip
    text = f"lon,lat,vs30\n{sites[0].lon},{sites[0].lat},400\n{sites[1].lon},{sites[1].lat},750\n"
    request = AreaRequest.parse(AREA | {"vs30": None, "site_model": text})
    manifest = write_bundle(request, store, out)
    assert [(s["code"], s["vs30"]) for s in manifest.sites] == [(sites[0].code, 400.0), (sites[1].code, 750.0)]
    folder = out / request.name
    assert pd.read_csv(folder / "site_model.csv")["vs30"].tolist() == [400, 750]
    path = folder / "hazard_curves" / "hazard_curve-mean-PGA.csv"
    assert "vs30='site_model.csv'" in path.read_text().splitlines()[0]
    table = pd.read_csv(path, skiprows=1)
    np.testing.assert_allclose(
        table.iloc[1, 3:].to_numpy(float),
        store.get_hazard_aggregates("DEMO", sites[1].code, 750.0, "PGA", "mean")[0].values,
        rtol=1e-8,
    )
    missing = f"lon,lat,vs30\n{sites[0].lon},{sites[0].lat},300\n"
    with pytest.raises(DataIntegrityError, match=r"-41.300~174.700 vs30=300 \(PGA, SA\(0.5\)\)"):
        write_bundle(AreaRequest.parse(AREA | {"vs30": None, "site_model": missing}), store, out)


def test_the_hazard_map_gives_each_sites_level_at_10_and_2_percent_in_50_years(area_store, out, demo):
    from hazflow.plan.imtl import level_at_poe

    store, sites = area_store
    levels = np.asarray(demo.settings.levels)
    store.put_hazard_aggregates(
        [HazardAggregate("DEMO", sites[0].code, 400.0, "PGA", "mean", levels, np.full(len(levels), 1e-7), PROVENANCE)]
    )
    request = AreaRequest.parse(AREA)
    manifest = write_bundle(request, store, out)
    folder = out / request.name
    assert {"maps/hazard_map-mean.csv", "maps/hazard_map-mean-PGA.png", "maps/hazard_map-mean-SA(0.5).png"} <= set(manifest.files)
    assert (folder / "maps" / "hazard_map-mean-PGA.png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(folder / "maps" / "hazard_map-mean.csv")
    assert list(table.columns) == ["lon", "lat", "vs30", "PGA-0.1in50", "PGA-0.02in50", "SA(0.5)-0.1in50", "SA(0.5)-0.02in50"]
    assert np.isnan(table.loc[0, "PGA-0.1in50"]) and np.isnan(table.loc[0, "PGA-0.02in50"])  # a curve that never reaches them
    for i, site in enumerate(sites[1:], start=1):
        curve = store.get_hazard_aggregates("DEMO", site.code, 400.0, "SA(0.5)", "mean")[0]
        for poe in (0.1, 0.02):
            assert table.loc[i, f"SA(0.5)-{poe:g}in50"] == pytest.approx(level_at_poe(curve.levels, curve.values, poe), rel=1e-5)
