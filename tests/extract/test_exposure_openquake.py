"""Extracts made for exposures that cover only some sites of an area, run through OpenQuake's
classical_risk and classical_damage on the bundle unchanged.

The area is a 3 x 3 block of 0.1 degree sites around Wellington, with aggregated PGA curves (real
DEMO levels, synthetic values) in a real store. Each case's bundle keeps only the sites its assets go
to; each asset's losses and damage fractions equal those of the same asset in a run on a bundle of all
nine sites (the same assets, plus one at each site, so that the run works in OpenQuake 3.26.2). The
bundle of all the sites with only the case's assets fails in OpenQuake: the reason for all this.
Bad exposures are refused with exit 2, naming the file (and the line), before any hazard is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from hazflow.cli import main, run
from hazflow.config import Config
from hazflow.exceptions import OpenQuakeError
from hazflow.extract.area import bbox_area
from hazflow.extract.grid import area_sites
from hazflow.openquake.runner import run_job
from hazflow.steps.area_extract import extract_area
from hazflow.store import HazardAggregate
from tests.extract.conftest import PROVENANCE, synthetic_curve
from tests.support.risk_inputs import exposure_csv_form, exposure_xml, write_risk_model

pytestmark = pytest.mark.openquake

# nine sites: lon 174.6, 174.7, 174.8 x lat -41.4, -41.3, -41.2
NINE = {"model": "DEMO", "bbox": [174.55, -41.45, 174.85, -41.15], "grid": "0.1", "vs30": 400, "imts": ["PGA"]}
CASES = {
    "one-asset": {"te_papa": (174.7817, -41.2905)},
    "two-of-nine": {"porirua": (174.61, -41.39), "kelburn": (174.79, -41.21), "thorndon": (174.795, -41.205)},
    "one-beyond": {"karori": (174.71, -41.29), "napier": (176.91, -39.49)},
}
KEPT = {
    "one-asset": ["-41.300~174.800"],
    "two-of-nine": ["-41.400~174.600", "-41.200~174.800"],
    "one-beyond": ["-41.300~174.700"],
}


@pytest.fixture(scope="module")
def nine(tmp_path_factory, demo) -> tuple[Config, Path]:
    """A config whose store holds the mean PGA curves of the nine sites; a folder for exposures."""
    root = tmp_path_factory.mktemp("exposure")
    config = Config(store_root=root / "store", work_dir=root / "work")
    levels = np.asarray(demo.settings.levels)
    sites = area_sites(bbox_area(NINE["bbox"]), "0.1")
    assert len(sites) == 9
    config.open_store().put_hazard_aggregates(
        [HazardAggregate("DEMO", s.code, 400.0, "PGA", "mean", levels, synthetic_curve(levels, i, "PGA", "mean"), PROVENANCE)
         for i, s in enumerate(sites)]
    )  # fmt: skip
    (root / "exposures").mkdir()
    return config, root / "exposures"


def _exposure(folder: Path, name: str, assets: dict[str, tuple[float, float]]) -> Path:
    path = folder / f"{name}.xml"
    path.write_text(exposure_xml(list(assets.values()), list(assets)))
    return path


def _run(bundle: Path, mode: str, where: Path, config: Config) -> dict[str, np.ndarray]:
    """Run job_<mode>.ini on a copy of the bundle; per asset id its average loss and loss curve (risk)
    or its damage fractions (damage)."""
    jobdir = where / f"{bundle.name}-{mode}"
    shutil.copytree(bundle, jobdir)
    write_risk_model(jobdir, None)
    result = run_job(jobdir / f"job_{mode}.ini", config.openquake())
    assert result.state == "done"
    with h5py.File(result.hdf5) as f:
        ids = [i.decode() for i in f["assetcol/array"][()]["id"]]
        if mode == "risk":
            avg = f["avg_losses-stats"]["structural"][()][:, 0]
            curves = f["loss_curves-stats"][()]["structural"]
            return {
                i: np.concatenate([[avg[a]], curves["losses"][a].ravel(), curves["poes"][a].ravel()]) for a, i in enumerate(ids)
            }
        damages = f["damages-rlzs"][()]
        states = np.stack([damages[name][:, 0] for name in damages.dtype.names], axis=1)
        return {i: states[a] for a, i in enumerate(ids)}


@pytest.fixture(scope="module")
def full_runs(nine, tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    """Every case's assets, plus one at each of the nine sites, on the bundle of all nine sites."""
    config, folder = nine
    assets = {name: point for case in CASES.values() for name, point in case.items()}
    assets |= {f"site{i}": (s.lon, s.lat) for i, s in enumerate(area_sites(bbox_area(NINE["bbox"]), "0.1"))}
    exposure = _exposure(folder, "everyone", assets)
    where = tmp_path_factory.mktemp("full")
    manifest = extract_area(NINE | {"exposure": str(exposure)}, config, where / "bundles")
    assert len(manifest.sites) == 9 and manifest.exposure["discarded"] == [{"id": "napier", "lon": 176.91, "lat": -39.49}]
    return {mode: _run(Path(manifest.folder), mode, where, config) for mode in ("risk", "damage")}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", ["risk", "damage"])
def test_openquake_runs_a_bundle_made_for_a_partial_exposure(nine, full_runs, tmp_path, case, mode):
    config, folder = nine
    exposure = _exposure(folder, case, CASES[case])
    manifest = extract_area(NINE | {"exposure": str(exposure)}, config, tmp_path / "bundles")
    assert [s["code"] for s in manifest.sites] == KEPT[case]
    assert sum(s["assets"] for s in manifest.sites) == len(CASES[case]) - (case == "one-beyond")
    curves = (Path(manifest.folder) / "hazard_curves" / "hazard_curve-mean-PGA.csv").read_text().splitlines()[2:]
    assert len(curves) == len(KEPT[case])
    per_asset = _run(Path(manifest.folder), mode, tmp_path, config)
    kept = {name for name in CASES[case] if name != "napier"}
    assert set(per_asset) == kept
    for name, values in per_asset.items():
        assert np.isfinite(values).all()
        if mode == "risk":
            assert values[0] > 0  # the hazard reaches the asset
        else:
            np.testing.assert_allclose(values.sum(), 1.0, rtol=1e-5)  # one building, in some state
        np.testing.assert_array_equal(values, full_runs[mode][name])  # as in the run on every site


def test_openquake_fails_on_the_bundle_of_every_site_for_a_partial_exposure(nine, tmp_path):
    """Why the extract narrows the sites: OpenQuake 3.26.2 on a curves file with sites without assets."""
    config, _ = nine
    manifest = extract_area(NINE, config, tmp_path / "bundles")
    jobdir = tmp_path / "job"
    shutil.copytree(manifest.folder, jobdir)
    write_risk_model(jobdir, list(CASES["two-of-nine"].values()))
    with pytest.raises(OpenQuakeError, match="KeyError"):
        run_job(jobdir / "job_risk.ini", config.openquake())


def test_the_csv_form_selects_the_same_sites_and_travels_in_the_bundle(nine, tmp_path):
    config, _ = nine
    xml = exposure_csv_form(tmp_path / "exp" / "portfolio.xml", tmp_path / "data" / "assets.csv",
                            list(CASES["two-of-nine"].values()), list(CASES["two-of-nine"]))  # fmt: skip
    manifest = extract_area(NINE | {"exposure": str(xml)}, config, tmp_path / "bundles")
    assert [s["code"] for s in manifest.sites] == KEPT["two-of-nine"] and [s["assets"] for s in manifest.sites] == [1, 2]
    folder = Path(manifest.folder)
    assert (folder / "exposure" / "assets.csv").read_text() == (tmp_path / "data" / "assets.csv").read_text()
    assert set(_run(folder, "risk", tmp_path, config)) == set(CASES["two-of-nine"])


def test_an_asset_midway_between_two_sites_goes_to_one_of_them_and_the_bundle_runs(nine, tmp_path):
    config, folder = nine
    exposure = _exposure(folder, "midway", {"midway": (174.75, -41.3)})  # as far from 174.7 as from 174.8
    manifest = extract_area(NINE | {"exposure": str(exposure)}, config, tmp_path / "bundles")
    assert [s["code"] for s in manifest.sites] in (["-41.300~174.700"], ["-41.300~174.800"])
    assert manifest.exposure["association_rounds"] == 2  # eight sites dropped, then the one kept confirmed
    assert set(_run(Path(manifest.folder), "risk", tmp_path, config)) == {"midway"}


def test_the_command_line_says_what_the_exposure_kept_and_left_out(nine, tmp_path):
    config, folder = nine
    exposure = _exposure(folder, "cli", CASES["one-beyond"])
    argv = ["extract", "--bbox", "174.55", "-41.45", "174.85", "-41.15", "--grid", "0.1", "--imts", "PGA"]
    out = run([*argv, "--exposure", str(exposure), "--asset-hazard-distance", "12", "--dest", str(tmp_path)], config)
    assert f"exposure {exposure}: 1 of 2 asset(s) at 1 site(s) within 12 km; 1 farther from every site" in out.text
    assert out.value["name"].startswith("DEMO-mean-vs30_400-exposure_") and "_12km-" in out.value["name"]
    assert "asset_hazard_distance = 12\n" in (tmp_path / out.value["name"] / "job_risk.ini").read_text()


def _bad_value(path: Path) -> None:
    path.write_text(exposure_xml([(174.78, -41.29)]).replace('lon="174.78"', 'lon="abc"'))


def _not_exposure(path: Path) -> None:
    path.write_text(
        '<?xml version="1.0"?>\n<nrml xmlns="http://openquake.org/xmlns/nrml/0.5">\n<sourceModel name="m"/>\n</nrml>\n'
    )


def _csv_column_missing(path: Path) -> None:
    exposure_csv_form(path, path.parent / "assets.csv", [(174.78, -41.29)], ["b1"])
    csv = path.parent / "assets.csv"
    csv.write_text(csv.read_text().replace(",COST", "").replace(",1000000", ""))


def _far_away(path: Path) -> None:
    path.write_text(exposure_xml([(176.91, -39.49), (176.85, -39.64)], ["napier", "hastings"]))


@pytest.mark.parametrize(
    "write, message",
    [(_bad_value, "'abc' is not a float, line 7 of exposure.xml"),
     (_not_exposure, "expected exposureModel, got"),
     (_csv_column_missing, "assets.csv"),
     (_far_away, "no asset of {path} within 10 km of a site of the area (bbox 174.55 -41.45 174.85 -41.15): its 2 asset(s) "
                 "span lon 176.85 to 176.91, lat -39.64 to -39.49")],
    ids=["bad-value", "not-an-exposure", "csv-column", "far-away"],
)  # fmt: skip
def test_a_bad_exposure_exits_2_naming_it_before_any_hazard_is_read(tmp_path, monkeypatch, capsys, write, message):
    path = tmp_path / "exposure.xml"
    write(path)
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "empty-store"))  # no hazard at all: not what is refused
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(tmp_path / "work"))
    argv = ["extract", "--bbox", "174.55", "-41.45", "174.85", "-41.15", "--grid", "0.1", "--imts", "PGA"]
    assert main([*argv, "--exposure", str(path), "--dest", str(tmp_path / "bundles")]) == 2
    err = capsys.readouterr().err
    assert "exposure: " in err and message.format(path=path) in err
    assert "no aggregated" not in err and not (tmp_path / "bundles").exists()
