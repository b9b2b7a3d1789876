"""Every error a request parser raises on bad data is a BadRequest naming the field: garbage of
every JSON shape in every field, never a TypeError, KeyError or OverflowError that the retry policy
would retry three times (a FeatureCollection whose features were a dict gave `KeyError: 0`)."""

from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.extract.request import AreaRequest
from hazflow.plan.request import DisaggAggregationRequest, DisaggRequest, HazardAggregationRequest, HazardRequest
from tests.extract.conftest import AREA

GARBAGE = [None, "", "x", -1, 0, 1e308, float("nan"), float("inf"), -float("inf"), True, [], {}, [None], ["x"], [1e308],
           [[1, 2]], {"a": 1}, {"PGA": "x"}, {"PGA": [None]}, [float("nan")], 10**30, "1e999", ["-41.3~1e999"]]  # fmt: skip
REQUEST = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], "leaves": ["SLAB-1"]}
PARSED = [HazardRequest, DisaggRequest, HazardAggregationRequest, DisaggAggregationRequest]
FIELDS = ["model", "sites", "vs30s", "imts", "poes", "leaves", "gmms", "quantiles", "samples", "quantile_method",
          "disagg_engine", "closure_tolerance", "fail_on_closure", "exports", "epsilon_star", "target_stat", "imls"]  # fmt: skip
AREA_FIELDS = ["model", "bbox", "polygon", "vs30", "site_model", "imts", "stat", "grid", "max_sites", "compute",
               "exposure", "asset_hazard_distance"]  # fmt: skip


def _refused_or_parsed(parse, params) -> None:
    try:
        parse(params)
    except BadRequest:
        pass


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("kind", PARSED, ids=lambda k: k.__name__)
def test_garbage_in_any_request_field_is_a_bad_request(kind, field):
    for value in GARBAGE:
        _refused_or_parsed(lambda p: kind.parse(p, runnable=False), REQUEST | {field: value})


@pytest.mark.parametrize("field", AREA_FIELDS)
def test_garbage_in_any_area_field_is_a_bad_request(field, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a garbage exposure path names nothing that exists
    for value in GARBAGE:
        _refused_or_parsed(AreaRequest.parse, AREA | {field: value})
