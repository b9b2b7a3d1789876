from __future__ import annotations

import configparser
import csv
import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from hazflow.model.sites import resolve_sites
from hazflow.openquake.prepare import render_job, render_pass
from hazflow.openquake.render import sites_share_calculation, source_typologies, z1pt0, z2pt5
from hazflow.openquake.spec import DisaggPass
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


@pytest.mark.parametrize(
    ("leaf", "apart", "shared"),
    [("HIK-1", False, True), ("HIK-1", True, False), ("CRU-1", False, False), ("SLAB-1", False, False)],
)  # a simple fault (unless the deployment keeps sites apart); area sources beside a fault; area sources
def test_a_pass_is_one_calculation_only_when_its_leaf_is_plain_faults(demo, tmp_path, monkeypatch, leaf, apart, shared):
    if apart:
        monkeypatch.setenv("HAZFLOW_ONEPASS_SHARE_SITES", "0")
    sites = tuple(resolve_sites(["WLG", "CHC", "AKL"]))
    jobs = tuple(disagg_job(demo, demo.leaf(leaf), 400, site, 0.1, {"PGA": 0.3}, "3.26.2", "hazardlib") for site in sites)
    document = json.loads(render_pass(DisaggPass(jobs), demo, tmp_path).read_text())
    codes = [site.code for site in sites]
    assert document["calculations"] == (
        [{"site_model": "site_model_0.csv", "sites": codes}]
        if shared
        else [{"site_model": f"site_model_{i}.csv", "sites": [code]} for i, code in enumerate(codes)]
    )
    for calculation in document["calculations"]:
        rows = list(csv.DictReader(open(tmp_path / calculation["site_model"])))
        assert [r["custom_site_id"] for r in rows] == [
            demo_site.id[:8] for demo_site in sites if demo_site.code in calculation["sites"]
        ]
    assert [s["code"] for s in document["sites"]] == codes and all(s["levels"] == [[0.3]] for s in document["sites"])


@pytest.mark.parametrize(
    ("elements", "shared"),
    [
        (["simpleFaultSource"], True),
        (["kiteFaultSource", "complexFaultSource", "characteristicFaultSource"], True),
        (["multiFaultSource"], False),  # its ruptures' dip and width average the sections near any site
        (["simpleFaultSource", "areaSource"], False),
        (["pointSource"], False),
        (["multiPointSource"], False),
        (["nonParametricSeismicSource"], False),  # not known to be site-independent: apart
        ([], False),  # nothing read: apart
    ],
)
def test_sites_share_a_calculation_only_when_every_source_is_a_finite_fault(tmp_path, elements, shared):
    body = "".join(f'<{name} id="{i}" name="s{i}">\n</{name}>\n' for i, name in enumerate(elements))
    path = tmp_path / "sources.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<nrml xmlns="http://openquake.org/xmlns/nrml/0.5">\n<sourceModel>\n{body}</sourceModel>\n</nrml>\n'
    )
    assert source_typologies([path]) == frozenset(elements)
    assert sites_share_calculation([path]) is shared
