from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hazflow.model.sites import resolve_sites
from hazflow.openquake.spec import JobSpec
from hazflow.plan.jobs import disagg_job, hazard_job


@pytest.fixture
def spec(demo) -> JobSpec:
    return hazard_job(demo, demo.leaf("CRU-2"), 400, tuple(resolve_sites(["WLG", "AKL"])), ("PGA",), "3.26.2")


def test_key_survives_a_json_round_trip(spec):
    again = JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.key == spec.key and len(spec.key) == 24


@pytest.mark.parametrize(
    "change",
    [
        {"vs30": 401.0},
        {"imts": ("PGA", "SA(0.5)")},
        {"oq_version": "3.26.3"},
        {"leaf": "CRU-3"},
        {"gmms": (("[Bradley2013]", 1.0),)},
        {"sources": ("other.xml",)},
    ],
)
def test_key_changes_with_any_input(spec, change):
    assert replace(spec, **change).key != spec.key


def test_key_changes_with_site_parameters(spec):
    sites = (replace(spec.sites[0], backarc=True),) + spec.sites[1:]
    assert replace(spec, sites=sites).key != spec.key


def test_labels(spec, demo):
    assert spec.label == "CRU-2 vs30=400"
    d = disagg_job(demo, demo.leaf("CRU-2"), 400, spec.sites[0], 0.1, {"PGA": 0.3, "SA(0.5)": 0.5}, "3.26.2")
    assert d.label == "WLG vs30=400 PGA,SA(0.5) 10%/50yr CRU-2"
    assert d.imls == (0.3, 0.5) and d.kind == "disagg"
