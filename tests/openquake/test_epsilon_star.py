"""`epsilon_star` as OpenQuake defines it: a DEMO leaf disaggregated by epsilon* through hazflow's
one-pass path equals `oq engine --run` with `epsilon_star = true`, bin by bin; and it changes the
epsilon axis as epsilon* should: each rupture's exceedance sits in the bin of its own epsilon*
(the level's), not spread over every epsilon above it, so the magnitude-distance split stays
(but for ruptures whose epsilon* is below the lowest bin) and the mean epsilon drops."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hazflow.config import Config
from hazflow.ingest.realizations import ingest_batch
from hazflow.openquake.engines import SITES_PER_PASS
from hazflow.plan.passes import group_into_passes
from hazflow.report.mre import centres
from hazflow.run.batch import run_batch
from tests.openquake.test_onepass import compare, targets

pytestmark = pytest.mark.openquake


def _stored(model, oq_version, engine, folder):
    config = Config(store_root=folder / "store", work_dir=folder / "work", oq_parallel=2)
    jobs = targets(model, "CRU-1", oq_version, engine, sites=("WLG",))
    store = config.open_store()
    run_batch(group_into_passes(jobs, SITES_PER_PASS), store, config)
    assert {o.state for o in ingest_batch(jobs, store)} == {"done"}
    rows = {
        (r.imt, r.poe, r.gmm): r
        for job in jobs
        for imt in job.imts
        for r in store.get_disagg_realizations("DEMO", job.sites[0].code, 400, imt, job.poe)
    }
    return jobs, rows


def test_epsilon_star_equals_the_engine_and_moves_the_epsilon_axis(demo, oq_version, tmp_path):
    star = replace(demo, settings=demo.settings.with_overrides(epsilon_star=True))
    star_jobs, one_pass = _stored(star, oq_version, "hazardlib", tmp_path / "star-hazardlib")
    _, engine = _stored(star, oq_version, "oq", tmp_path / "star-oq")
    plain_jobs, plain = _stored(demo, oq_version, "hazardlib", tmp_path / "plain")

    assert {j.key for j in star_jobs}.isdisjoint(j.key for j in plain_jobs)  # a setting OpenQuake reads: new keys
    assert one_pass.keys() == engine.keys() == plain.keys()
    worst = max(compare(one_pass[k].values, engine[k].values) for k in engine)
    print(f"epsilon*: one pass vs oq engine, largest relative difference {worst:.2e}")
    assert worst <= 1e-6
    eps = centres(demo.settings.eps_edges)
    for key, p in plain.items():
        s = one_pass[key]
        assert s.settings_digest == star.settings.digest() != p.settings_digest
        if p.values.sum() < 1e-12:
            continue
        # the same ruptures exceed the level: the magnitude-distance split is the plain one's, but for ruptures
        # so close and large that their epsilon* is below the lowest epsilon bin (-4): epsilon* drops them
        star_mr, plain_mr = s.values.sum(axis=-1), p.values.sum(axis=-1)
        assert np.all(star_mr <= plain_mr * (1 + 1e-6) + 1e-15)
        same = np.isclose(star_mr, plain_mr, rtol=1e-3, atol=1e-9 * plain_mr.sum())
        assert plain_mr[same].sum() >= 0.97 * plain_mr.sum(), (key, plain_mr[same].sum() / plain_mr.sum())
        # but each rupture's exceedance is at its epsilon*, the lowest epsilon that exceeds: a lower mean epsilon
        mean_eps = {name: float((v.values.sum(axis=(0, 1, 2)) @ eps) / v.values.sum()) for name, v in (("star", s), ("plain", p))}
        assert mean_eps["star"] < mean_eps["plain"] - 0.1, (key, mean_eps)
