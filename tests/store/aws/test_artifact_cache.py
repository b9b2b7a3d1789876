"""The aws store's local artifact cache: downloads of one artifact at once each give a whole file, and
the cache stays within its bound, oldest files going first."""

from __future__ import annotations

import hashlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from hazflow.store import open_store
from hazflow.store.aws.store import trim_cache


def test_two_ingests_of_one_artifact_at_once_read_whole_files(moto_endpoint, fake_credentials, tmp_path):
    stage = f"t{uuid.uuid4().hex[:10]}"
    store = open_store("aws", f"s3://{stage}-bucket/hazflow", stage=stage, endpoint_url=moto_endpoint, cache=tmp_path / "cache")
    datastore = tmp_path / "calc_1.hdf5"
    datastore.write_bytes(os.urandom(24 << 20))  # a pass's datastore: tens of MB
    store.put_artifacts("pass-1", {"calc_1.hdf5": datastore})
    expected = hashlib.sha256(datastore.read_bytes()).hexdigest()

    def ingest(_: int) -> str:  # what an ingest does: fetch, then read the file it was given
        return hashlib.sha256(store.artifact("pass-1", "calc_1.hdf5").read_bytes()).hexdigest()

    with ThreadPoolExecutor(4) as pool:
        digests = list(pool.map(ingest, range(16)))
    assert digests == [expected] * 16
    assert sorted(p.name for p in (tmp_path / "cache" / "pass-1").iterdir()) == ["calc_1.hdf5"]  # no staging left


def test_the_cache_keeps_within_its_bound_oldest_first(tmp_path):
    for age, name in enumerate(["newest", "middle", "oldest"]):
        path = tmp_path / "job" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_700_000_000 - age * 100, 1_700_000_000 - age * 100))
    keep = tmp_path / "job" / "oldest"
    assert trim_cache(tmp_path, 2000, keep=keep) == 1000  # the oldest is the one being read: the next goes
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["newest", "oldest"]
    assert trim_cache(tmp_path, 2000) == 0  # within the bound: nothing more
    assert trim_cache(tmp_path, 0) == 2000 and not any((tmp_path / "job").iterdir())


@pytest.mark.parametrize("bound", [0, 10])
def test_a_download_over_the_bound_is_still_returned_whole(moto_endpoint, fake_credentials, tmp_path, bound):
    stage = f"t{uuid.uuid4().hex[:10]}"
    store = open_store("aws", f"s3://{stage}-bucket/hazflow", stage=stage, endpoint_url=moto_endpoint,
                       cache=tmp_path / "cache", cache_max_bytes=bound)  # fmt: skip
    for name in ("a.hdf5", "b.hdf5"):
        (tmp_path / name).write_bytes(b"y" * 100)
        store.put_artifacts(f"job-{name}", {name: tmp_path / name})
    assert store.artifact("job-a.hdf5", "a.hdf5").read_bytes() == b"y" * 100
    path = store.artifact("job-b.hdf5", "b.hdf5")
    assert path.read_bytes() == b"y" * 100 and not (tmp_path / "cache" / "job-a.hdf5" / "a.hdf5").exists()
