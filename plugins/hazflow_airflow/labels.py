"""Names of mapped task instances in the UI (`map_index_template="{{ label }}"`).

Airflow renders a mapped task's `map_index_template` with the task's context after the task ran,
and documents adding a key to that context from inside the task for it.
"""

from __future__ import annotations

TEMPLATE = "{{ label }}"


def set_label(label: str) -> None:
    """Name the running mapped instance `label` (e.g. `WLG vs30=400 PGA 10%/50yr CRU-1 (+5 more)`)."""
    from airflow.sdk import get_current_context

    # The context is a TypedDict of Airflow's own keys; `label` is ours, read by TEMPLATE.
    get_current_context()["label"] = label  # type: ignore[typeddict-unknown-key]
