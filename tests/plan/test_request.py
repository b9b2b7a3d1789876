"""Requests: one parser for every kind, every error naming its field."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hazflow.exceptions import BadRequest
from hazflow.openquake.spec import JobSpec
from hazflow.plan.jobs import disagg_job
from hazflow.plan.request import (
    DisaggAggregationRequest,
    DisaggRequest,
    HazardAggregationRequest,
    HazardRequest,
)


def test_request_expands_leaves_by_vs30():
    request = HazardRequest.parse(
        {"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400, 750], "imts": ["PGA"], "leaves": ["CRU-1", "SLAB-1"]}
    )
    jobs = request.jobs("3.26.2")
    assert [j.label for j in jobs] == ["CRU-1 vs30=400", "CRU-1 vs30=750", "SLAB-1 vs30=400", "SLAB-1 vs30=750"]
    assert all(len(j.sites) == 2 for j in jobs)
    assert (
        len(
            HazardRequest.parse({"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["all"]}).jobs("x")
        )
        == 6
    )


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
        ({"model": "NSHM_v1.0.4"}, "leaves"),  # planned, but no place holds its leaves' archives
    ],
)
def test_bad_requests_name_the_field(kwargs, field, no_archives):
    args = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": None} | kwargs
    with pytest.raises(BadRequest) as info:
        HazardRequest.parse(args)
    assert info.value.field == field


@pytest.mark.parametrize("kind", [HazardRequest, DisaggRequest, HazardAggregationRequest, DisaggAggregationRequest])
def test_every_kind_goes_through_the_one_parser_and_back(kind):
    params = {
        "model": "DEMO",
        "sites": ["WLG", "CHC"],
        "vs30s": [400],
        "imts": ["pga"],
        "poes": [0.1],
        "leaves": ["CRU-1", "HIK-1"],
    }
    request = kind.parse(params | {"runner": "local", "force": False})  # Params of other steps are ignored
    assert [s.id for s in request.sites] == ["WLG", "CHC"] and request.imts == ("PGA",)
    conf = request.to_conf()
    assert conf["leaves"] == ["CRU-1", "HIK-1"] and conf["sites"] == ["WLG", "CHC"] and conf["model"] == "DEMO"
    assert kind.parse(conf) == request  # a DAG started with the conf sees the same request


def test_aggregation_defaults_and_the_subset_tree():
    request = DisaggAggregationRequest.parse({"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]})
    assert request.gmms is None and len(request.quantiles) == 17 and request.samples == 10_000
    assert request.closure_tolerance == 0.05 and request.fail_on_closure is False
    assert request.exports == ("json", "csv", "parquet")
    assert DisaggAggregationRequest.parse(request.to_conf() | {"exports": []}).exports == ()
    assert len(request.leaves) == 6
    subset = HazardAggregationRequest.parse(
        {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["CRU-1", "HIK-1", "SLAB-1"]}
    )
    assert {leaf for leaf, _ in subset.tree().components} == {"CRU-1", "HIK-1", "SLAB-1"}


@pytest.mark.parametrize(
    "kind, changes, field",
    [
        (DisaggRequest, {"poes": None}, "poes"),
        (DisaggRequest, {"poes": [1.5]}, "poes"),
        (HazardRequest, {"model": None}, "model"),
        (HazardRequest, {"imts": None}, "imts"),
        (HazardAggregationRequest, {"gmms": ["Nobody2099"]}, "gmms"),
        (HazardAggregationRequest, {"quantiles": [1.5]}, "quantiles"),
        (DisaggAggregationRequest, {"samples": 0}, "samples"),
        (DisaggAggregationRequest, {"samples": 2.5}, "samples"),
        (DisaggAggregationRequest, {"closure_tolerance": 1.5}, "closure_tolerance"),
        (DisaggAggregationRequest, {"closure_tolerance": 0}, "closure_tolerance"),
        (DisaggAggregationRequest, {"closure_tolerance": "5%"}, "closure_tolerance"),
        (DisaggAggregationRequest, {"fail_on_closure": "false"}, "fail_on_closure"),
        (DisaggAggregationRequest, {"exports": ["xlsx"]}, "exports"),
        (DisaggRequest, {"epsilon_star": "yes"}, "epsilon_star"),
        (DisaggRequest, {"contributors": "yes"}, "contributors"),
        (DisaggRequest, {"contributors": True, "disagg_engine": "oq"}, "contributors"),
        (DisaggRequest, {"target_stat": "median"}, "target_stat"),
        (DisaggRequest, {"target_stat": 1.5}, "target_stat"),
        (DisaggAggregationRequest, {"target_stat": True}, "target_stat"),
        (DisaggAggregationRequest, {"epsilon_star": 1}, "epsilon_star"),
        (DisaggAggregationRequest, {"exports": "json"}, "exports"),
        (DisaggAggregationRequest, {"exports": ["json", "json"]}, "exports"),
    ],
)
def test_missing_and_bad_fields_are_named(kind, changes, field):
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]} | changes
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(BadRequest) as info:
        kind.parse(params)
    assert info.value.field == field


def test_planning_needs_no_source_files_but_running_does(no_archives):
    nshm = {"model": "NSHM_v1.0.4", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]}
    assert DisaggRequest.parse(nshm, runnable=False).jobs == 49
    with pytest.raises(BadRequest, match="leaf PUY-1, source SW52ZXJzaW9uU29sdXRpb25Ocm1sOjEyOTE2NTc=: archive not found"):
        DisaggRequest.parse(nshm)


def test_a_runnable_nshm_request_resolves_every_leaf_before_any_compute(nshm_env):
    nshm = {"model": "NSHM_v1.0.4", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]}
    assert DisaggRequest.parse(nshm | {"leaves": ["PUY-1", "SLAB-1"]}).jobs == 2
    with pytest.raises(BadRequest, match="leaf PUY-2, source") as refused:  # the root holds PUY-1, HIK-1, CRU-1, SLAB-1
        DisaggRequest.parse(nshm | {"leaves": ["SLAB-1", "PUY-2"]})
    assert refused.value.field == "leaves"


def test_epsilon_star_is_a_calculation_setting_of_the_request():
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]}
    plain, star = DisaggRequest.parse(params), DisaggRequest.parse(params | {"epsilon_star": True})
    assert not plain.model.settings.epsilon_star and star.model.settings.epsilon_star and star.epsilon_star
    assert star.to_conf()["epsilon_star"] is True and DisaggRequest.parse(star.to_conf()) == star
    # the aggregation started for those realizations reads the same setting
    assert DisaggAggregationRequest.parse(star.to_conf()).model.settings == star.model.settings


@pytest.mark.parametrize(
    "engine, asked, recorded",
    [("hazardlib", None, True), ("hazardlib", False, False), ("hazardlib", True, True), ("oq", None, False)],
)
def test_contributors_are_recorded_by_default_where_the_engine_can(engine, asked, recorded):
    """On by default for the one-pass engine, off for `oq` (which cannot); a run that records them is
    another job (its key differs), so a realization stored without them is not taken for one with."""
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], "disagg_engine": engine}
    request = DisaggRequest.parse(params | ({} if asked is None else {"contributors": asked}))
    assert request.contributors is recorded and request.to_conf()["contributors"] is recorded
    site, leaf = request.sites[0], request.leaves[0]
    spec = disagg_job(request.model, leaf, 400, site, 0.1, {"PGA": 0.3}, "3.26.2", engine, "mean", request.contributors)
    plain = replace(spec, contributors=False)
    assert (spec.key != plain.key) is recorded
    assert JobSpec.from_json(spec.to_json()) == spec


def test_contributors_asked_of_the_oq_engine_are_refused_naming_the_field():
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], "disagg_engine": "oq"}
    with pytest.raises(BadRequest, match="cannot record contributions by source and fault") as refused:
        DisaggRequest.parse(params | {"contributors": True})
    assert refused.value.field == "contributors"


@pytest.mark.parametrize("value, name", [("mean", "mean"), (0.5, "0.5"), ("0.50", "0.5"), (0.1, "0.1"), (1, "1")])
def test_target_stat_is_named_as_the_aggregates_are(value, name):
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], "target_stat": value}
    assert DisaggRequest.parse(params).target_stat == name


@pytest.mark.parametrize(
    "given, field, expected",
    [({"poes": ["0.1", "0.02"], "other_poes": ["0.25", "0.1"]}, "poes", (0.1, 0.02, 0.25)),
     ({"poes": None, "other_poes": ["0.25"]}, "poes", (0.25,)),
     ({"imts": ["PGA"], "other_imts": ["sa(0.75)"]}, "imts", ("PGA", "SA(0.75)")),
     ({"vs30s": ["400"], "other_vs30s": ["325"]}, "vs30s", (400.0, 325.0)),
     ({"other_vs30s": []}, "vs30s", (400.0,))],
)  # fmt: skip
def test_the_forms_free_entries_join_its_picks(given, field, expected):
    """The form's multi-selects submit text; `other_<name>` free entries are added, a repeat counted once;
    the conf the next DAG gets has the joined list and no `other_` keys."""
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], **given}
    request = DisaggRequest.parse(params, runnable=False)
    assert getattr(request, field) == expected
    assert not any(key.startswith("other_") for key in request.to_conf())


@pytest.mark.parametrize(
    "given, field",
    [({"other_poes": ["1.5"]}, "other_poes"), ({"other_imts": ["PGV"]}, "other_imts"),
     ({"other_vs30s": ["fast"]}, "other_vs30s"), ({"poes": None, "other_poes": []}, "poes"),
     ({"imts": [], "other_imts": None}, "imts")],
)  # fmt: skip
def test_a_bad_free_entry_is_named(given, field):
    params = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], **given}
    with pytest.raises(BadRequest) as caught:
        DisaggRequest.parse(params, runnable=False)
    assert caught.value.field == field
