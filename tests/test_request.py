from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.request import HazardRequest, normalise_imt, validate_imts, validate_vs30s


@pytest.mark.parametrize(
    "text, imt",
    [
        ("PGA", "PGA"),
        ("pga", "PGA"),
        ("SA(0.5)", "SA(0.5)"),
        ("SA(3)", "SA(3.0)"),
        ("SA( 1.50 )", "SA(1.5)"),
        ("SA(.2)", "SA(0.2)"),
    ],
)
def test_imts_are_normalised(text, imt):
    assert normalise_imt(text) == imt


@pytest.mark.parametrize(
    "imts, message",
    [
        (["PGV"], "unknown IMT 'PGV'"),
        (["SA(0)"], "period must be > 0"),
        (["SA(x)"], "unknown IMT"),
        ([], "empty"),
        (["SA(3)", "SA(3.0)"], "duplicate"),
        ("PGA", "expected a list"),
    ],
)
def test_bad_imts(imts, message):
    with pytest.raises(BadRequest, match=message) as info:
        validate_imts(imts)
    assert info.value.field == "imts"


@pytest.mark.parametrize(
    "vs30s, message", [([0], "> 0"), ([-150], "> 0"), (["fast"], "a number"), ([400, 400.0], "duplicate"), ([], "empty")]
)
def test_bad_vs30s(vs30s, message):
    with pytest.raises(BadRequest, match=message) as info:
        validate_vs30s(vs30s)
    assert info.value.field == "vs30s"


def test_request_expands_leaves_by_vs30():
    request = HazardRequest.parse("DEMO", ["WLG", "CHC"], [400, 750], ["PGA"], ["CRU-1", "SLAB-1"])
    jobs = request.jobs("3.26.2")
    assert [j.label for j in jobs] == ["CRU-1 vs30=400", "CRU-1 vs30=750", "SLAB-1 vs30=400", "SLAB-1 vs30=750"]
    assert all(len(j.sites) == 2 for j in jobs)
    assert len(HazardRequest.parse("DEMO", ["WLG"], [400], ["PGA"], ["all"]).jobs("x")) == 6


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"model": "NOPE"}, "model"),
        ({"sites": ["XXX"]}, "sites"),
        ({"sites": "WLG"}, "sites"),
        ({"leaves": ["CRU-9"]}, "leaves"),
        ({"leaves": ["CRU-1", "CRU-1"]}, "leaves"),
        ({"leaves": []}, "leaves"),
        ({"imts": ["PGV"]}, "imts"),
        ({"vs30s": [0]}, "vs30s"),
        ({"model": "NSHM_v1.0.4"}, "model"),  # planned, but its sources cannot be run here
    ],
)
def test_bad_requests_name_the_field(kwargs, field):
    args = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": None} | kwargs
    with pytest.raises(BadRequest) as info:
        HazardRequest.parse(**args)
    assert info.value.field == field


@pytest.mark.parametrize("poes", [[0.0], [1.0], [-0.1], ["x"], [], [0.1, 0.1]])
def test_bad_poes(poes):
    from hazflow.request import validate_poes

    with pytest.raises(BadRequest) as info:
        validate_poes(poes)
    assert info.value.field == "poes"
