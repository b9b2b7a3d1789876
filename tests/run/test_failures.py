"""A failed run's ledger entry keeps what the campaign view shows of it: the error's class as it
crosses process boundaries, its message, and the tail of OpenQuake's log apart from the message.
OpenQuake here is a stand-in that fails as OpenQuake does (a traceback, exit 1): no engine needed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hazflow.exceptions import OpenQuakeError
from hazflow.model.sites import resolve_sites
from hazflow.openquake.spec import DisaggPass
from hazflow.plan.jobs import disagg_job, hazard_job
from hazflow.run.job import run_job
from hazflow.run.passes import run_pass

FAILING_OPENQUAKE = """#!/bin/sh
echo "INFO starting the calculation"
echo "Traceback (most recent call last):"
echo "ValueError: rupture_mesh_spacing must be positive"
exit 1
"""


@pytest.fixture
def failing(config, tmp_path):
    python = tmp_path / "python"
    python.write_text(FAILING_OPENQUAKE)
    python.chmod(0o755)
    return replace(config, oq_python=python)


def test_a_failed_job_keeps_its_class_message_and_log_tail(failing, demo):
    spec = hazard_job(demo, demo.leaf("CRU-1"), 400, tuple(resolve_sites(["WLG"])), ("PGA",), "3.26.2")
    store = failing.open_store()
    with pytest.raises(OpenQuakeError):
        run_job(spec, store, failing)
    entry = store.ledger_get(spec.key)
    assert (entry.state, entry.error_class, entry.attempts) == ("failed", "OpenQuakeError", 1)
    assert "failed with exit code 1: ValueError: rupture_mesh_spacing must be positive" in entry.error
    assert entry.log_tail.splitlines() == ["INFO starting the calculation", "Traceback (most recent call last):",
                                           "ValueError: rupture_mesh_spacing must be positive"]  # fmt: skip


def test_a_failed_pass_gives_each_of_its_jobs_the_same(failing, demo):
    p = DisaggPass(
        tuple(disagg_job(demo, demo.leaf("HIK-1"), 400, s, 0.1, {"PGA": 0.2}, "3.26.2") for s in resolve_sites(["WLG", "CHC"]))
    )
    store = failing.open_store()
    with pytest.raises(OpenQuakeError):
        run_pass(p, store, failing)
    for job in p.jobs:
        entry = store.ledger_get(job.key)
        assert (entry.state, entry.error_class) == ("failed", "OpenQuakeError")
        assert entry.error.startswith(f"pass {p.key} ({p.label}): OpenQuake pass") and "ValueError" in entry.log_tail


def test_an_entry_an_earlier_hazflow_wrote_reads_with_no_class_nor_tail(config):
    import json

    from hazflow.store.records import LedgerEntry

    old = {"job_key": "k", "kind": "hazard", "model": "DEMO", "leaf": "CRU-1", "vs30": 400.0, "sites": ["x"], "imts": ["PGA"],
           "state": "failed", "error": "boom"}  # fmt: skip
    entry = LedgerEntry.from_json(json.dumps(old))
    assert (entry.error, entry.error_class, entry.log_tail) == ("boom", "", "")
