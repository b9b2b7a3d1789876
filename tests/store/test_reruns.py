"""The ledger says why a job ran again: what changed in its spec since the last job of its target."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hazflow.cli import run
from hazflow.model.sites import resolve_sites
from hazflow.plan.jobs import disagg_job
from hazflow.run.job import new_entry
from hazflow.store.reruns import rerun_reasons

WLG, AKL = resolve_sites(["WLG", "AKL"])


@pytest.fixture
def first(demo):
    return disagg_job(demo, demo.leaf("CRU-2"), 400, WLG, 0.1, {"PGA": 0.3}, "3.26.2", "hazardlib")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"inputs": "f" * 16}, "inputs (source file bytes or hazflow's rendering)"),
        ({"oq_version": "3.27.0"}, "OpenQuake version"),
        ({"oq_version": "3.27.0", "inputs": "f" * 16}, "inputs (source file bytes or hazflow's rendering); OpenQuake version"),
        ({"imls": (0.31,)}, "target levels"),
    ],
)
def test_a_later_job_of_the_same_target_names_what_changed(first, change, reason):
    again = replace(first, **change)
    entries = [
        new_entry(again, "done", started_at="2026-11-26T10:00:00"),
        new_entry(first, "done", started_at="2026-11-25T10:00:00"),
    ]
    assert rerun_reasons(entries) == {again.key: f"{reason} (since {first.key})"}


def test_jobs_of_other_targets_are_not_reruns(first):
    others = [replace(first, sites=(AKL,)), replace(first, poe=0.02), replace(first, engine="oq"), replace(first, leaf="CRU-3")]
    entries = [new_entry(spec, "done", started_at=f"2026-11-2{i}T00:00:00") for i, spec in enumerate([first, *others])]
    assert rerun_reasons(entries) == {}


def test_the_ledger_command_shows_the_reason(first, config):
    store = config.open_store()
    again = replace(first, inputs="0" * 16)
    store.ledger_record(new_entry(first, "done", started_at="2026-11-25T10:00:00"))
    store.ledger_record(new_entry(again, "done", started_at="2026-11-26T10:00:00"))
    entries = {e["job_key"]: e for e in run(["ledger"], config).value["entries"]}
    assert entries[first.key]["rerun_because"] == ""
    assert entries[again.key]["rerun_because"].startswith("inputs (source file bytes")
    header, _, *rows = run(["ledger"], config).text.splitlines()[:4]
    assert header.split()[-2:] == ["rerun", "because"]
    assert any(row.rstrip().endswith(f"(since {first.key})") for row in rows)
