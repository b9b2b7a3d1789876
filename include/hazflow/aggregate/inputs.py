"""From stored realizations to engine inputs, and what a stored aggregate says about its origin."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from hazflow.aggregate.engine import Aggregate
from hazflow.aggregate.tree import CompositeTree
from hazflow.exceptions import BadRequest
from hazflow.store import DisaggRealization, HazardRealization

R = TypeVar("R", HazardRealization, DisaggRealization)


class MissingRealizations(BadRequest):
    """Some component realizations an aggregation needs are not in the store."""


def in_tree_order(tree: CompositeTree, rows: Sequence[R], target: str, what: str = "component realizations") -> list[R]:
    """The stored rows of the tree's components, in its row order; lists exactly which are missing."""
    by_component = {(r.leaf, r.gmm): r for r in rows}
    missing = [f"{leaf} x {gmm}" for leaf, gmm in tree.components if (leaf, gmm) not in by_component]
    if missing:
        raise MissingRealizations(
            "realizations", f"{len(missing)} of {len(tree.components)} {what} missing for {target}: {', '.join(missing)}"
        )
    return [by_component[c] for c in tree.components]


def require_all(targets: Iterable[tuple[str, Callable[[], object]]], hint: str) -> None:
    """Run each target's check; one `MissingRealizations` listing every target with something missing."""
    problems = []
    for _, check in targets:
        try:
            check()
        except MissingRealizations as e:
            problems.append(e.message)
    if problems:
        raise MissingRealizations("realizations", "; ".join(problems) + f". {hint}")


def provenance(tree: CompositeTree, rows: Sequence[R], result: Aggregate, **extra: object) -> str:
    """JSON saying what a stored aggregate was computed from (jobs, OpenQuake, settings) and how."""
    used = in_tree_order(tree, rows, "provenance")
    keys = sorted({r.job_key for r in used})
    return json.dumps(
        {
            "components": len(tree.components),
            "composites": result.n_composites,
            "method": result.method,
            "samples": result.n_samples,
            "convergence": result.convergence,
            "renormalised": result.renormalised,
            "leaves": sorted({leaf for leaf, _ in tree.components}),
            "job_keys_digest": hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16],
            "jobs": len(keys),
            "oq_version": used[0].oq_version,
            "settings_digest": used[0].settings_digest,
            **extra,
        },
        sort_keys=True,
    )
