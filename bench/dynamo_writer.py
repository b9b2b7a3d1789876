"""Benchmark: hazflow's DynamoDB batch writer against PynamoDB's plain `Model.batch_write()`.

    .venv/bin/python bench/dynamo_writer.py [ITEMS] [--latency-ms 0 10 20] [--server dynamodb|moto_server]
        [--server-threads 1]

Starts moto on 127.0.0.1 (no real AWS) and, for each network round trip, creates one
PAY_PER_REQUEST table per writer and writes the same ITEMS (default 30,000) hazard-realization
items to each: a coarse-location partition key with model and VS30, a range key of site, IMT,
leaf and GMM branch, and the 44-level curve as compressed float32 bytes. PynamoDB goes first,
one thread, as its batch writer works; then this writer, pages of 25 on 8 threads, the way the
aws store calls it (models serialised, then written). Both timings start from model instances,
so both include serialising them. Both tables are counted afterwards, then dropped.

The server (`--server`): by default moto's DynamoDB served with keep-alive
(`tests.support.moto_dynamodb`: moto's own request handling and storage, without moto_server's new
connection and service look-up per request, which DynamoDB does not have); `moto_server` is the
stock command. Either way the database is one Python process on the client's machine.

The round trip is a wait before each BatchWriteItem is sent, in the client's own thread (0: moto
on localhost as it is). At 0 ms both writers meet the ceiling of the one moto process sharing the
machine's cores (threads can hide waiting, not CPU), so the ratio there says how close each gets
to it. DynamoDB is across a network: the ratio is judged at a modelled round trip of
20 ms (JUDGED_ROUND_TRIP_MS; README.md, "Speed at NSHM scale", gives the reasons for that figure).
Prints items/s for both and their ratio (target >= 3); the exit status is 0 only if the ratio
meets it at every round trip of 20 ms or more, and at least one was run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: moto's stand-ins live in tests/support

from hazflow.store.aws.writer import dynamodb_client, write_items  # noqa: E402
from tests.support.fault_proxy import add_round_trip  # noqa: E402
from tests.support.moto_server import DUMMY_CREDENTIALS, moto_server  # noqa: E402

THREADS = 8
TARGET = 3.0
JUDGED_ROUND_TRIP_MS = 20.0  # the modelled DynamoDB round trip; README.md, "Speed at NSHM scale", says why


SERVERS = {
    "dynamodb": "moto's DynamoDB with keep-alive (tests.support.moto_dynamodb)",
    "moto_server": "moto_server (a new connection per request)",
}


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
    """Both writers with `latency_ms` before each request; (plain items/s, ours items/s, counts)."""
    tag = f"{latency_ms:g}ms"
    plain, ours = model_class(f"bench-pynamodb-{tag}", url), model_class(f"bench-hazflow-{tag}", url)
    for m in (plain, ours):
        m.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    add_round_trip(plain._get_connection().connection.client, latency_ms / 1000)
    client = dynamodb_client(url, threads=THREADS)
    add_round_trip(client, latency_ms / 1000)

    items = realizations(plain, n)
    start, cpu = time.monotonic(), time.process_time()
    with plain.batch_write() as batch:
        for item in items:
            batch.save(item)
    plain_s, plain_cpu_ms = time.monotonic() - start, (time.process_time() - cpu) * 1000 / -(-n // 25)

    items = realizations(ours, n)
    start = time.monotonic()
    report = write_items(
        client, ours.Meta.table_name, [item.serialize() for item in items], ("partition", "sort"), threads=THREADS
    )
    ours_s = time.monotonic() - start

    counts = (count(client, plain.Meta.table_name), count(client, ours.Meta.table_name))
    for m in (plain, ours):
        m.delete_table()  # every case starts from an empty database, not one holding the last case's items
    print(
        f"round trip {latency_ms:g} ms: pynamodb Model.batch_write {plain_s:.1f} s, {n / plain_s:,.0f} items/s "
        f"(client CPU {plain_cpu_ms:.1f} ms per 25-item request); "
        f"hazflow write_items ({THREADS} threads) {ours_s:.1f} s, {n / ours_s:,.0f} items/s; "
        f"ratio {plain_s / ours_s:.2f}; stored {counts[0]:,} and {counts[1]:,}; "
        f"this writer's requests {report.requests:,}, errors retried {report.errors_retried}, "
        f"items resubmitted {report.unprocessed_resubmitted}"
    )
    return n / plain_s, n / ours_s, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="?", type=int, default=30_000)
    parser.add_argument("--latency-ms", nargs="+", type=float, default=[0.0, 10.0, JUDGED_ROUND_TRIP_MS])
    parser.add_argument("--server", choices=("dynamodb", "moto_server"), default="dynamodb")
    parser.add_argument("--server-threads", type=int, default=1, help="worker threads of the dynamodb server")
    args = parser.parse_args()
    os.environ.update(DUMMY_CREDENTIALS)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed benchmark still stops its server
    start = time.monotonic()
    ratios = []
    threads = f", {args.server_threads} worker thread(s)" if args.server == "dynamodb" else ""
    print(f"server: {SERVERS[args.server]}{threads}; {args.items:,} items per writer; {os.cpu_count()} cores")
    with moto_server(dynamodb_only=args.server == "dynamodb", threads=args.server_threads) as url:
        for latency in args.latency_ms:
            plain, ours, counts = run_case(url, args.items, latency)
            if counts != (args.items, args.items):
                print(f"lost items: {counts}")
                return 2
            ratios.append(ours / plain)
    judged = [r for lat, r in zip(args.latency_ms, ratios, strict=True) if lat >= JUDGED_ROUND_TRIP_MS]
    met = bool(judged) and min(judged) >= TARGET
    verdict = (
        f"target >= {TARGET:g} at a {JUDGED_ROUND_TRIP_MS:g} ms round trip: " + ("met" if met else "NOT met")
        if judged
        else f"no run with a round trip of {JUDGED_ROUND_TRIP_MS:g} ms or more: not judged"
    )
    print(
        f"total: {time.monotonic() - start:.1f} s; ratio by round trip: "
        + ", ".join(f"{lat:g} ms {r:.2f}" for lat, r in zip(args.latency_ms, ratios, strict=True))
        + f"; {verdict}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
