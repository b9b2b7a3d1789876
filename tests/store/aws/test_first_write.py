"""The first writes to a fresh stage: several writers at once (mapped tasks, ECS workers) each find
the tables and bucket missing and create them; none may fail for the others having done it."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from hazflow.model.sites import resolve_sites
from hazflow.plan.jobs import disagg_job
from hazflow.run.job import new_entry
from hazflow.store import open_store


def fresh_stage(endpoint: str, tmp_path, stage: str, i: int):
    return open_store("aws", f"s3://{stage}-bucket/hazflow", stage=stage, endpoint_url=endpoint, cache=tmp_path / f"cache{i}")


@pytest.fixture
def entries(demo):
    site = resolve_sites(["WLG"])[0]
    return [new_entry(disagg_job(demo, leaf, 400, site, 0.1, {"PGA": 0.3}, "3.26.2"), "planned") for leaf in demo.leaves]


def test_a_writer_that_lost_the_race_to_create_the_tables_and_bucket_writes(moto_endpoint, tmp_path, entries, monkeypatch):
    """Deterministically the race's losing side: it looked (missing), the other writer created
    everything, then it creates: `ResourceInUseException` and `BucketAlreadyOwnedByYou`."""
    stage = f"t{uuid.uuid4().hex[:10]}"
    winner, loser = fresh_stage(moto_endpoint, tmp_path, stage, 0), fresh_stage(moto_endpoint, tmp_path, stage, 1)
    winner.ledger_record(entries[0])
    for model in loser.models.values():
        monkeypatch.setattr(model, "exists", classmethod(lambda cls: False))
    looked, real_head = [], loser.s3.head_bucket

    def head_bucket(**kwargs):  # missing when it looked, there when it waits for it
        if not looked:
            looked.append(kwargs)
            raise _not_found()
        return real_head(**kwargs)

    monkeypatch.setattr(loser.s3, "head_bucket", head_bucket)
    loser.ledger_record(entries[1])
    assert {e.job_key for e in winner.ledger_list()} == {entries[0].job_key, entries[1].job_key}
    assert looked and loser.put_report("first.png", _png(tmp_path)).startswith(f"s3://{stage}-bucket/")


def test_writers_starting_together_on_a_fresh_stage_all_write(moto_endpoint, tmp_path, entries):
    stage = f"t{uuid.uuid4().hex[:10]}"
    stores = [fresh_stage(moto_endpoint, tmp_path, stage, i) for i in range(len(entries))]
    start = threading.Barrier(len(stores))

    def write(i: int) -> None:
        start.wait()
        stores[i].ledger_record(entries[i])

    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(write, range(len(stores))))
    assert {e.job_key for e in stores[0].ledger_list()} == {e.job_key for e in entries}


def _not_found():
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadBucket")


def _png(tmp_path):
    path = tmp_path / "first.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    return path
