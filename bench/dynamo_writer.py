"""Benchmark: hazflow's DynamoDB batch writer against PynamoDB's plain `Model.batch_write()`.

    .venv/bin/python bench/dynamo_writer.py [ITEMS] [--latency-ms 0 10]

Starts a moto_server on 127.0.0.1 (no real AWS) and, for each latency, creates one
PAY_PER_REQUEST table per writer and writes the same ITEMS (default 20,000) hazard-realization
items to each: a coarse-location partition key with model and VS30, a range key of site, IMT,
leaf and GMM branch, and the 44-level curve as compressed float32 bytes. PynamoDB goes first,
one thread, as its batch writer works; then this writer, pages of 25 on 8 threads. Both tables
are counted afterwards. Requests pass a proxy that adds the given latency to each (0: moto on
localhost as it is; DynamoDB from an AWS worker is milliseconds away, which is what threads hide).
Prints items/s for both and their ratio (target >= 3).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib

import numpy as np

from hazflow.aws.batch_writer import dynamodb_client, write_items
from hazflow.aws.moto_server import DUMMY_CREDENTIALS, FaultProxy, moto_server

THREADS = 8


def model_class(table: str, host: str):
    from pynamodb.attributes import BinaryAttribute, UnicodeAttribute
    from pynamodb.models import Model

    class Realization(Model):
        class Meta:
            table_name = table
            region = DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"]

        partition = UnicodeAttribute(hash_key=True)
        sort = UnicodeAttribute(range_key=True)
        job_key = UnicodeAttribute()
        vals = BinaryAttribute(legacy_encoding=False)

    Realization.Meta.host = host
    return Realization


def realizations(model, n: int) -> list:
    rng = np.random.default_rng(1)
    levels = np.geomspace(1e-4, 10, 44)
    out = []
    for i in range(n):
        curve = (rng.uniform(0.01, 0.05) * np.exp(-rng.uniform(3, 8) * levels)).astype(np.float32)
        site = f"-{40 + i % 7}.300~17{i % 5}.780"
        out.append(
            model(
                f"DEMO|400|{site[:5]}~{site[-7:-2]}",
                f"{site}|PGA|CRU-{i % 36 + 1}|gmm-{i // 252:05d}",
                job_key=f"{i // 21:024x}",
                vals=zlib.compress(curve.tobytes(), 1),
            )
        )
    return out


def count(client, table: str) -> int:
    total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = client.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_case(url: str, n: int, latency_ms: float) -> tuple[float, float, tuple[int, int]]:
    """Both writers through a proxy adding `latency_ms` per request; (plain items/s, ours items/s, counts)."""
    proxy = FaultProxy(url, unprocessed=0.0, failures=0.0, latency_s=latency_ms / 1000)
    try:
        tag = f"{latency_ms:g}ms"
        plain, ours = model_class(f"bench-pynamodb-{tag}", proxy.url), model_class(f"bench-hazflow-{tag}", proxy.url)
        for m in (plain, ours):
            m.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        items = realizations(plain, n)
        start = time.monotonic()
        with plain.batch_write() as batch:
            for item in items:
                batch.save(item)
        plain_s = time.monotonic() - start
        client = dynamodb_client(proxy.url, threads=THREADS)
        typed = [item.serialize() for item in realizations(ours, n)]
        report = write_items(client, ours.Meta.table_name, typed, ("partition", "sort"), threads=THREADS)
        direct = dynamodb_client(url)
        counts = (count(direct, plain.Meta.table_name), count(direct, ours.Meta.table_name))
    finally:
        proxy.close()
    print(
        f"latency {latency_ms:g} ms: pynamodb Model.batch_write {plain_s:.1f} s, {n / plain_s:,.0f} items/s; "
        f"hazflow write_items ({THREADS} threads) {report.seconds:.1f} s, {report.items_per_s:,.0f} items/s; "
        f"ratio {report.items_per_s * plain_s / n:.2f}; stored {counts[0]:,} and {counts[1]:,}"
    )
    return n / plain_s, report.items_per_s, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="?", type=int, default=20_000)
    parser.add_argument("--latency-ms", nargs="+", type=float, default=[0.0, 10.0])
    args = parser.parse_args()
    os.environ.update(DUMMY_CREDENTIALS)
    start = time.monotonic()
    ratios = []
    with moto_server() as url:
        for latency in args.latency_ms:
            plain, ours, counts = run_case(url, args.items, latency)
            if counts != (args.items, args.items):
                print(f"lost items: {counts}")
                return 2
            ratios.append(ours / plain)
    print(
        f"total: {time.monotonic() - start:.1f} s; ratio by latency: "
        + ", ".join(f"{lat:g} ms {r:.2f}" for lat, r in zip(args.latency_ms, ratios, strict=True))
        + " (target >= 3)"
    )
    return 0 if min(ratios) >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
