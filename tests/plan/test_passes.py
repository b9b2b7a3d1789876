"""Passes: which jobs share an OpenQuake process, and how a pass names, keys and checks itself."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.sites import resolve_sites
from hazflow.openquake.spec import DisaggPass
from hazflow.plan.jobs import disagg_job
from hazflow.plan.passes import group_into_passes

OQ = "3.26.2"


def jobs(demo, leaf="CRU-1", sites=("WLG", "CHC"), poes=(0.1, 0.02), engine="hazardlib"):
    return [
        disagg_job(demo, demo.leaf(leaf), 400, site, poe, {"PGA": 0.1 + p / 10, "SA(0.5)": 0.2 + p / 10}, OQ, engine)
        for site in resolve_sites(list(sites))
        for p, poe in enumerate(poes)
    ]


def test_a_pass_names_its_sites_poes_and_leaf_and_gives_each_site_its_levels(demo):
    p = DisaggPass(tuple(jobs(demo)))
    assert p.label == "WLG,CHC vs30=400 PGA,SA(0.5) 10%,2%/50yr CRU-1"
    assert [s.id for s in p.sites] == ["WLG", "CHC"] and (p.leaf, p.vs30, p.imts, p.engine) == (
        "CRU-1",
        400.0,
        ("PGA", "SA(0.5)"),
        "hazardlib",
    )
    assert p.levels(p.sites[1]) == [[0.1, 0.2], [0.2, 0.30000000000000004]]  # (IMT, PoE) of CHC
    assert DisaggPass(p.jobs[:1]).label == p.jobs[0].label  # one job: named as the job


def test_the_key_follows_the_jobs_and_the_engine(demo):
    p = DisaggPass(tuple(jobs(demo)))
    assert p.key == DisaggPass(tuple(jobs(demo))).key and len(p.key) == 24
    assert p.key != DisaggPass(p.jobs[:3]).key  # a retry of the unfinished jobs is another pass
    assert DisaggPass(tuple(jobs(demo, engine="oq"))[:1]).key != DisaggPass(p.jobs[:1]).key


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda demo: jobs(demo) + jobs(demo, leaf="CRU-2")[:1], "one leaf, VS30, IMT set and engine"),
        (lambda demo: jobs(demo, engine="oq")[:2], "engine oq runs one job per pass"),
        (lambda demo: jobs(demo)[:1] * 2, "holds a job twice"),
        (lambda demo: [], "without jobs"),
    ],
)
def test_jobs_that_cannot_share_a_pass_are_refused(demo, make, message):
    with pytest.raises(DataIntegrityError, match=message):
        DisaggPass(tuple(make(demo)))


def test_grouping_by_leaf_and_site_chunks(demo):
    everything = jobs(demo, sites=("WLG", "CHC", "AKL")) + jobs(demo, leaf="SLAB-1", sites=("WLG", "CHC", "AKL"))
    passes = group_into_passes(everything, sites_per_pass=2)
    assert [(p.leaf, [s.id for s in p.sites], len(p.jobs)) for p in passes] == [
        ("CRU-1", ["WLG", "CHC"], 4), ("CRU-1", ["AKL"], 2), ("SLAB-1", ["WLG", "CHC"], 4), ("SLAB-1", ["AKL"], 2),
    ]  # fmt: skip
    assert [len(p.jobs) for p in group_into_passes(jobs(demo, engine="oq"), 5)] == [1, 1, 1, 1]


def test_a_pass_round_trips_and_a_changed_spec_is_refused_naming_it(demo):
    p = DisaggPass(tuple(jobs(demo)))
    assert DisaggPass.from_dict(p.to_dict()) == p
    changed = p.to_dict()
    changed["jobs"][2]["spec"]["imls"] = [9.9, 9.9]
    with pytest.raises(BadRequest) as info:
        DisaggPass.from_dict(changed, "spec.json: passes[0]")
    assert info.value.field == "spec.json: passes[0].jobs[2].key"
    mixed = p.to_dict()
    mixed["jobs"].append({"key": (k := replace(p.jobs[0], leaf="CRU-2")).key, "spec": k.to_dict()})
    with pytest.raises(BadRequest, match="cannot share a pass"):
        DisaggPass.from_dict(mixed)
