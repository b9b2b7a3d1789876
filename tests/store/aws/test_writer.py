"""The DynamoDB batch writer against a real moto_server, with and without injected faults."""

from __future__ import annotations

import uuid

import pytest

from hazflow.exceptions import StorageError
from hazflow.remote.errors import is_transient
from hazflow.store.aws.writer import Backoff, IncompleteWriteError, dynamodb_client, pages, write_items

# Under the proxy's faults (25 % of items held back, 8 % of requests failed) an item misses an attempt
# with probability about 0.31; 20 attempts make giving up (the writer's correct, bounded answer) a
# 1e-10 event per item, where 12 left one of 2,000 items out about once in a few hundred runs.
FAST = Backoff(attempts=20, base_s=0.005, cap_s=0.1)


def make_table(endpoint: str) -> str:
    name = f"test-{uuid.uuid4().hex[:8]}"
    client = dynamodb_client(endpoint)
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def items(n: int, version: int = 1) -> list[dict]:
    return [
        {"pk": {"S": f"DEMO|400|{i % 7}"}, "sk": {"S": f"site{i:05d}|PGA"}, "v": {"N": str(version)}, "blob": {"B": bytes(64)}}
        for i in range(n)
    ]


def stored(endpoint: str, table: str) -> dict[tuple[str, str], str]:
    client = dynamodb_client(endpoint)
    out, kwargs = {}, {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            key = (item["pk"]["S"], item["sk"]["S"])
            assert key not in out, f"{key} stored twice"
            out[key] = item["v"]["N"]
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_every_item_lands_exactly_once_through_injected_faults(moto_endpoint, fault_proxy):
    table = make_table(moto_endpoint)
    proxy = fault_proxy(unprocessed=0.25, failures=0.08)
    seen = []
    report = write_items(
        dynamodb_client(proxy.url),
        table,
        items(2000),
        ("pk", "sk"),
        threads=8,
        backoff=FAST,
        progress=lambda d, t: seen.append(d),
        seed=1,
    )
    assert report.items == 2000 and seen[-1] == 2000 and seen == sorted(seen)
    assert len(stored(moto_endpoint, table)) == 2000
    # the faults really happened, and were absorbed
    assert proxy.counts["failed"] / proxy.counts["batch_requests"] >= 0.05
    assert proxy.counts["held_back"] / (proxy.counts["held_back"] + proxy.counts["forwarded_items"]) >= 0.2
    assert report.unprocessed_resubmitted == proxy.counts["held_back"] and report.errors_retried == proxy.counts["failed"]
    assert set(report.errors_by_code) <= {"InternalServerError", "ThrottlingException"}


def test_a_rewrite_replaces_and_never_duplicates(moto_endpoint, fault_proxy):
    table = make_table(moto_endpoint)
    client = dynamodb_client(fault_proxy().url)
    write_items(client, table, items(300, version=1), ("pk", "sk"), backoff=FAST, seed=2)
    write_items(client, table, items(300, version=2), ("pk", "sk"), backoff=FAST, seed=3)
    assert set(stored(moto_endpoint, table).values()) == {"2"} and len(stored(moto_endpoint, table)) == 300


def test_deletes_land_exactly_through_injected_faults(moto_endpoint, fault_proxy):
    """The aws store drops a job's stale rows with the same writer: every key deleted, no other."""
    table = make_table(moto_endpoint)
    write_items(dynamodb_client(moto_endpoint), table, items(600), ("pk", "sk"), seed=4)
    proxy = fault_proxy(unprocessed=0.25, failures=0.08)
    doomed = [{"pk": i["pk"], "sk": i["sk"]} for i in items(600)[::2]]
    report = write_items(dynamodb_client(proxy.url), table, doomed, ("pk", "sk"), backoff=FAST, seed=5, delete=True)
    assert report.items == 300 and proxy.counts["held_back"] > 0 and proxy.counts["failed"] > 0
    left = stored(moto_endpoint, table)
    assert sorted(left) == sorted((i["pk"]["S"], i["sk"]["S"]) for i in items(600)[1::2])


def test_exhausted_retries_say_how_many_items_did_not_land(moto_endpoint, fault_proxy):
    table = make_table(moto_endpoint)
    proxy = fault_proxy(unprocessed=1.0, failures=0.0)  # DynamoDB keeps answering "not now"
    with pytest.raises(IncompleteWriteError, match=rf"60 of 60 items did not land in {table} after every retry") as info:
        write_items(dynamodb_client(proxy.url), table, items(60), ("pk", "sk"), backoff=Backoff(3, 0.001, 0.01))
    assert info.value.missing == 60
    assert proxy.counts["batch_requests"] == 3 * 3  # three pages, three attempts each


def test_a_permanent_error_fails_at_once(moto_endpoint, fault_proxy):
    proxy = fault_proxy(unprocessed=0.0, failures=0.0)
    with pytest.raises(StorageError, match="ResourceNotFoundException.*permanent, not retried"):
        write_items(dynamodb_client(proxy.url), "no-such-table", items(60), ("pk", "sk"), threads=1, backoff=FAST)
    assert proxy.counts["batch_requests"] == 1  # neither retried nor continued with the other pages


def test_pages_hold_25_distinct_keys_and_the_last_write_wins():
    data = items(60) + [items(1, version=9)[0]]
    split = pages(data, ("pk", "sk"))
    assert [len(p) for p in split] == [25, 25, 10]
    assert split[-1][-1]["v"] == {"N": "9"}
    with pytest.raises(StorageError, match="without key attribute"):
        pages([{"pk": {"S": "x"}}], ("pk", "sk"))


@pytest.mark.parametrize(
    "code, status, transient",
    [
        ("ThrottlingException", 400, True), ("ProvisionedThroughputExceededException", 400, True),
        ("InternalServerError", 500, True), ("ServiceUnavailable", 503, True), ("SomethingNew", 502, True),
        ("ValidationException", 400, False), ("AccessDeniedException", 400, False),
        ("ResourceNotFoundException", 400, False), ("NoSuchBucket", 404, False),
    ],
)  # fmt: skip
def test_error_classification(code, status, transient):
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")
    assert is_transient(error) is transient


def test_lost_connections_and_timeouts_are_transient():
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    assert is_transient(EndpointConnectionError(endpoint_url="http://x")) and is_transient(
        ReadTimeoutError(endpoint_url="http://x")
    )
    assert not is_transient(ValueError("x"))
