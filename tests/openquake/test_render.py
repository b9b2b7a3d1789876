from __future__ import annotations

import configparser
import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from hazflow.model.sites import resolve_sites
from hazflow.openquake.render import render_job, z1pt0, z2pt5
from hazflow.plan.jobs import disagg_job, hazard_job

NRML = "{http://openquake.org/xmlns/nrml/0.5}"


def _ini(path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(path)
    return parser


def test_classical_job(demo, tmp_path):
    spec = hazard_job(demo, demo.leaf("HIK-2"), 250, tuple(resolve_sites(["WLG", "AKL"])), ("PGA", "SA(1.5)"), "3.26.2")
    ini = _ini(render_job(spec, demo, tmp_path))
    assert ini["general"]["calculation_mode"] == "classical"
    imtls = json.loads(ini["calculation"]["intensity_measure_types_and_levels"])
    assert list(imtls) == ["PGA", "SA(1.5)"] and imtls["PGA"] == list(demo.settings.levels)
    assert ini["calculation"]["maximum_distance"].startswith("{'Subduction Interface'")
    assert ini["erf"]["rupture_mesh_spacing"] == "5"  # DEMO's override of the NSHM 4 km
    assert ini["output"]["individual_rlzs"] == "true"
    # the leaf's NRML files are copied next to the job and named in the source logic tree
    smlt = ET.parse(tmp_path / "source_model_logic_tree.xml")
    files = smlt.find(f".//{NRML}uncertaintyModel").text.split()
    assert files == ["src0_hikurangi_interface_b1.05.xml"] and (tmp_path / files[0]).is_file()


def test_gsim_tree_is_the_leaf_region_only(demo, tmp_path):
    spec = hazard_job(demo, demo.leaf("CRU-1"), 400, tuple(resolve_sites(["WLG"])), ("PGA",), "3.26.2")
    render_job(spec, demo, tmp_path)
    root = ET.parse(tmp_path / "gsim_logic_tree.xml").getroot()
    sets = root.findall(f".//{NRML}logicTreeBranchSet")
    assert [s.get("applyToTectonicRegionType") for s in sets] == ["Active Shallow Crust"]
    texts = [u.text for u in root.iter(f"{NRML}uncertaintyModel")]
    assert texts == [g.uncertainty for g in demo.gmms_for("Active Shallow Crust")]
    weights = [float(w.text) for w in root.iter(f"{NRML}uncertaintyWeight")]
    assert sum(weights) == pytest.approx(1.0)


def test_site_model_derives_z1pt0_z2pt5_and_backarc(demo, tmp_path):
    spec = hazard_job(demo, demo.leaf("CRU-1"), 400, tuple(resolve_sites(["WLG", "AKL"])), ("PGA",), "3.26.2")
    render_job(spec, demo, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "site_model.csv")))
    assert [(r["custom_site_id"], r["backarc"]) for r in rows] == [("WLG", "0"), ("AKL", "1")]
    assert float(rows[0]["vs30"]) == 400
    assert float(rows[0]["z1pt0"]) == pytest.approx(z1pt0(400)) and 300 < z1pt0(400) < 400  # metres
    assert float(rows[0]["z2pt5"]) == pytest.approx(z2pt5(400)) and 1 < z2pt5(400) < 2  # km


def test_disaggregation_job(demo, tmp_path):
    site = resolve_sites(["CHC"])[0]
    spec = disagg_job(demo, demo.leaf("CRU-3"), 750, site, 0.02, {"PGA": 0.61, "SA(3.0)": 0.12}, "3.26.2")
    ini = _ini(render_job(spec, demo, tmp_path))
    assert ini["general"]["calculation_mode"] == "disaggregation"
    assert json.loads(ini["disaggregation"]["iml_disagg"]) == {"PGA": 0.61, "SA(3.0)": 0.12}
    edges = json.loads(ini["disaggregation"]["disagg_bin_edges"])
    assert edges["dist"] == list(demo.settings.dist_edges) and len(edges["eps"]) == 17
    assert "TRT_Mag_Dist_Eps" in ini["disaggregation"]["disagg_outputs"].split()
    assert "poes_disagg" not in ini["disaggregation"] and "epsilon_star" not in ini["disaggregation"]
    star = replace(demo, settings=demo.settings.with_overrides(epsilon_star=True))
    starred = disagg_job(star, star.leaf("CRU-3"), 750, site, 0.02, {"PGA": 0.61, "SA(3.0)": 0.12}, "3.26.2")
    assert starred.key != spec.key
    (tmp_path / "star").mkdir()
    assert _ini(render_job(starred, star, tmp_path / "star"))["disaggregation"]["epsilon_star"] == "true"
    assert "intensity_measure_types_and_levels" not in ini["calculation"]
