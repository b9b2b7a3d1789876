"""The Campaign view's numbers: a disaggregation plan's runs as a leaf x site grid (a hazard run's jobs
as a leaf x VS30 grid), each cell's runs
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


def _grid(
    runs: list[tuple[str, str, str, dict[str, Any]]], entries: dict[str, LedgerEntry], started_at: str = ""
) -> dict[str, Any]:
    """`runs` (row, column, job key, what a failure shows besides) by ledger state: `cells`
    (row -> column -> state -> runs), `failures`, and `totals` (by state, left, CPU-hours; `reused`:
    runs finished before `started_at`, an ISO time, when given)."""
    cells: dict[str, dict[str, Counter[str]]] = {}
    failures, totals, cpu_seconds, reused = [], Counter[str](), 0.0, 0
    for row, column, key, about in runs:
        entry = entries.get(key)
        state = _state(entry)
        cells.setdefault(row, {}).setdefault(column, Counter())[state] += 1
        totals[state] += 1
        if entry is None:
            continue
        if started_at and entry.finished_at and entry.finished_at < started_at and state != "failed":
            reused += 1
        else:
            cpu_seconds += entry.cpu_seconds
        if state == "failed":
            tail = entry.log_tail.splitlines()[-LOG_TAIL_LINES:]
            failures.append({"key": key, "leaf": row, "site": column, **about, "error_class": entry.error_class,
                             "error": entry.error, "log_tail": "\n".join(tail)})  # fmt: skip
    return {
        "cells": {row: {column: dict(c) for column, c in by_column.items()} for row, by_column in cells.items()},
        "failures": failures,
        "totals": {
            "planned": len(runs),
            "by_state": dict(totals),
            "reused": reused,
            "left": totals[TO_DO] + totals["failed"],
            "cpu_hours": cpu_seconds / 3600,
        },  # fmt: skip
    }


def disagg_campaign(store: Store, plan_id: str) -> dict[str, Any]:
    """A disaggregation plan's grid: `leaves` (rows), `sites` (columns, ids), `cells[leaf][site]`
    (state -> runs), `failures` (leaf, site, VS30, PoE, error class, error, log tail), `totals` (by
    state, reused: the plan's skipped runs, left, CPU-hours spent by the plan's runs)."""
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
    runs = [(leaves[leaf], site_ids.get(groups[g][0], groups[g][0]), key, {"vs30": groups[g][1], "poe": groups[g][2]})
            for (leaf, g), key in zip(doc["runs"], doc["keys"], strict=True)]  # fmt: skip
    grid = _grid(runs, entries)
    grid["totals"] |= {"reused": int(doc.get("skipped", 0)), "jobs": int(doc.get("jobs", 0))}
    return {"plan_id": plan_id, "model": request["model"], "engine": doc.get("engine", ""), "columns": "site",
            "leaves": leaves, "sites": list(dict.fromkeys(site_ids.get(g[0], g[0]) for g in groups)), **grid}  # fmt: skip


def hazard_campaign(store: Store, batches: Any, started_at: str = "") -> dict[str, Any]:
    """A hazard_realizations run's grid from its `plan` XCom (batches of job specs): `leaves` (rows),
    `sites` (columns: `vs30=<m/s>`), cells, failures and totals as `disagg_campaign`'s; `reused`
    counts the jobs the ledger had finished before the run started (`started_at`, ISO)."""
    from hazflow.openquake.spec import JobSpec

    if not isinstance(batches, list):
        raise BadRequest("run_id", "the run has no plan yet (its plan task has not succeeded)")
    specs = [JobSpec.from_dict(s) for batch in batches for s in batch["specs"]]
    if not specs:
        raise NothingStored("the run planned no OpenQuake job")
    model = specs[0].model
    keys = {s.key for s in specs}
    entries = {e.job_key: e for e in store.ledger_list(model=model, kind="hazard") if e.job_key in keys}
    runs = [(s.leaf, f"vs30={s.vs30:g}", s.key, {"vs30": s.vs30, "poe": None}) for s in specs]
    grid = _grid(runs, entries, started_at)
    grid["totals"] |= {"jobs": len(specs)}
    return {"plan_id": "", "model": model, "engine": "oq classical", "columns": "VS30",
            "leaves": list(dict.fromkeys(s.leaf for s in specs)), "sites": list(dict.fromkeys(r[1] for r in runs)), **grid}  # fmt: skip


def plan_id_of(plan_xcom: Any) -> str:
    """The plan id in a disagg_realizations run's `plan` XCom."""
    if not isinstance(plan_xcom, dict) or not plan_xcom.get("plan_id"):
        raise BadRequest("run_id", "the run has no plan yet (its plan task has not succeeded)")
    return str(plan_xcom["plan_id"])
