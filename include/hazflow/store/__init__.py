"""Storage: one interface (`Store`), backends chosen by configuration. `local` is the default."""

from __future__ import annotations

from hazflow.store.base import Store
from hazflow.store.records import DisaggAggregate, DisaggRealization, HazardAggregate, HazardRealization, LedgerEntry

__all__ = ["Store", "LedgerEntry", "HazardRealization", "DisaggRealization", "HazardAggregate", "DisaggAggregate", "open_store"]


def open_store(backend: str, root: str, **options: object) -> Store:
    """Open a store backend: `local` keeps everything under the folder `root`; `aws` keeps records in
    DynamoDB tables and files under the S3 location `root` (`s3://bucket/prefix`); `options` go to
    the backend (aws: stage, endpoint_url, region, cache)."""
    from hazflow.exceptions import BadRequest

    if backend == "local":
        from hazflow.store.local import LocalStore

        return LocalStore(root)
    if backend == "aws":
        from hazflow.store.aws import AwsStore

        return AwsStore(root, **options)  # type: ignore[arg-type]
    raise BadRequest("store.backend", f"unknown store backend {backend!r}; available: local, aws")
