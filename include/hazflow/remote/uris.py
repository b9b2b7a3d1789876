"""`s3://bucket/key` URIs beside local paths: the one place hazflow recognises and parses them."""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

from hazflow.exceptions import StorageError

S3 = "s3://"


def is_s3(location: Path | str | None) -> TypeGuard[str]:
    """Whether `location` is an `s3://` URI (a `Path` never is: it would fold the `//`)."""
    return isinstance(location, str) and location.startswith(S3)


def split_s3(uri: str, key_required: bool = True) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI, the key without its outer slashes; `StorageError` naming the
    URI when it is not one (or has no key, where one is required)."""
    bucket, _, key = uri.removeprefix(S3).partition("/") if is_s3(uri) else ("", "", "")
    key = key.strip("/")
    if not bucket or (key_required and not key):
        raise StorageError(f"{uri!r} is not an s3://bucket{'/key' if key_required else '[/prefix]'} URI")
    return bucket, key


def join(root: Path | str, *parts: str) -> str:
    """`root/part/...` for a folder or an s3:// prefix."""
    base = str(root).rstrip("/")
    return "/".join([base, *(p.strip("/") for p in parts)])


def location(text: str) -> Path | str:
    """A root as given: an `s3://...` URI stays a string, anything else is a path."""
    return text if is_s3(text) else Path(text)
