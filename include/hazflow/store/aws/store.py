"""The `aws` store: DynamoDB tables through PynamoDB for records, S3 for artifacts, reports and plans.

Key design (docs/ARCHITECTURE.md, "The AWS store"): every table has a string hash key `partition`
and range key `sort`. Realizations and aggregates are partitioned by model, VS30 and a coarse
location (0.1 degree, `nloc_1`), and sorted by site, IMT (and PoE) first, so that everything of
one site and VS30, the read behind each IMTL lookup, is a single Query. The ledger is keyed by
job key. A record is one item: its fields as compressed bytes (`hazflow.store.codec`), with the
attributes a query or scan filters on beside them; an item over 350 KB keeps its bytes in S3.
Table names carry a stage prefix (`dev-hazflow-ledger`); tables are created on demand
(PAY_PER_REQUEST) at the first write, and a read of a missing table reads nothing.

Writes go through `hazflow.store.aws.writer` (concurrent pages of 25, every item accounted for);
errors are classified by `hazflow.remote.errors` (transient: retried; permanent: fail at once).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from hazflow.exceptions import BadRequest, StorageError
from hazflow.model.sites import cell
from hazflow.remote.clients import aws_client
from hazflow.remote.errors import as_hazflow_error, error_code
from hazflow.remote.uris import is_s3, split_s3
from hazflow.store.aws.writer import dynamodb_client, write_items
from hazflow.store.base import Store
from hazflow.store.codec import decode, encode
from hazflow.store.leases import Lease, LeaseHeld, LeaseLost, describe
from hazflow.store.records import DisaggAggregate, DisaggRealization, HazardAggregate, HazardRealization, LedgerEntry

TABLES = ("ledger", "hazard_rlz", "disagg_rlz", "hazard_agg", "disagg_agg", "leases")
MAX_INLINE = 350_000  # bytes kept in the item; larger payloads go to S3 (DynamoDB items are <= 400 KB)


def partition(model: str, vs30: float, site: str) -> str:
    """`DEMO|400|-41.3~174.8`: model, VS30 and the site's 0.1-degree cell (`nloc_1`)."""
    return f"{model}|{float(vs30):g}|{cell(site, 0.1)}"


def _item_model(table_name: str, host: str | None, region: str) -> Any:  # a PynamoDB Model class made for one table
    from pynamodb.attributes import BinaryAttribute, UnicodeAttribute
    from pynamodb.models import Model

    class Item(Model):
        class Meta:
            table_name: str
            host: str | None
            region: str
            billing_mode: str

        partition = UnicodeAttribute(hash_key=True)
        sort = UnicodeAttribute(range_key=True)
        job_key = UnicodeAttribute(null=True)
        model = UnicodeAttribute(null=True)
        kind = UnicodeAttribute(null=True)
        state = UnicodeAttribute(null=True)
        payload = BinaryAttribute(legacy_encoding=False, null=True)
        payload_s3 = UnicodeAttribute(null=True)

    Item.Meta.table_name = table_name
    Item.Meta.host = host
    Item.Meta.region = region
    Item.Meta.billing_mode = "PAY_PER_REQUEST"
    return Item


DEFAULT_CACHE_MAX_BYTES = 4 * 1024**3  # the artifact cache of one host (an ingest reads a pass's datastores: MBs each)


def trim_cache(folder: Path, max_bytes: int, keep: Path | None = None) -> int:
    """Delete the oldest files (by modification time) under `folder` until the rest total at most
    `max_bytes`, never `keep`; the bytes deleted. A file another process has open stays readable to
    it (POSIX), and one deleted meanwhile is skipped."""
    files = []
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        except OSError:
            continue
    total, freed = sum(size for _, size, _ in files), 0
    for _, size, path in sorted(files, key=lambda f: f[0]):
        if total - freed <= max_bytes:
            break
        if path == keep:
            continue
        try:
            path.unlink()
            freed += size
        except OSError:
            continue
    return freed


class AwsStore(Store):
    """DynamoDB tables `<stage>-hazflow-<name>` and an S3 location `s3://bucket/prefix`."""

    def __init__(
        self,
        root: str,
        stage: str = "dev",
        endpoint_url: str | None = None,
        region: str = "ap-southeast-2",
        cache: Path | None = None,
        cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES,
    ) -> None:
        if not is_s3(root):
            raise BadRequest("HAZFLOW_STORE_ROOT", f"the aws store needs an s3://bucket[/prefix] root, got {root!r}")
        self.bucket, self.prefix = split_s3(root, key_required=False)
        self.stage, self.endpoint_url, self.region = stage, endpoint_url, region
        self.cache = cache or Path(tempfile.gettempdir()) / "hazflow-s3-cache"
        self.cache_max_bytes = cache_max_bytes
        self.models = {name: _item_model(f"{stage}-hazflow-{name}", endpoint_url, region) for name in TABLES}
        self._ready = False

    def __repr__(self) -> str:
        return f"AwsStore(s3://{self.bucket}/{self.prefix}, tables {self.stage}-hazflow-*)"

    # --- clients, tables, errors ---
    @cached_property
    def dynamodb(self) -> Any:
        return dynamodb_client(self.endpoint_url, self.region)

    @cached_property
    def s3(self) -> Any:
        return aws_client("s3", self.endpoint_url, self.region)

    def _ensure(self) -> None:
        """Create missing tables (PAY_PER_REQUEST) and the bucket at the first write. Through the
        store's one DynamoDB client: a PynamoDB model's own calls build a botocore session and client
        per table (about 0.1 s of CPU each, six per store)."""
        if self._ready:
            return
        try:
            for model in self.models.values():
                if not self._table_exists(model.Meta.table_name):
                    self._create_table(model.Meta.table_name)
            try:
                self.s3.head_bucket(Bucket=self.bucket)
            except Exception as e:  # noqa: BLE001
                if error_code(e) not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
                self._create_bucket()
        except Exception as e:  # noqa: BLE001
            raise _wrapped(e, "creating the aws store's tables and bucket") from e
        self._ready = True

    def _table_exists(self, name: str) -> bool:
        try:
            self.dynamodb.describe_table(TableName=name)
        except Exception as e:  # noqa: BLE001
            if error_code(e) == "ResourceNotFoundException":
                return False
            raise
        return True

    def _create_table(self, name: str) -> None:
        """Create a table of the items' key schema (`partition`, `sort`: strings) and wait until it is
        active. Two first writers on a fresh stage both find it missing: the second one's
        `ResourceInUseException` means it is being created, which is what it wanted, so it waits too."""
        keys = (("partition", "HASH"), ("sort", "RANGE"))
        try:
            self.dynamodb.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key, _ in keys],
                KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        except Exception as e:  # noqa: BLE001
            if error_code(e) != "ResourceInUseException":
                raise
        self.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})

    def _create_bucket(self) -> None:
        """Create the bucket and wait until it exists; another writer's `BucketAlreadyOwnedByYou` is success."""
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        try:
            self.s3.create_bucket(Bucket=self.bucket, **where)  # us-east-1 takes no location constraint
        except Exception as e:  # noqa: BLE001
            if error_code(e) != "BucketAlreadyOwnedByYou":
                raise
        self.s3.get_waiter("bucket_exists").wait(Bucket=self.bucket, WaiterConfig={"Delay": 1})

    def _query(self, table: str, part: str, prefix: str) -> list[Any]:
        model = self.models[table]
        try:
            return list(model.query(part, model.sort.startswith(prefix)))
        except Exception as e:  # noqa: BLE001
            if _missing_table(e):
                return []
            raise _wrapped(e, f"query {model.Meta.table_name}") from e

    def _scan(self, table: str, condition: Any = None) -> list[Any]:
        model = self.models[table]
        try:
            return list(model.scan(condition))
        except Exception as e:  # noqa: BLE001
            if _missing_table(e):
                return []
            raise _wrapped(e, f"scan {model.Meta.table_name}") from e

    def _write(self, table: str, items: list[Any]) -> None:
        self._ensure()
        if items:
            write_items(self.dynamodb, self.models[table].Meta.table_name, [i.serialize() for i in items], ("partition", "sort"))

    def _delete(self, table: str, items: Iterable[Any]) -> None:
        """Delete items by key through the batch writer (its retries, and no item silently left)."""
        keys = [{"partition": {"S": i.partition}, "sort": {"S": i.sort}} for i in items]
        if keys:
            write_items(self.dynamodb, self.models[table].Meta.table_name, keys, ("partition", "sort"), delete=True)

    def _item(self, table: str, part: str, sort: str, record: Any, **attributes: str) -> Any:
        data = encode(record)
        item = self.models[table](part, sort, **attributes)
        if len(data) > MAX_INLINE:
            key = self._key("payloads", table, f"{part}|{sort}".replace("/", "_"))
            self._put_object(key, data)
            item.payload_s3 = key
        else:
            item.payload = data
        return item

    def _record(self, cls: type, item: Any) -> Any:
        data = item.payload if item.payload is not None else self._get_object(item.payload_s3)
        return decode(cls, data)

    # --- ledger ---
    def ledger_get(self, job_key: str) -> LedgerEntry | None:
        model = self.models["ledger"]
        try:
            item = model.get(job_key, "-")
        except model.DoesNotExist:
            return None
        except Exception as e:  # noqa: BLE001
            if _missing_table(e):
                return None
            raise _wrapped(e, "read the ledger") from e
        return self._ledger_entry(item)

    def ledger_states(self, job_keys: Iterable[str]) -> dict[str, str]:
        model = self.models["ledger"]
        keys = list(dict.fromkeys(job_keys))
        try:
            return {
                item.partition: item.state
                for item in model.batch_get([(k, "-") for k in keys], attributes_to_get=["partition", "state"])
            }
        except Exception as e:  # noqa: BLE001
            if _missing_table(e):
                return {}
            raise _wrapped(e, "read the ledger") from e

    def _ledger_item(self, entry: LedgerEntry) -> Any:
        """The ledger item of `entry`: its state inline, its entry gzipped inline or, over `MAX_INLINE`
        (a request of thousands of sites: DynamoDB refuses items over 400 KB), in S3 under a key of the
        job's own, written before the item that points at it."""
        payload = gzip.compress(entry.to_json().encode(), 1)
        item = self.models["ledger"](entry.job_key, "-", model=entry.model, kind=entry.kind, state=entry.state)
        if len(payload) > MAX_INLINE:
            item.payload_s3 = self._key("payloads", "ledger", entry.job_key)
            self._put_object(item.payload_s3, payload)
        else:
            item.payload = payload
        return item

    def _ledger_entry(self, item: Any) -> LedgerEntry:
        data = item.payload if item.payload is not None else self._get_object(item.payload_s3)
        return LedgerEntry.from_json(gzip.decompress(data))

    def ledger_record(self, entry: LedgerEntry, fence: Lease | None = None) -> None:
        if fence is None:
            self._write("ledger", [self._ledger_item(entry)])
            return
        self._ensure()
        item = self._ledger_item(entry).serialize()
        try:  # the entry lands only if the lease's token and holder are still these: one transaction
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {"ConditionCheck": {"TableName": self._table("leases"), "Key": _lease_key(fence.key),
                                        "ConditionExpression": "#t = :token AND #h = :holder",
                                        "ExpressionAttributeNames": {"#t": "token", "#h": "holder"},
                                        "ExpressionAttributeValues": {":token": {"N": str(fence.token)}, ":holder": {"S": fence.holder}}}},
                    {"Put": {"TableName": self._table("ledger"), "Item": item}},
                ]
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001
            if error_code(e) == "TransactionCanceledException" and "ConditionalCheckFailed" in str(e):
                raise LeaseLost(f"lease on {fence.key} lost to another holder: this copy's results are not recorded") from e
            raise _wrapped(e, "record in the ledger") from e

    # --- leases: one item per key in <stage>-hazflow-leases, changed by conditional writes only ---
    def _table(self, name: str) -> str:
        return str(self.models[name].Meta.table_name)

    def lease_acquire(self, key: str, holder: str, ttl_s: float) -> Lease:
        """Taken when there is no lease, it expired, it was released, or `holder` has it already."""
        self._ensure()
        now = time.time()
        try:
            out = self.dynamodb.update_item(
                TableName=self._table("leases"), Key=_lease_key(key),
                UpdateExpression="SET #h = :holder, #e = :expires ADD #t :one",
                ConditionExpression="attribute_not_exists(#t) OR #e < :now OR #h = :holder OR #h = :nobody",
                ExpressionAttributeNames={"#h": "holder", "#e": "expires_at", "#t": "token"},
                ExpressionAttributeValues={":holder": {"S": holder}, ":expires": {"N": repr(now + ttl_s)}, ":one": {"N": "1"},
                                           ":now": {"N": repr(now)}, ":nobody": {"S": "-"}},
                ReturnValues="ALL_NEW",
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001
            if error_code(e) != "ConditionalCheckFailedException":
                raise _wrapped(e, f"take the lease on {key}") from e
            held = self.dynamodb.get_item(TableName=self._table("leases"), Key=_lease_key(key), ConsistentRead=True).get(
                "Item", {}
            )
            who, until = held.get("holder", {}).get("S", "?"), float(held.get("expires_at", {}).get("N", now))
            raise LeaseHeld(f"{key} is being computed by another process: {describe(who, until - now)}") from None
        attributes = out["Attributes"]
        return Lease(key, holder, int(attributes["token"]["N"]), float(attributes["expires_at"]["N"]))

    def lease_renew(self, lease: Lease, ttl_s: float) -> Lease:
        expires = time.time() + ttl_s
        try:
            self.dynamodb.update_item(
                TableName=self._table("leases"), Key=_lease_key(lease.key), UpdateExpression="SET #e = :expires",
                ConditionExpression="#t = :token AND #h = :holder",
                ExpressionAttributeNames={"#h": "holder", "#e": "expires_at", "#t": "token"},
                ExpressionAttributeValues={":expires": {"N": repr(expires)}, ":token": {"N": str(lease.token)},
                                           ":holder": {"S": lease.holder}},
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001
            if error_code(e) == "ConditionalCheckFailedException":
                raise LeaseLost(f"lease on {lease.key} lost to another holder") from e
            raise _wrapped(e, f"renew the lease on {lease.key}") from e
        return Lease(lease.key, lease.holder, lease.token, expires)

    def lease_release(self, lease: Lease) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self._table("leases"), Key=_lease_key(lease.key), UpdateExpression="SET #h = :nobody, #e = :zero",
                ConditionExpression="#t = :token",
                ExpressionAttributeNames={"#h": "holder", "#e": "expires_at", "#t": "token"},
                ExpressionAttributeValues={":nobody": {"S": "-"}, ":zero": {"N": "0"}, ":token": {"N": str(lease.token)}},
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001
            if error_code(e) != "ConditionalCheckFailedException":  # lost: another holds it now, leave it be
                raise _wrapped(e, f"release the lease on {lease.key}") from e

    def ledger_list(self, model: str | None = None, kind: str | None = None, state: str | None = None) -> list[LedgerEntry]:
        table = self.models["ledger"]
        condition = None
        for attribute, value in ((table.model, model), (table.kind, kind), (table.state, state)):
            if value is not None:
                clause = attribute == value
                condition = clause if condition is None else condition & clause
        entries = [self._ledger_entry(item) for item in self._scan("ledger", condition)]
        return sorted(entries, key=lambda e: (e.model, e.kind, e.leaf, e.vs30, e.job_key))

    # --- realizations ---
    def _replace_job_rows(
        self, table: str, rows: list[tuple[str, str, Any]], entry: LedgerEntry, prefixes: set[tuple[str, str]]
    ) -> None:
        """Write the job's rows, drop the job's rows it no longer has, then record the entry (last)."""
        items = [self._item(table, part, sort, record, job_key=entry.job_key) for part, sort, record in rows]  # encodes all first
        keep = {(i.partition, i.sort) for i in items}
        stale = [
            old
            for part, prefix in prefixes
            for old in self._query(table, part, prefix)
            if old.job_key == entry.job_key and (old.partition, old.sort) not in keep
        ]
        self._write(table, items)
        if stale:
            self._delete(table, stale)
        self.ledger_record(entry)

    def put_hazard_realizations(self, rows: Iterable[HazardRealization], entry: LedgerEntry) -> None:
        rows = list(rows)
        keyed = [(partition(r.model, r.vs30, r.site), f"{r.site}|{r.imt}|{r.leaf}|{r.gmm}", r) for r in rows]
        prefixes = {(partition(entry.model, entry.vs30, s), f"{s}|{i}|{entry.leaf}|") for s in entry.sites for i in entry.imts}
        prefixes |= {(p, f"{r.site}|{r.imt}|{r.leaf}|") for p, _, r in keyed}
        self._replace_job_rows("hazard_rlz", keyed, entry, prefixes)

    def get_hazard_realizations(self, model: str, site: str, vs30: float, imt: str) -> list[HazardRealization]:
        items = self._query("hazard_rlz", partition(model, vs30, site), f"{site}|{imt}|")
        return sorted((self._record(HazardRealization, i) for i in items), key=lambda r: (r.leaf, r.gmm))

    def put_disagg_realizations(self, rows: Iterable[DisaggRealization], entry: LedgerEntry) -> None:
        rows = list(rows)
        keyed = [(partition(r.model, r.vs30, r.site), f"{r.site}|{r.imt}|{r.poe:g}|{r.leaf}|{r.gmm}", r) for r in rows]
        prefixes = {
            (partition(entry.model, entry.vs30, s), f"{s}|{i}|{entry.poe:g}|{entry.leaf}|")
            for s in entry.sites
            for i in entry.imts
        }
        prefixes |= {(p, f"{r.site}|{r.imt}|{r.poe:g}|{r.leaf}|") for p, _, r in keyed}
        self._replace_job_rows("disagg_rlz", keyed, entry, prefixes)

    def get_disagg_realizations(self, model: str, site: str, vs30: float, imt: str, poe: float) -> list[DisaggRealization]:
        items = self._query("disagg_rlz", partition(model, vs30, site), f"{site}|{imt}|{float(poe):g}|")
        return sorted((self._record(DisaggRealization, i) for i in items), key=lambda r: (r.leaf, r.gmm))

    def sites_with_realizations(self, model: str | None = None) -> list[tuple[str, str, float, str, int]]:
        counts: dict[tuple[str, str, float, str], int] = {}
        for item in self._scan("hazard_rlz"):
            m, vs30, _ = item.partition.split("|", 2)
            site, imt, _ = item.sort.split("|", 2)
            if model is None or m == model:
                key = (m, site, float(vs30), imt)
                counts[key] = counts.get(key, 0) + 1
        return [(*k, n) for k, n in sorted(counts.items())]

    # --- aggregates ---
    def put_hazard_aggregates(self, rows: Iterable[HazardAggregate]) -> None:
        self._write(
            "hazard_agg",
            [self._item("hazard_agg", partition(r.model, r.vs30, r.site), f"{r.site}|{r.imt}|{r.agg}", r) for r in rows],
        )

    def get_hazard_aggregates(
        self, model: str, site: str, vs30: float, imt: str | None = None, agg: str | None = None
    ) -> list[HazardAggregate]:
        prefix = f"{site}|{imt}|{agg}" if imt and agg else f"{site}|{imt}|" if imt else f"{site}|"
        items = self._query("hazard_agg", partition(model, vs30, site), prefix)
        rows = [self._record(HazardAggregate, i) for i in items]
        return sorted((r for r in rows if agg is None or r.agg == agg), key=lambda r: (r.imt, r.agg))

    def put_disagg_aggregates(self, rows: Iterable[DisaggAggregate]) -> None:
        self._write(
            "disagg_agg",
            [
                self._item("disagg_agg", partition(r.model, r.vs30, r.site), f"{r.site}|{r.imt}|{r.poe:g}|{r.agg}", r)
                for r in rows
            ],
        )

    def get_disagg_aggregates(self, model: str, site: str, vs30: float, imt: str, poe: float) -> list[DisaggAggregate]:
        items = self._query("disagg_agg", partition(model, vs30, site), f"{site}|{imt}|{float(poe):g}|")
        return sorted((self._record(DisaggAggregate, i) for i in items), key=lambda r: r.agg)

    # --- S3: plans, artifacts, reports ---
    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _put_object(self, key: str, data: bytes) -> None:
        self._ensure()
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as e:  # noqa: BLE001
            raise _wrapped(e, f"put s3://{self.bucket}/{key}") from e

    def _get_object(self, key: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as e:  # noqa: BLE001
            if error_code(e) in {"NoSuchKey", "NoSuchBucket", "404"}:
                raise StorageError(f"s3://{self.bucket}/{key} not found") from e
            raise _wrapped(e, f"get s3://{self.bucket}/{key}") from e

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", []))
        except Exception as e:  # noqa: BLE001
            if error_code(e) == "NoSuchBucket":
                return []
            raise _wrapped(e, f"list s3://{self.bucket}/{prefix}") from e
        return keys

    def put_plan(self, plan_id: str, document: dict[str, Any]) -> None:
        self._put_object(self._key("plans", f"{plan_id}.json.gz"), gzip.compress(json.dumps(document).encode(), 1))

    def get_plan(self, plan_id: str) -> dict[str, Any]:
        try:
            return json.loads(gzip.decompress(self._get_object(self._key("plans", f"{plan_id}.json.gz"))))
        except StorageError as e:
            raise StorageError(f"no plan {plan_id!r} in s3://{self.bucket}/{self._key('plans')}") from e

    def put_artifacts(self, job_key: str, files: Mapping[str, Path]) -> str:
        folder = self._key("artifacts", job_key)
        stale = set(self._list(folder + "/")) - {f"{folder}/{name}" for name in files}
        for name, src in files.items():
            self._put_object(f"{folder}/{name}", Path(src).read_bytes())
        for key in stale:  # the set is replaced whole
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        shutil.rmtree(self.cache / job_key, ignore_errors=True)
        return f"s3://{self.bucket}/{folder}"

    def artifact(self, job_key: str, name: str) -> Path:
        """The artifact downloaded into the local cache. Each download is written under a name of its
        own, then renamed into place: two ingests of one artifact at once each get a whole file (a
        shared staging name let one rename the other's half-written file into place). The cache is
        then trimmed to `cache_max_bytes`, oldest files first."""
        path = self.cache / job_key / name
        try:
            data = self._get_object(self._key("artifacts", job_key, name))
        except StorageError as e:
            raise StorageError(f"artifact {name} of job {job_key} not found in s3://{self.bucket}") from e
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            staging.write_bytes(data)
            staging.replace(path)
        finally:
            staging.unlink(missing_ok=True)
        trim_cache(self.cache, self.cache_max_bytes, keep=path)
        return path

    def put_report(self, name: str, src: Path) -> str:
        if ".." in Path(name).parts or name.startswith("/"):
            raise StorageError(f"report name {name!r} leaves the reports folder")
        key = self._key("reports", name)
        self._put_object(key, Path(src).read_bytes())
        return f"s3://{self.bucket}/{key}"

    def report_uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key('reports', name)}"

    def read_report(self, name: str) -> bytes:
        return self._get_object(self._key("reports", name))

    def reports(self, prefix: str = "") -> list[str]:
        base = self._key("reports") + "/"
        return sorted(k[len(base) :] for k in self._list(base + prefix))


def _lease_key(key: str) -> dict[str, Any]:
    return {"partition": {"S": key}, "sort": {"S": "-"}}


def _cause(e: BaseException) -> BaseException:
    """PynamoDB wraps botocore errors; classify the botocore one."""
    return getattr(e, "cause", None) or e


def _missing_table(e: BaseException) -> bool:
    return error_code(_cause(e)) == "ResourceNotFoundException" or "ResourceNotFoundException" in str(e)


def _wrapped(e: BaseException, doing: str) -> Exception:
    from hazflow.exceptions import HazflowError

    return e if isinstance(e, HazflowError) else as_hazflow_error(_cause(e), doing)
