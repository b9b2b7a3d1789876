"""The Campaign view's numbers: a disaggregation plan's runs as a leaf x site grid, each cell's runs
by state from the ledger, the failures with their class and OpenQuake's log tail, and the totals
(CPU-hours spent, runs reused, what is left).

A run's state: `ran` and `done` (OpenQuake finished; `done` once ingested), `no_ruptures` (every
source beyond the cut-off), `failed` (its last attempt), or `to do` (no ledger entry yet). Runs the
ledger had as finished when the plan was made are not in the plan: they are the plan's `skipped`,
counted as reused.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hazflow.exceptions import BadRequest, StorageError
from hazflow.model.sites import Site
from hazflow.results.hazard import NothingStored
from hazflow.store.base import Store
from hazflow.store.records import LedgerEntry

TO_DO = "to do"
NO_RUPTURES = "no ruptures"
LOG_TAIL_LINES = 30


def _state(entry: LedgerEntry | None) -> str:
    if entry is None:
        return TO_DO
    if entry.state == "no_ruptures" or (entry.state == "done" and entry.empty):
        return NO_RUPTURES
    return str(entry.state)


def disagg_campaign(store: Store, plan_id: str) -> dict[str, Any]:
    """The plan's grid: `leaves` (rows), `sites` (columns, ids), `cells[leaf][site]` (state -> runs),
    `failures` (label, leaf, site, error class, error, log tail), `totals` (by state, reused, left,
    CPU-hours spent by the plan's runs)."""
    try:
        doc = store.get_plan(plan_id)
    except StorageError:
        raise NothingStored(f"no plan {plan_id!r} in the store") from None
    request = doc["request"]
    leaves: list[str] = list(request["leaves"])
    site_ids = {site.code: site.id for site in (Site(**s) for s in doc["sites"])}
    groups = doc["groups"]  # [site code, vs30, poe, imls, (imts)]
    wanted = set(doc["keys"])
    entries = {e.job_key: e for e in store.ledger_list(model=request["model"], kind="disagg") if e.job_key in wanted}
    cells: dict[str, dict[str, Counter[str]]] = {leaf: {} for leaf in leaves}
    failures, totals, cpu_seconds = [], Counter[str](), 0.0
    for (leaf_index, group_index), key in zip(doc["runs"], doc["keys"], strict=True):
        leaf, group = leaves[leaf_index], groups[group_index]
        site = site_ids.get(group[0], group[0])
        entry = entries.get(key)
        state = _state(entry)
        cells[leaf].setdefault(site, Counter())[state] += 1
        totals[state] += 1
        if entry is not None:
            cpu_seconds += entry.cpu_seconds
            if state == "failed":
                tail = entry.log_tail.splitlines()[-LOG_TAIL_LINES:]
                failures.append({"key": key, "leaf": leaf, "site": site, "vs30": group[1], "poe": group[2],
                                 "error_class": entry.error_class, "error": entry.error, "log_tail": "\n".join(tail)})  # fmt: skip
    sites = list(dict.fromkeys(site_ids.get(g[0], g[0]) for g in groups))
    return {
        "plan_id": plan_id,
        "model": request["model"],
        "engine": doc.get("engine", ""),
        "leaves": leaves,
        "sites": sites,
        "cells": {leaf: {site: dict(c) for site, c in by_site.items()} for leaf, by_site in cells.items()},
        "failures": failures,
        "totals": {
            "planned": len(doc["keys"]),
            "by_state": dict(totals),
            "reused": int(doc.get("skipped", 0)),
            "left": totals[TO_DO] + totals["failed"],
            "cpu_hours": cpu_seconds / 3600,
            "jobs": int(doc.get("jobs", 0)),
        },
    }


def plan_id_of(plan_xcom: Any) -> str:
    """The plan id in a disagg_realizations run's `plan` XCom."""
    if not isinstance(plan_xcom, dict) or not plan_xcom.get("plan_id"):
        raise BadRequest("run_id", "the run has no plan yet (its plan task has not succeeded)")
    return str(plan_xcom["plan_id"])
