"""A pass of real DEMO disaggregations: killed, every job failed and nothing stored; retried, every
job finished; run beside jobs already done, only the others computed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hazflow.exceptions import OpenQuakeError, StorageError
from hazflow.ingest.realizations import ingest_batch
from hazflow.model.sites import resolve_sites
from hazflow.openquake.spec import DisaggPass
from hazflow.plan.jobs import disagg_job
from hazflow.run.job import datastore_name
from hazflow.run.passes import run_pass

pytestmark = pytest.mark.openquake


def pass_of(demo, oq_version, sites=("WLG", "CHC"), poes=(0.1, 0.02)) -> DisaggPass:
    return DisaggPass(tuple(
        disagg_job(demo, demo.leaf("HIK-1"), 400, site, poe, {"PGA": 0.2 + p / 5}, oq_version)
        for site in resolve_sites(list(sites)) for p, poe in enumerate(poes)
    ))  # fmt: skip


def test_a_killed_pass_leaves_every_job_failed_and_nothing_stored_and_its_retry_finishes_them(config, demo, oq_version):
    p, store = pass_of(demo, oq_version), config.open_store()
    with pytest.raises(OpenQuakeError, match="timed out after 2 s"):
        run_pass(p, store, replace(config, oq_timeout_s=2.0))  # killed while OpenQuake is still starting
    for job in p.jobs:
        entry = store.ledger_get(job.key)
        assert (entry.state, entry.attempts) == ("failed", 1) and f"pass {p.key}" in entry.error and "timed out" in entry.error
    with pytest.raises(StorageError):
        store.artifact(p.key, datastore_name(p.jobs[0]))  # nothing half-stored
    assert store.get_disagg_realizations("DEMO", "-41.300~174.780", 400, "PGA", 0.1) == []

    outcomes = run_pass(p, store, config)  # the retry
    assert [(o.state, o.skipped, o.pass_key) for o in outcomes] == [("ran", False, p.key)] * 4
    assert {store.ledger_get(job.key).attempts for job in p.jobs} == {2}
    assert {o.state for o in ingest_batch(p.jobs, store)} == {"done"}
    assert len(store.get_disagg_realizations("DEMO", "-43.530~172.630", 400, "PGA", 0.02)) == 2  # 2 GMM branches


def test_a_pass_computes_only_its_jobs_the_ledger_does_not_have(config, demo, oq_version):
    p, store = pass_of(demo, oq_version), config.open_store()
    first = DisaggPass(p.jobs[:1])
    run_pass(first, store, config)  # one job already run, on its own
    outcomes = run_pass(p, store, config)
    assert [o.skipped for o in outcomes] == [True, False, False, False]
    rest = DisaggPass(p.jobs[1:])  # what the process computed: the three others, as one pass
    assert [store.ledger_get(j.key).artifact_key for j in p.jobs] == [first.key, rest.key, rest.key, rest.key]
    assert [store.ledger_get(j.key).pass_jobs for j in p.jobs] == [1, 3, 3, 3]
    assert all(o.skipped for o in run_pass(p, store, config))  # and again: nothing
