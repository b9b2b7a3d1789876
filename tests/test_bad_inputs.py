"""The bad-input suite: every input below goes through the command line and is refused with exit 2
and a message naming its field, before anything is read, computed or written (no store, no work
folder, so no OpenQuake process). Its REST half, the same kind of inputs through each DAG's trigger,
is in tests/dags/test_airflow_stack.py (`test_bad_inputs_through_each_dags_rest_trigger`)."""

from __future__ import annotations

import json
import math

import pytest

from hazflow.cli import main

DISAGG = ["disagg", "--model", "DEMO", "--sites", "WLG", "--vs30s", "400", "--imts", "PGA", "--poes", "0.1", "--leaves", "HIK-1"]
AGG_DISAGG = ["aggregate-disagg", "--model", "DEMO", "--sites", "WLG", "--vs30s", "400", "--imts", "PGA", "--poes", "0.1"]
AGG_HAZARD = ["aggregate-hazard", "--model", "DEMO", "--sites", "WLG", "--vs30s", "400", "--imts", "PGA"]
PLAN_HAZARD = ["plan-hazard", "--model", "DEMO", "--sites", "WLG", "--vs30s", "400", "--imts", "PGA"]
EXTRACT = ["extract", "--model", "DEMO", "--bbox", "174.65", "-41.35", "174.95", "-41.15", "--vs30", "400", "--imts", "PGA"]


def _with(base: list[str], option: str, *values: str) -> list[str]:
    """`base` with `option` given `values`, replacing the values it had (up to the next `--option`)."""
    if option not in base:
        return [*base, option, *values]
    start = base.index(option) + 1
    stop = next((i for i in range(start, len(base)) if base[i].startswith("--")), len(base))
    return [*base[:start], *values, *base[stop:]]


def _ring(n: int) -> list[list[float]]:
    ring = [[174.8 + 0.1 * math.cos(2 * math.pi * i / n), -41.3 + 0.1 * math.sin(2 * math.pi * i / n)] for i in range(n)]
    return [*ring, ring[0]]


POLYGONS = {
    "open": {"type": "Polygon", "coordinates": [[[174.7, -41.3], [174.9, -41.3], [174.8, -41.2], [174.75, -41.25]]]},
    "features-dict": {"type": "FeatureCollection", "features": {"0": {"type": "Feature"}}},
    "features-int": {"type": "FeatureCollection", "features": 3},
    "too-many-vertices": {"type": "Polygon", "coordinates": [_ring(10_001)]},
    "bow-tie": {
        "type": "Polygon",
        "coordinates": [[[174.7, -41.3], [174.9, -41.2], [174.9, -41.3], [174.7, -41.2], [174.7, -41.3]]],
    },
    "wider-than-180": {"type": "Polygon", "coordinates": [[[0, -41], [120, -41], [240, -40], [0, -41]]]},
}

CASES = [
    # disagg_realizations: sites
    (_with(list(DISAGG), "--sites", "NOWHERE"), "sites", "unknown site or list 'NOWHERE'"),
    (_with(list(DISAGG), "--sites", "WLG", "WLG"), "sites", "requested more than once"),
    (_with(list(DISAGG), "--sites", "-41.3~174.78", "-41.300~174.780"), "sites", "requested more than once"),
    (_with(list(DISAGG), "--sites", "-43.95~183.5", "-43.95~-176.5"), "sites", "requested more than once: -43.950~-176.500"),
    (_with(list(DISAGG), "--sites", "95~174"), "sites", "off the globe"),
    (_with(list(DISAGG), "--sites", "-41.3~lon"), "sites", "malformed location"),
    # VS30
    (_with(list(DISAGG), "--vs30s", "0.4"), "vs30s", "whole m/s"),
    (_with(list(DISAGG), "--vs30s", "400.0001"), "vs30s", "whole m/s"),
    (_with(list(DISAGG), "--vs30s", "1e100"), "vs30s", "outside the model's range, 150 to 1500 m/s"),
    (_with(list(DISAGG), "--vs30s", "inf"), "vs30s", ""),
    (_with(list(DISAGG), "--vs30s", "nan"), "vs30s", ""),
    (_with(list(DISAGG), "--vs30s", "100"), "vs30s", "outside the model's range"),
    (_with(list(DISAGG), "--vs30s", "400", "400"), "vs30s", ""),
    # IMTs
    (_with(list(DISAGG), "--imts", "PGV"), "imts", "unknown IMT 'PGV'"),
    (_with(list(DISAGG), "--imts", "SA(1000)"), "imts", "outside the SA periods model DEMO's GMMs support"),
    (_with(list(DISAGG), "--imts", "SA(0.005)"), "imts", "outside the SA periods"),
    (_with(list(DISAGG), "--imts", "SA(0)"), "imts", "the period must be > 0 s"),
    (_with(list(DISAGG), "--imts", "PGA", "pga"), "imts", ""),
    # PoEs, IMLs, leaves, model, target statistic
    (_with(list(DISAGG), "--poes", "0"), "poes", ""),
    (_with(list(DISAGG), "--poes", "1.5"), "poes", ""),
    (_with(list(DISAGG), "--poes", "0.1", "0.1"), "poes", ""),
    (_with(list(DISAGG), "--poes", "nan"), "poes", ""),
    (_with(list(DISAGG), "--leaves", "NOPE-1"), "leaves", "unknown leaf 'NOPE-1'"),
    (_with(list(DISAGG), "--model", "NSHM_v9"), "model", ""),
    (_with(list(DISAGG), "--target-stat", "1.5"), "target_stat", ""),
    ([*DISAGG[:-4], "--leaves", "HIK-1", "--imls", "PGA=0.2", "PGA=0.5"], "imls", "PGA"),
    ([*DISAGG[:-4], "--leaves", "HIK-1", "--imls", "PGA=-1"], "imls", ""),
    ([*DISAGG, "--imls", "PGA=0.2"], "poes", "give poes or imls"),
    (_with(list(DISAGG), "--batch-cap", "5000"), "batch_cap", "core.max_map_length"),
    # disagg_aggregation and hazard_aggregation
    (_with(list(AGG_DISAGG), "--samples", "1000000000"), "samples", "over the limit of 1,000,000"),
    (_with(list(AGG_DISAGG), "--samples", "10"), "samples", "outside [100"),
    (_with(list(AGG_DISAGG), "--quantiles", "1.5"), "quantiles", ""),
    (_with(list(AGG_DISAGG), "--closure-tolerance", "-1"), "closure_tolerance", ""),
    (_with(list(AGG_HAZARD), "--gmms", "NoSuchGmm"), "gmms", ""),
    (_with(list(AGG_HAZARD), "--quantiles", "-0.1"), "quantiles", ""),
    (_with(list(AGG_HAZARD), "--imts", "SA(20)"), "imts", "outside the SA periods"),
    # hazard_realizations' plan
    (_with(list(PLAN_HAZARD), "--vs30s", "2000"), "vs30s", "outside the model's range"),
    (_with(list(PLAN_HAZARD), "--sites", ""), "sites", ""),
    # area_extract
    (_with(list(EXTRACT), "--bbox", "175", "-41.35", "174", "-41.15"), "bbox", "east of max lon"),
    (_with(list(EXTRACT), "--bbox", "174.65", "-95", "174.95", "-41.15"), "bbox", "off the globe"),
    (_with(list(EXTRACT), "--grid", "0.0001"), "grid", "from 0.001 to 5"),
    (_with(list(EXTRACT), "--grid", "NO_SUCH_GRID"), "grid", "unknown grid"),
    (_with(list(EXTRACT), "--max-sites", "1000000"), "max_sites", "over the limit of 50,000"),
    (_with(list(EXTRACT), "--bbox", "166", "-47", "178", "-34") + ["--grid", "0.001"], "grid", "over the limit of 1,000,000"),
    (_with(list(EXTRACT), "--vs30", "1e100"), "vs30", "outside the model's range"),
    (_with(list(EXTRACT), "--stat", "2"), "stat", ""),
    (_with(list(EXTRACT), "--asset-hazard-distance", "500"), "asset_hazard_distance", ""),
    ([*EXTRACT, "--exposure", "/no/such/exposure.xml"], "exposure", "/no/such/exposure.xml"),
    (_with(list(EXTRACT), "--imts", "SA(20)"), "imts", "outside the SA periods"),
]  # fmt: skip


@pytest.mark.parametrize("argv, field, message", CASES, ids=[f"{c[0][0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_a_bad_input_exits_2_naming_its_field_with_nothing_written(argv, field, message, tmp_path, monkeypatch, capsys):
    store, work = tmp_path / "store", tmp_path / "work"
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(store))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(work))
    argv = [*argv, "--dest", str(tmp_path / "bundles")] if argv[0] == "extract" else argv
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {field}: {message}" in err or (field in err and message in err and "error" in err), err
    assert not store.exists() and not work.exists() and not (tmp_path / "bundles").exists()  # nothing written, nothing run


@pytest.mark.parametrize("name", sorted(POLYGONS))
def test_a_bad_polygon_file_exits_2_naming_it(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "store"))
    path = tmp_path / f"{name}.geojson"
    path.write_text(json.dumps(POLYGONS[name]))
    argv = [a for a in EXTRACT if a not in ("--bbox", "174.65", "-41.35", "174.95", "-41.15")]
    assert main([*argv, "--polygon", str(path), "--dest", str(tmp_path / "bundles")]) == 2
    err = capsys.readouterr().err
    assert "error: polygon: " in err and f"{name}.geojson" in err, err
    assert not (tmp_path / "store").exists() and not (tmp_path / "bundles").exists()


def test_a_request_over_the_deployments_job_limit_is_refused_before_planning(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("HAZFLOW_LIMIT_JOBS", "2")
    assert main(_with(list(PLAN_HAZARD), "--vs30s", "400", "750", "1000")) == 2
    assert "error: vs30s: 18 OpenQuake jobs is over the limit of 2 (HAZFLOW_LIMIT_JOBS)" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def test_the_suite_has_at_least_40_inputs():
    assert len(CASES) + len(POLYGONS) >= 40
