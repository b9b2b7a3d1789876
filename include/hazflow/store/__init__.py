"""Storage: one interface (`Store`), backends chosen by configuration. `local` is the default."""

from __future__ import annotations

from pathlib import Path

from hazflow.store.base import Store
from hazflow.store.records import DisaggAggregate, DisaggRealization, HazardAggregate, HazardRealization, LedgerEntry

__all__ = ["Store", "LedgerEntry", "HazardRealization", "DisaggRealization", "HazardAggregate", "DisaggAggregate", "open_store"]


def open_store(
    backend: str,
    root: str,
    stage: str = "dev",
    endpoint_url: str | None = None,
    region: str = "ap-southeast-2",
    cache: Path | None = None,
    cache_max_bytes: int = 4 << 30,
) -> Store:
    """Open a store backend: `local` keeps everything under the folder `root`; `aws` keeps records in
    DynamoDB tables `<stage>-hazflow-*` (at `endpoint_url`, e.g. a moto_server, or AWS itself) and
    files under the S3 location `root` (`s3://bucket/prefix`), downloading artifacts into `cache`
    (trimmed to `cache_max_bytes`, oldest first)."""
    from hazflow.exceptions import BadRequest

    if backend == "local":
        from hazflow.store.local import LocalStore

        return LocalStore(root)
    if backend == "aws":
        from hazflow.store.aws.store import AwsStore

        return AwsStore(root, stage=stage, endpoint_url=endpoint_url, region=region, cache=cache, cache_max_bytes=cache_max_bytes)
    raise BadRequest("store.backend", f"unknown store backend {backend!r}; available: local, aws")
