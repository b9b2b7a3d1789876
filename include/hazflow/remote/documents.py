"""Small documents (batch specs, result manifests) at a local path or an s3:// URI.

The worker entrypoint reads its batch spec and writes its manifest through here, so the same code
serves a laptop (a folder) and an ECS task (S3). Local writes go to a temporary file that is then
renamed, and an S3 put is atomic, so a reader never sees half a document.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from hazflow.exceptions import StorageError
from hazflow.remote.clients import DEFAULT_REGION, aws_client
from hazflow.remote.errors import as_hazflow_error, error_code
from hazflow.remote.uris import is_s3, split_s3


def read_bytes(uri: str, endpoint_url: str | None = None, region: str = DEFAULT_REGION) -> bytes:
    """The document at `uri`; `StorageError` naming it if it is not there."""
    if not is_s3(uri):
        try:
            return Path(uri).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{uri} not found") from None
    bucket, key = split_s3(uri)
    try:
        return aws_client("s3", endpoint_url, region).get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as e:  # noqa: BLE001 - classified: missing is permanent, throttling/5xx transient
        if error_code(e) in {"NoSuchKey", "NoSuchBucket", "404"}:
            raise StorageError(f"{uri} not found") from e
        raise as_hazflow_error(e, f"read {uri}") from e


def write_bytes(uri: str, data: bytes, endpoint_url: str | None = None, region: str = DEFAULT_REGION) -> None:
    """Put `data` at `uri`, replacing what was there, all at once."""
    if not is_s3(uri):
        target = Path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        staging.write_bytes(data)
        os.replace(staging, target)
        return
    bucket, key = split_s3(uri)
    try:
        aws_client("s3", endpoint_url, region).put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as e:  # noqa: BLE001
        raise as_hazflow_error(e, f"write {uri}") from e
