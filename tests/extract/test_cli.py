"""`python -m hazflow extract`: the polygon case end to end on stored curves, and bad input (exit 2,
the field named, nothing written)."""

from __future__ import annotations

import json

import pytest

from hazflow.cli import main, run
from tests.extract.test_area import TRIANGLE


def test_extract_a_polygon(area_store, config, tmp_path):
    polygon = tmp_path / "area.geojson"
    polygon.write_text(json.dumps({"type": "Feature", "properties": {"name": "Wellington"}, "geometry": TRIANGLE}))
    out = run(
        ["extract", "--polygon", str(polygon), "--imts", "PGA", "--stat", "0.9", "--dest", str(tmp_path / "bundles")], config
    )
    manifest = out.value
    assert [s["code"] for s in manifest["sites"]] == ["-41.300~174.700", "-41.300~174.800", "-41.200~174.700"]
    assert manifest["request"]["area_given_as"] == "polygon" and manifest["computed"] == {}
    assert manifest["files"][0] == "hazard_curves/hazard_curve-quantile-0.9-PGA.csv"
    assert "3 site(s) x 1 IMT(s), 0.9 at VS30 400.0" in out.text and "oq engine --run job_risk.ini" in out.text


@pytest.mark.parametrize(
    "argv, message",
    [(["--bbox", "174.9", "-41.3", "174.7", "-41.2"], "bbox: min lon 174.9 is east of max lon 174.7"),
     (["--bbox", "174.7", "-41.3", "174.9", "-41.2", "--stat", "median"], "stat: expected mean or a quantile"),
     (["--bbox", "174.71", "-41.29", "174.79", "-41.21"], "area: no point of grid NZ_0_1_NB_1_1"),
     (["--bbox", "170", "-45", "178", "-38"], "more than max_sites=500: split the area"),
     (["--bbox", "174.69", "-41.36", "174.91", "-41.19"], "6 of 6 site(s) of the area have no aggregated mean hazard curve")],
    ids=["inverted", "stat", "no-point", "cap", "missing"],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_field(argv, message, config, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(["extract", *argv, "--dest", str(tmp_path / "bundles")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bundles").exists()
