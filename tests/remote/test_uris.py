"""s3:// URIs beside local paths: recognised and parsed in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazflow.exceptions import StorageError
from hazflow.remote.documents import read_bytes, write_bytes
from hazflow.remote.uris import is_s3, join, location, split_s3


@pytest.mark.parametrize(
    ("uri", "key_required", "parts"),
    [
        ("s3://bucket/a/b.json", True, ("bucket", "a/b.json")),
        ("s3://bucket/prefix/", False, ("bucket", "prefix")),
        ("s3://bucket", False, ("bucket", "")),
    ],
)
def test_an_s3_uri_splits_into_bucket_and_key(uri, key_required, parts):
    assert split_s3(uri, key_required) == parts


@pytest.mark.parametrize(("uri", "key_required"), [("s3://bucket", True), ("s3:///key", True), ("/a/folder", False), ("", False)])
def test_what_is_not_an_s3_uri_is_a_storage_error_naming_it(uri, key_required):
    with pytest.raises(StorageError, match=repr(uri).replace("(", r"\(")):
        split_s3(uri, key_required)


def test_a_path_is_never_s3_and_a_root_keeps_its_kind():
    assert is_s3("s3://b/k") and not is_s3(Path("s3://b/k")) and not is_s3(None) and not is_s3("/tmp/s3://b")
    assert location("s3://b/prefix") == "s3://b/prefix" and location("/tmp/store") == Path("/tmp/store")
    assert join("s3://b/prefix/", "/batches/", "p", "0001.json") == "s3://b/prefix/batches/p/0001.json"
    assert join(Path("/tmp/store"), "batches") == "/tmp/store/batches"


def test_a_local_document_is_written_whole_and_a_missing_one_is_named(tmp_path):
    target = tmp_path / "a" / "b.json"
    write_bytes(str(target), b"{}")
    assert read_bytes(str(target)) == b"{}" and [p.name for p in target.parent.iterdir()] == ["b.json"]
    with pytest.raises(StorageError, match="missing.json not found"):
        read_bytes(str(tmp_path / "missing.json"))
