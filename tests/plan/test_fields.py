"""Single request fields: each validator normalises or names its field."""

from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.plan.fields import normalise_imt, validate_imts, validate_poes, validate_vs30s


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


@pytest.mark.parametrize("poes", [[0.0], [1.0], [-0.1], ["x"], [], [0.1, 0.1]])
def test_bad_poes(poes):
    with pytest.raises(BadRequest) as info:
        validate_poes(poes)
    assert info.value.field == "poes"


@pytest.mark.parametrize(
    "value, ok", [(1, 1), (1024, 1024), (12.0, 12), (0, None), (1025, None), (2.5, None), (True, None), ("8", None)]
)
def test_batch_cap(value, ok):
    from hazflow.plan.fields import validate_batch_cap

    if ok is None:
        with pytest.raises(BadRequest) as info:
            validate_batch_cap(value)
        assert info.value.field == "batch_cap"
    else:
        assert validate_batch_cap(value) == ok


def test_gmms(demo):
    from hazflow.plan.fields import validate_gmms

    some = [g.id for g in demo.gmm_branches][:2]
    assert validate_gmms(demo, ["all"]) is None and validate_gmms(demo, None) is None
    assert validate_gmms(demo, some) == tuple(some)
    for bad in (["Nobody2099"], some + some[:1], []):
        with pytest.raises(BadRequest) as info:
            validate_gmms(demo, bad)
        assert info.value.field == "gmms"
