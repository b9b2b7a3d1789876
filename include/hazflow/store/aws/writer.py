"""A DynamoDB batch writer for seed-scale loads that never loses an item silently.

PynamoDB's batch writer retries unprocessed items a few times and then raises with nothing written
after it (PynamoDB issues 1046, 973); the old NSHM loads crashed on InternalServerError under
parallel load. This writer:

- splits the items into pages of 25 (BatchWriteItem's limit), last write winning for a repeated key,
  so every page is valid and a rerun rewrites the same keys (idempotent);
- writes pages concurrently on threads;
- resubmits `UnprocessedItems`, and retries throttling, 5xx, lost connections and timeouts, with
  exponential backoff and full jitter (sleep uniform in [0, min(cap, base * 2**attempt)]);
- fails at once on a permanent error (validation, access denied, missing table), naming it;
- after `max_attempts` for a page, keeps going with the others and finally raises
  `IncompleteWriteError` saying how many items did not land;
- reports progress and throughput.

Give it a client whose own retries are off (`dynamodb_client`), so that one policy, this one, is in
control and its counts are true.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from hazflow.exceptions import StorageError, TransientError
from hazflow.remote.clients import aws_client
from hazflow.remote.errors import as_hazflow_error, error_code, is_transient

PAGE = 25  # BatchWriteItem's item limit

Item = dict[str, dict[str, Any]]  # a DynamoDB item in the low-level typed format ({"pk": {"S": "..."}})


class IncompleteWriteError(TransientError):
    """Some items did not land after every retry; rerunning the write is safe (same keys)."""

    def __init__(self, table: str, missing: int, total: int, last_error: str) -> None:
        super().__init__(
            f"{missing} of {total} items did not land in {table} after every retry (last: {last_error}); "
            "rerun the write: keys are deterministic, nothing is duplicated"
        )
        self.table, self.missing, self.total, self.last_error = table, missing, total, last_error

    def __reduce__(self) -> tuple[type[IncompleteWriteError], tuple[str, int, int, str]]:
        """Pickled by its fields, as it is built (an Airflow task's error crosses processes)."""
        return (type(self), (self.table, self.missing, self.total, self.last_error))


@dataclass
class WriteReport:
    """What a write did: items, seconds, requests, and how much retrying it took."""

    table: str
    items: int
    seconds: float = 0.0
    requests: int = 0
    unprocessed_resubmitted: int = 0
    errors_retried: int = 0
    errors_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; `attempts` bounds the tries of one page."""

    attempts: int = 10
    base_s: float = 0.05
    cap_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2**attempt))


def pages(items: Sequence[Item], key_names: Sequence[str]) -> list[list[Item]]:
    """Pages of at most 25 items with distinct keys (the last of a repeated key wins), in order."""
    latest: dict[tuple, Item] = {}
    for item in items:
        try:
            key = tuple(next(iter(item[k].values())) for k in key_names)
        except KeyError as e:
            raise StorageError(f"item without key attribute {e}: {sorted(item)}") from None
        latest.pop(key, None)  # keep the order of the last occurrence
        latest[key] = item
    unique = list(latest.values())
    return [unique[i : i + PAGE] for i in range(0, len(unique), PAGE)]


class _Stats:
    def __init__(self, report: WriteReport, progress: Callable[[int, int], None] | None) -> None:
        self.report, self.progress, self.lock, self.written = report, progress, threading.Lock(), 0

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self.report, name, getattr(self.report, name) + n)

    def error(self, code: str) -> None:
        with self.lock:
            self.report.errors_retried += 1
            self.report.errors_by_code[code] = self.report.errors_by_code.get(code, 0) + 1

    def landed(self, n: int) -> None:
        with self.lock:
            self.written += n
            written = self.written
        if self.progress:
            self.progress(written, self.report.items)


def write_items(
    client: Any,
    table: str,
    items: Sequence[Item],
    key_names: Sequence[str],
    threads: int = 8,
    backoff: Backoff = Backoff(),
    progress: Callable[[int, int], None] | None = None,
    seed: int | None = None,
    delete: bool = False,
) -> WriteReport:
    """Put every item into `table` (with `delete`: delete the item of every key in `items`, each a
    dict of the key attributes only), with the same paging, retries and accounting; raise
    `IncompleteWriteError` if any did not land, `StorageError` at once on a permanent error."""
    batches = pages(items, key_names)
    report = WriteReport(table, sum(len(p) for p in batches))
    stats = _Stats(report, progress)
    stop = threading.Event()
    start = time.monotonic()
    missing, last_error = 0, ""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        futures = [
            pool.submit(
                _write_page, client, table, page, backoff, stats, stop, random.Random(None if seed is None else seed + i), delete
            )
            for i, page in enumerate(batches)
        ]
        try:
            for future in as_completed(futures):
                left, error = future.result()
                missing += left
                last_error = error or last_error
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()  # pages not started yet
            raise
    report.seconds = time.monotonic() - start
    if missing:
        raise IncompleteWriteError(table, missing, report.items, last_error)
    return report


def _write_page(
    client: Any,
    table: str,
    page: list[Item],
    backoff: Backoff,
    stats: _Stats,
    stop: threading.Event,
    rng: random.Random,
    delete: bool = False,
) -> tuple[int, str]:
    """Write one page until every item landed or the attempts are spent; (items left, last error)."""
    pending = [{"DeleteRequest": {"Key": item}} if delete else {"PutRequest": {"Item": item}} for item in page]
    last_error = ""
    for attempt in range(backoff.attempts):
        if stop.is_set():
            return len(pending), "stopped after a permanent error elsewhere"
        if attempt:
            time.sleep(backoff.delay(attempt, rng))
        try:
            stats.add(requests=1)
            response = client.batch_write_item(RequestItems={table: pending})
        except Exception as e:  # noqa: BLE001 - classified below; anything permanent is raised
            if not is_transient(e):
                stop.set()  # the other pages give up at their next step
                raise as_hazflow_error(e, f"BatchWriteItem to {table}") from e
            stats.error(error_code(e) or type(e).__name__)
            last_error = str(as_hazflow_error(e, "BatchWriteItem"))
            continue
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        stats.landed(len(pending) - len(unprocessed))
        if not unprocessed:
            return 0, last_error
        stats.add(unprocessed_resubmitted=len(unprocessed))
        pending, last_error = unprocessed, f"{len(unprocessed)} unprocessed items"
    return len(pending), last_error


def dynamodb_client(endpoint_url: str | None = None, region: str = "ap-southeast-2", threads: int = 8) -> Any:
    """A DynamoDB client whose own retries are off (this module retries), pooled for `threads`.

    Botocore's client-side parameter validation is off, as in PynamoDB's own client: DynamoDB
    validates every item anyway (a bad one fails the request, permanently), and validating each
    25-item page again in Python costs the writer CPU on every request."""
    return aws_client(
        "dynamodb",
        endpoint_url,
        region,
        retries={"total_max_attempts": 1, "mode": "standard"},
        parameter_validation=False,
        max_pool_connections=max(10, threads * 2),
        connect_timeout=10,
        read_timeout=60,
    )
