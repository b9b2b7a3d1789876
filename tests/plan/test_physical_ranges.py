"""A request's VS30s lie within the model's range (NSHM 2022: 150 to 1500 m/s), or the range the
deployment sets (HAZFLOW_VS30_RANGE): 1e100 was accepted and failed inside OpenQuake's site model as
an OverflowError (not a HazflowError: no ledger entry, three retries)."""

from __future__ import annotations

import pytest

from hazflow.config import Config
from hazflow.exceptions import BadRequest
from hazflow.extract.request import AreaRequest
from hazflow.model.logic_tree import load_model
from hazflow.plan.request import DisaggRequest, HazardRequest
from tests.extract.conftest import AREA

BASE = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}


@pytest.mark.parametrize(
    "vs30, message",
    [(149, "VS30 149 m/s is outside the model's range, 150 to 1500 m/s"),
     (1501, "VS30 1501 m/s is outside the model's range, 150 to 1500 m/s"),
     (1e100, "VS30 1e+100 m/s is outside the model's range, 150 to 1500 m/s"),
     (0.4, "VS30 is whole m/s")],
)  # fmt: skip
def test_a_vs30_outside_the_models_range_is_refused_naming_it(vs30, message):
    with pytest.raises(BadRequest) as e:
        HazardRequest.parse(BASE | {"vs30s": [400, vs30]})
    assert e.value.field == "vs30s" and message in e.value.message


@pytest.mark.parametrize("vs30", [150, 1500])
def test_the_range_includes_its_ends(vs30):
    assert HazardRequest.parse(BASE | {"vs30s": [vs30]}).vs30s == (float(vs30),)
    assert DisaggRequest.parse(BASE | {"vs30s": [vs30], "poes": [0.1]}).vs30s == (float(vs30),)


def test_an_area_extract_checks_its_vs30_and_its_site_models_rows():
    with pytest.raises(BadRequest, match="vs30: VS30 2000 m/s is outside the model's range"):
        AreaRequest.parse(AREA | {"vs30": 2000})
    rows = "lon,lat,vs30\n174.7,-41.3,400\n174.8,-41.3,100\n"
    with pytest.raises(BadRequest, match="site_model: line 3: VS30 100 m/s is outside the model's range"):
        AreaRequest.parse(AREA | {"vs30": None, "site_model": rows})


def test_the_deployment_sets_another_range(monkeypatch):
    monkeypatch.setenv("HAZFLOW_VS30_RANGE", "100,3000")
    assert load_model("DEMO").vs30_range == (100.0, 3000.0)
    assert HazardRequest.parse(BASE | {"vs30s": [100, 3000]}).vs30s == (100.0, 3000.0)
    with pytest.raises(BadRequest, match="outside the model's range, 100 to 3000 m/s"):
        HazardRequest.parse(BASE | {"vs30s": [3001]})


@pytest.mark.parametrize("text", ["1500", "1500,150", "a,b", "0,100", "100,inf"])
def test_a_malformed_range_setting_is_refused_naming_it(monkeypatch, text):
    monkeypatch.setenv("HAZFLOW_VS30_RANGE", text)
    with pytest.raises(BadRequest, match="HAZFLOW_VS30_RANGE: expected"):
        Config.from_env()


# --- SA periods: within the span of the model's GMMs' coefficient tables (hazflow.model.periods) ---
@pytest.mark.parametrize("imt", ["SA(1000)", "SA(10.5)", "SA(0.005)"])
@pytest.mark.parametrize("model", ["DEMO", "NSHM_v1.0.4"])
def test_an_sa_period_outside_the_gmms_tables_is_refused_naming_the_span(model, imt):
    with pytest.raises(BadRequest) as e:
        HazardRequest.parse(BASE | {"model": model, "imts": ["PGA", imt], "leaves": None}, runnable=False)
    assert e.value.field == "imts"
    assert f"is outside the SA periods model {model}'s GMMs support, 0.01 to 10 s" in e.value.message
    assert "Stafford2022" in e.value.message or "(+" in e.value.message  # names the GMMs that cannot


@pytest.mark.parametrize("imt", ["SA(0.01)", "SA(10.0)", "SA(0.75)"])
def test_the_span_includes_its_ends_and_what_lies_between(imt):
    assert HazardRequest.parse(BASE | {"imts": [imt]}).imts == (imt,)


def test_an_extract_checks_its_sa_periods():
    with pytest.raises(BadRequest, match="imts: SA\\(20.0\\) is outside the SA periods"):
        AreaRequest.parse(AREA | {"imts": ["SA(20)"]})


def test_every_gmm_branch_of_every_known_model_has_its_span_in_the_table():
    from hazflow.model.nshm import KNOWN_MODELS
    from hazflow.model.periods import period_table, sa_span

    for name in KNOWN_MODELS:
        model = load_model(name)
        assert set(period_table()["models"][name]["gmms"]) == {g.id for g in model.gmm_branches}
        low, high = sa_span(name)  # type: ignore[misc]
        assert all(low >= s["min"] and high <= s["max"] for s in period_table()["models"][name]["gmms"].values())
