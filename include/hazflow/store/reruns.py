"""Why a job was run again: the ledger keeps one entry per key, and a key changes when anything
OpenQuake reads changes, so the same target (kind, model, leaf, sites, VS30, IMTs, PoE, engine)
can hold several entries. Each later one was run because its spec differs from the one before it;
this names the fields that differ, as a scientist reads them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hazflow.store.records import LedgerEntry

# spec fields, in the words the ledger shows them
REASONS = {
    "inputs": "inputs (source file bytes or hazflow's rendering)",
    "oq_version": "OpenQuake version",
    "settings": "calculation settings",
    "gmms": "GMM branches",
    "sources": "source files",
    "imls": "target levels",
}


def _target(entry: LedgerEntry) -> tuple[Any, ...]:
    return (entry.kind, entry.model, entry.leaf, entry.sites, entry.vs30, entry.imts, entry.poe, entry.engine or "oq")


def rerun_reasons(entries: Sequence[LedgerEntry]) -> dict[str, str]:
    """For each entry that repeats the target of an earlier one (by start time), what changed since
    that one: `{job_key: "inputs (...); OpenQuake version"}`. Entries without a spec, or the first of
    their target, are left out."""
    by_target: dict[tuple[Any, ...], list[LedgerEntry]] = {}
    for entry in entries:
        if entry.spec:
            by_target.setdefault(_target(entry), []).append(entry)
    reasons: dict[str, str] = {}
    for same in by_target.values():
        same.sort(key=lambda e: (e.started_at or e.finished_at, e.job_key))
        for before, after in zip(same, same[1:], strict=False):
            old, new = json.loads(before.spec), json.loads(after.spec)
            changed = [REASONS.get(name, name) for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
            reasons[after.job_key] = "; ".join(changed) + f" (since {before.job_key})"
    return reasons
