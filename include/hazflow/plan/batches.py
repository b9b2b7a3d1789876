"""Batches for Airflow's dynamic task mapping: the one splitter, the one label, the one map limit.

Airflow refuses to map over more than `core.max_map_length` (1,024 by default) items and its
scheduler and grid view degrade long before, so a list longer than a cap (512 by default) is spread
over that many contiguous, near-equal batches; a short list keeps one item per mapped instance, so
the UI shows each. The cap is held to the deployment's map limit (`HAZFLOW_LIMIT_MAP_LENGTH`, read
in the task's process), which must not exceed the api-server's `core.max_map_length`. Pure Python:
the DAG files' Params read these at parse time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from hazflow.limits import current as current_limits

T = TypeVar("T")

MAX_MAP_LENGTH = 1024  # Airflow's default core.max_map_length: a mapped task refuses longer lists (the forms' maximum)
DEFAULT_BATCH_CAP = 512  # what hazflow maps at most by default, well inside it


def batch_bounds(n: int, cap: int = DEFAULT_BATCH_CAP) -> list[tuple[int, int]]:
    """At most `cap` contiguous near-equal [start, stop) ranges covering `n` items, in order.

    >>> batch_bounds(5, 2)
    [(0, 3), (3, 5)]
    >>> batch_bounds(2, 4)
    [(0, 1), (1, 2)]
    >>> batch_bounds(0)
    []
    """
    if cap < 1:
        raise ValueError(f"a batch cap must be >= 1, got {cap}")
    count = min(n, cap)
    if count == 0:
        return []
    small, extra = divmod(n, count)
    bounds, start = [], 0
    for i in range(count):
        stop = start + small + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def map_cap(cap: int = DEFAULT_BATCH_CAP) -> int:
    """`cap` held to the deployment's map limit (`Limits.map_length`, read from this process's environment)."""
    return min(cap, current_limits().map_length)


def split(items: Sequence[T], cap: int | None = None) -> list[list[T]]:
    """`items` in at most `cap` contiguous near-equal batches (by default `map_cap()`); one item each
    when they fit.

    >>> split(["a", "b", "c"], 2)
    [['a', 'b'], ['c']]
    """
    return [list(items[start:stop]) for start, stop in batch_bounds(len(items), map_cap() if cap is None else cap)]


def batch_label(first: str, size: int) -> str:
    """How the UI names a mapped batch: its first item's label, and how many more it holds.

    >>> batch_label("WLG vs30=400", 1)
    'WLG vs30=400'
    >>> batch_label("WLG vs30=400 PGA 10%/50yr CRU-1", 24)
    'WLG vs30=400 PGA 10%/50yr CRU-1 (+23 more)'
    """
    return first if size == 1 else f"{first} (+{size - 1} more)"
