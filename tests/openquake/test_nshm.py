"""NSHM_v1.0.4 leaves run from NSHM-format archives (`bench/nshm_sources.py --scale test`): the
one-pass engine against `oq engine --run` per level, value by value, on both kinds of NSHM leaf
(an inversion's multi-fault ruptures over a section geometry model with its background; background
seismicity alone), each site's result against its own single-site engine run, as runzi ran them."""

from __future__ import annotations

import re

import pytest

from hazflow.model.logic_tree import load_model
from hazflow.model.sites import resolve_sites
from hazflow.openquake import render
from hazflow.plan.jobs import disagg_job
from tests.openquake.test_onepass import run_both_engines

pytestmark = pytest.mark.openquake

LEVELS = {"PGA": (0.3, 0.8), "SA(0.5)": (0.5, 1.5)}  # g, near WLG's 10 % and 2 % in 50 years at this size
POES = (0.1, 0.02)


@pytest.mark.parametrize(
    ("leaf", "sites", "poes"),
    [
        ("HIK-1", ("WLG", "CHC"), POES),  # inversion (interface tiles) + background; CHC beyond every cut-off
        # inversion (crustal multi-fault ruptures, 21 GMM branches) + background, three sites in one pass:
        # Lower Hutt sees the close sections WLG sees, CHC others (rupture parameters reused, and not)
        ("CRU-1", ("WLG", "-41.210~174.900", "CHC"), (0.1,)),
        ("SLAB-1", ("WLG",), POES),  # background seismicity only
    ],
)
def test_one_pass_equals_the_engine_per_level_on_nshm_leaves(nshm_env, oq_version, tmp_path, leaf, sites, poes):
    nshm = load_model("NSHM_v1.0.4")
    assert not render.sites_share_calculation(nshm.source_paths(nshm.leaf(leaf)))  # multi-fault or point-like: a site each
    both = run_both_engines(
        "NSHM_v1.0.4",
        lambda engine: [
            disagg_job(nshm, nshm.leaf(leaf), 400, site, poe, {imt: LEVELS[imt][p] for imt in LEVELS}, oq_version, engine)
            for site in resolve_sites(list(sites))
            for p, poe in enumerate(poes)
        ],
        tmp_path,
    )
    assert both.states["oq"][0] == "done"
    stored = both.stored
    assert len(stored["oq"]) == len(sites) * len(poes) * len(LEVELS) * len(nshm.gmms_for(nshm.leaf(leaf).trt))
    print(f"NSHM_v1.0.4 {leaf}: largest relative difference of {len(stored['oq'])} stored matrices: {both.worst:.2e}")
    assert both.worst <= 1e-6
    assert any(r.values.sum() > 0 for r in stored["oq"].values())  # compared on something, not zeros only
    if leaf == "CRU-1":  # the sites of the pass shared the multi-fault rupture parameters they could
        (one_pass,) = both.passes["hazardlib"]
        log = both.stores["hazardlib"].artifact(one_pass.key, "oq.log").read_text()
        computed, reused = map(int, re.search(r"multi-fault rupture parameters: (\d+) computed, (\d+) reused", log).groups())
        assert reused > 0 and computed > 0, log[-2000:]
