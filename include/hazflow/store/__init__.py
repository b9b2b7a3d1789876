"""Storage: one interface (`Store`), backends chosen by configuration. `local` is the default."""

from __future__ import annotations

from hazflow.store.base import Store
from hazflow.store.records import DisaggAggregate, DisaggRealization, HazardAggregate, HazardRealization, LedgerEntry

__all__ = ["Store", "LedgerEntry", "HazardRealization", "DisaggRealization", "HazardAggregate", "DisaggAggregate", "open_store"]


def open_store(backend: str, root: str) -> Store:
    """Open a store backend; `local` keeps everything under the folder `root`."""
    from hazflow.exceptions import BadRequest

    if backend == "local":
        from hazflow.store.local import LocalStore

        return LocalStore(root)
    raise BadRequest("store.backend", f"unknown store backend {backend!r}; available: local")
