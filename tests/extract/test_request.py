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
     ({"grid": "NZ_9"}, "grid", "unknown grid"), ({"site_model": "lon,lat,vs30\n174.7,-41.3,750\n"}, "vs30", "not both"),
     ({"vs30": None}, "vs30", "or a site model"),
     ({"vs30": None, "site_model": "lon,lat,vs30\n170,-41.3,750\n"}, "area", "no site of the site model in the area")],
)  # fmt: skip
def test_bad_fields_are_named(change, field, message):
    with pytest.raises(BadRequest, match=message) as e:
        AreaRequest.parse(AREA | change)
    assert e.value.field == field


def test_a_site_model_gives_the_sites_in_the_area_each_its_vs30():
    text = "lon,lat,vs30\n174.7,-41.3,750\n174.75,-41.25,300\n175.5,-41.3,400\n"  # the last is outside the box
    r = AreaRequest.parse(AREA | {"vs30": None, "site_model": text})
    assert [(s.code, v) for s, v in r.targets] == [("-41.300~174.700", 750.0), ("-41.250~174.750", 300.0)]
    assert (r.grid, r.vs30) == ("site_model", None) and r.name.startswith("DEMO-mean-site_model-")
    assert r.hazard_params()["vs30s"] == [300.0, 750.0]
    other = AreaRequest.parse(AREA | {"vs30": None, "site_model": text.replace("750", "760")})
    assert other.name != r.name  # the site model's rows are in the bundle's name
