"""Small documents (batch specs, result manifests) at a local path or an s3:// URI.

The worker entrypoint reads its batch spec and writes its manifest through here, so the same code
serves a laptop (a folder) and an ECS task (S3). Local writes go to a temporary file that is then
renamed, and an S3 put is atomic, so a reader never sees half a document.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from hazflow.exceptions import StorageError


def join(root: Path | str, *parts: str) -> str:
    """`root/part/...` for a folder or an s3:// prefix."""
    base = str(root).rstrip("/")
    return "/".join([base, *(p.strip("/") for p in parts)])


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise StorageError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


def s3_client(endpoint_url: str | None = None, region: str = "ap-southeast-2") -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


def read_bytes(uri: str, endpoint_url: str | None = None, region: str = "ap-southeast-2") -> bytes:
    """The document at `uri`; `StorageError` naming it if it is not there."""
    if not uri.startswith("s3://"):
        try:
            return Path(uri).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{uri} not found") from None
    from hazflow.store.aws.errors import as_hazflow_error, error_code

    bucket, key = split_s3(uri)
    try:
        return s3_client(endpoint_url, region).get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as e:  # noqa: BLE001 - classified: missing is permanent, throttling/5xx transient
        if error_code(e) in {"NoSuchKey", "NoSuchBucket", "404"}:
            raise StorageError(f"{uri} not found") from e
        raise as_hazflow_error(e, f"read {uri}") from e


def write_bytes(uri: str, data: bytes, endpoint_url: str | None = None, region: str = "ap-southeast-2") -> None:
    """Put `data` at `uri`, replacing what was there, all at once."""
    if not uri.startswith("s3://"):
        target = Path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        staging.write_bytes(data)
        os.replace(staging, target)
        return
    from hazflow.store.aws.errors import as_hazflow_error

    bucket, key = split_s3(uri)
    try:
        s3_client(endpoint_url, region).put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as e:  # noqa: BLE001
        raise as_hazflow_error(e, f"write {uri}") from e
