"""Split planned targets into batches for dynamic task mapping.

Airflow refuses to map over more than `core.max_map_length` (1,024) items and its UI degrades
long before; a request larger than `MAX_MAPPED` targets is spread over `MAX_MAPPED` contiguous
batches. Small requests keep one target per mapped instance, so the UI shows each.
"""

from __future__ import annotations

from typing import Any

MAX_MAPPED = 512


def batches(items: list[Any], max_batches: int = MAX_MAPPED) -> list[list[Any]]:
    """At most `max_batches` contiguous, near-equal batches, in order; one item each when they fit."""
    if max_batches < 1:
        raise ValueError("max_batches must be >= 1")
    n = min(len(items), max_batches)
    size, extra = divmod(len(items), n) if n else (0, 0)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def batch_label(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{labels[0]} (+{len(labels) - 1} more)"
