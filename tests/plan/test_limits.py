"""Limits checked before compute (`hazflow.limits`), each refusal naming the field, the value and the
limit with its setting, and saying how to split: sampled composites (1e9 was killed for memory after
about 80 s), an extract's max_sites, grid candidates (counted before any point is made: a 0.001
degree grid over a 1-degree box ran past 120 s), polygon vertices, a request's sites and OpenQuake
jobs, and the enumeration budget; each settable as HAZFLOW_LIMIT_<NAME>."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hazflow.aggregate.methods import MAX_SAMPLES, MIN_SAMPLES
from hazflow.cli import main
from hazflow.exceptions import BadRequest
from hazflow.extract.request import AreaRequest
from hazflow.limits import Limits
from hazflow.model.nshm import NSHM_VS30S
from hazflow.plan.request import DisaggAggregationRequest, DisaggRequest, HazardRequest
from tests.extract.conftest import AREA

BASE = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]}


def test_below_the_least_samples_is_refused():
    with pytest.raises(BadRequest, match=f"samples: {MIN_SAMPLES - 1} is outside \\[{MIN_SAMPLES}, ...\\]"):
        DisaggAggregationRequest.parse(BASE | {"samples": MIN_SAMPLES - 1})


@pytest.mark.parametrize("samples", [MAX_SAMPLES + 1, 10**9])
def test_samples_over_the_limit_are_refused(samples):
    with pytest.raises(
        BadRequest, match=f"samples: {samples:,} samples is over the limit of 1,000,000 \\(HAZFLOW_LIMIT_SAMPLES\\)"
    ):
        DisaggAggregationRequest.parse(BASE | {"samples": samples})


@pytest.mark.parametrize("samples", [MIN_SAMPLES, MAX_SAMPLES])
def test_the_limits_are_inclusive(samples):
    assert DisaggAggregationRequest.parse(BASE | {"samples": samples}).samples == samples


def test_the_command_line_refuses_a_billion_samples_at_once(config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(["aggregate-disagg", "--quantile-method", "sampling", "--samples", "1000000000"]) == 2
    assert "samples: 1,000,000,000 samples is over the limit of 1,000,000" in capsys.readouterr().err
    assert not config.store_root.exists()  # refused before reading anything, not killed for memory


def test_an_extracts_max_sites_has_a_maximum():
    with pytest.raises(
        BadRequest, match=r"max_sites: 1,000,000 sites is over the limit of 50,000 \(HAZFLOW_LIMIT_EXTRACT_SITES\): split"
    ):
        AreaRequest.parse(AREA | {"max_sites": 1_000_000})
    assert AreaRequest.parse(AREA | {"max_sites": 50_000}).max_sites == 50_000


def test_grid_candidates_are_counted_before_any_point_is_made(monkeypatch):
    def no_points(*args, **kwargs):
        raise AssertionError("grid points were made before the count was checked")

    monkeypatch.setattr(np, "meshgrid", no_points)  # how grid_points makes its points
    with pytest.raises(
        BadRequest, match=r"grid: 156,025,001 grid points at 0.001 degree in the area's box is over the limit of 1,000,000"
    ):
        AreaRequest.parse(AREA | {"bbox": [166.0, -47.0, 178.0, -34.0], "grid": "0.001"})


def test_the_issues_million_site_extract_is_refused_before_any_read(config, monkeypatch, capsys, tmp_path):
    """`extract --bbox 174.0 -41.99 174.99 -41.0 --grid 0.001 --max-sites 1000000` ran past 120 s: now
    refused by its count, before any site is made or any hazard read (no timed assertion: the time
    is the issue's note's figure, `time python -m hazflow extract ...`)."""
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    argv = ["extract", "--bbox", "174.0", "-41.99", "174.99", "-41.0", "--grid", "0.001", "--max-sites", "1000000"]
    assert main([*argv, "--dest", str(tmp_path)]) == 2
    assert "max_sites: 1,000,000 sites is over the limit of 50,000" in capsys.readouterr().err
    assert main([*argv[:-2], "--max-sites", "50000", "--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "982081 sites of grid 0.001 in the area, more than max_sites=50000: split the area" in err
    assert "raise max_sites" not in err  # it is at the limit already
    assert not config.store_root.exists() and not any(tmp_path.iterdir())


def _ring(n: int) -> list[list[float]]:
    import math

    ring = [[174.8 + 0.1 * math.cos(2 * math.pi * i / n), -41.3 + 0.1 * math.sin(2 * math.pi * i / n)] for i in range(n)]
    return [*ring, ring[0]]


def test_polygon_vertices_are_limited():
    too_many = {"type": "Polygon", "coordinates": [_ring(10_001)]}
    with pytest.raises(
        BadRequest, match=r"polygon: 10,001 polygon vertices is over the limit of 10,000 \(HAZFLOW_LIMIT_POLYGON_VERTICES\)"
    ):
        AreaRequest.parse({k: v for k, v in AREA.items() if k != "bbox"} | {"polygon": json.dumps(too_many)})
    fits = {"type": "Polygon", "coordinates": [_ring(10_000)]}
    assert AreaRequest.parse({k: v for k, v in AREA.items() if k != "bbox"} | {"polygon": fits}).area.vertices == 10_000


def test_a_requests_sites_are_limited(monkeypatch):
    monkeypatch.setenv("HAZFLOW_LIMIT_REQUEST_SITES", "2")
    with pytest.raises(BadRequest, match=r"sites: 3 sites is over the limit of 2 \(HAZFLOW_LIMIT_REQUEST_SITES\): split"):
        HazardRequest.parse(BASE | {"sites": ["WLG", "CHC", "AKL"]})
    assert len(HazardRequest.parse(BASE | {"sites": ["WLG", "CHC"]}).sites) == 2


def test_a_requests_openquake_jobs_are_limited(monkeypatch):
    nshm = {"model": "NSHM_v1.0.4", "sites": ["NZ", "-WRE"], "imts": ["PGA", "SA(0.2)", "SA(0.5)", "SA(1.5)", "SA(3.0)"]}
    campaign = nshm | {"vs30s": list(NSHM_VS30S), "poes": [0.02, 0.05, 0.1, 0.18, 0.39, 0.63, 0.86]}
    assert DisaggRequest.parse(campaign, runnable=False).jobs == 1_080_450  # NSHM's whole campaign fits the default
    monkeypatch.setenv("HAZFLOW_LIMIT_JOBS", "100000")
    with pytest.raises(BadRequest) as e:
        DisaggRequest.parse(campaign, runnable=False)
    assert e.value.field == "vs30s"
    assert (
        "1,080,450 OpenQuake jobs is over the limit of 100,000 (HAZFLOW_LIMIT_JOBS): split the request by VS30" in e.value.message
    )
    assert DisaggRequest.parse(campaign | {"vs30s": [400]}, runnable=False).jobs == 60_025


def test_the_enumeration_budget_is_the_deployments(monkeypatch, demo):
    from hazflow.aggregate.engine import quantile_method
    from hazflow.aggregate.tree import build_tree

    tree = build_tree(demo)
    assert quantile_method(tree, 10, 3, "enumeration") == "enumeration"
    monkeypatch.setenv("HAZFLOW_LIMIT_ENUMERATION_BUDGET", str(tree.n_composites * 10 - 1))
    with pytest.raises(BadRequest, match=r"quantile_method: enumeration of .* \(HAZFLOW_LIMIT_ENUMERATION_BUDGET\)"):
        quantile_method(tree, 10, 3, "enumeration")


@pytest.mark.parametrize("text", ["0", "-5", "many", "1e6"])
def test_a_malformed_limit_setting_is_refused_naming_it(monkeypatch, text):
    monkeypatch.setenv("HAZFLOW_LIMIT_JOBS", text)
    with pytest.raises(BadRequest, match="HAZFLOW_LIMIT_JOBS: "):
        Limits.from_env()


def test_a_limit_setting_may_use_underscores():
    assert Limits.from_env({"HAZFLOW_LIMIT_MAP_LENGTH": "2_048"}).map_length == 2048
