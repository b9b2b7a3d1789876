"""Area-extract requests: defaults, and each bad field named before anything is read."""

from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.extract.request import AreaRequest
from tests.extract.conftest import AREA


def test_defaults_and_name():
    r = AreaRequest.parse(AREA)
    assert (r.grid, r.stat, r.vs30, r.imts, r.compute, len(r.sites)) == (
        "NZ_0_1_NB_1_1",
        "mean",
        400.0,
        ("PGA", "SA(0.5)"),
        False,
        6,
    )
    assert r.name.startswith("DEMO-mean-vs30_400-") and r.name == AreaRequest.parse(dict(AREA)).name  # same request, same bundle
    assert AreaRequest.parse(AREA | {"imts": ["PGA"]}).name != r.name


def test_hazard_params_add_the_requested_quantile():
    params = AreaRequest.parse(AREA | {"stat": "0.33"}).hazard_params()
    assert params["sites"][0] == "-41.300~174.700" and params["vs30s"] == [400.0]
    assert 0.33 in params["quantiles"] and 0.5 in params["quantiles"]


@pytest.mark.parametrize(
    "change, field, message",
    [({"model": ""}, "model", "missing"), ({"stat": "median"}, "stat", "mean or a quantile"), ({"stat": 1.5}, "stat", "quantile"),
     ({"vs30": 0}, "vs30", "> 0"), ({"imts": ["PGV"]}, "imts", "PGV"), ({"compute": "yes"}, "compute", "true or false"),
     ({"max_sites": 0}, "max_sites", "outside"), ({"bbox": None}, "area", "exactly one"),
     ({"grid": "NZ_9"}, "grid", "unknown grid")],
)  # fmt: skip
def test_bad_fields_are_named(change, field, message):
    with pytest.raises(BadRequest, match=message) as e:
        AreaRequest.parse(AREA | change)
    assert e.value.field == field
