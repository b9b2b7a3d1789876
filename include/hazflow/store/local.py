"""The embedded store: SQLite (WAL) for records, a folder tree for raw artifacts, under one root.

Several Airflow worker processes may write at once: each write is one short `BEGIN IMMEDIATE`
transaction (SQLite serialises writers; `busy_timeout` makes them wait, not fail), keys are
deterministic so rewrites replace, and artifact folders appear by rename, never half-written.
Nothing is created on disk until the first write.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hazflow.exceptions import StorageError, TransientError
from hazflow.store.base import Store
from hazflow.store.codec import array_bytes, load_array
from hazflow.store.leases import Lease, LeaseHeld, LeaseLost, describe, holder_alive
from hazflow.store.records import (
    NO_CONTRIBUTORS,
    DisaggAggregate,
    DisaggRealization,
    HazardAggregate,
    HazardRealization,
    LedgerEntry,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    job_key TEXT PRIMARY KEY, kind TEXT NOT NULL, model TEXT NOT NULL, leaf TEXT NOT NULL,
    vs30 REAL NOT NULL, state TEXT NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_model ON ledger (model, kind, state);
CREATE TABLE IF NOT EXISTS hazard_rlz (
    model TEXT NOT NULL, site TEXT NOT NULL, vs30 REAL NOT NULL, imt TEXT NOT NULL,
    leaf TEXT NOT NULL, gmm TEXT NOT NULL, job_key TEXT NOT NULL, oq_version TEXT NOT NULL,
    settings_digest TEXT NOT NULL, levels BLOB NOT NULL, vals BLOB NOT NULL,
    PRIMARY KEY (model, site, vs30, imt, leaf, gmm)
);
CREATE INDEX IF NOT EXISTS hazard_rlz_by_job ON hazard_rlz (job_key);
CREATE TABLE IF NOT EXISTS disagg_rlz (
    model TEXT NOT NULL, site TEXT NOT NULL, vs30 REAL NOT NULL, imt TEXT NOT NULL, poe REAL NOT NULL,
    leaf TEXT NOT NULL, gmm TEXT NOT NULL, job_key TEXT NOT NULL, oq_version TEXT NOT NULL,
    settings_digest TEXT NOT NULL, iml REAL NOT NULL, axes TEXT NOT NULL, trts TEXT NOT NULL,
    edges BLOB NOT NULL, vals BLOB NOT NULL, target_stat TEXT NOT NULL DEFAULT 'mean', contributors BLOB,
    PRIMARY KEY (model, site, vs30, imt, poe, leaf, gmm)
);
CREATE INDEX IF NOT EXISTS disagg_rlz_by_job ON disagg_rlz (job_key);
CREATE TABLE IF NOT EXISTS disagg_agg (
    model TEXT NOT NULL, site TEXT NOT NULL, vs30 REAL NOT NULL, imt TEXT NOT NULL, poe REAL NOT NULL, agg TEXT NOT NULL,
    iml REAL NOT NULL, axes TEXT NOT NULL, trts TEXT NOT NULL, edges BLOB NOT NULL, vals BLOB NOT NULL,
    closure REAL, provenance TEXT NOT NULL,
    PRIMARY KEY (model, site, vs30, imt, poe, agg)
);
CREATE TABLE IF NOT EXISTS plans (plan_id TEXT PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS hazard_agg (
    model TEXT NOT NULL, site TEXT NOT NULL, vs30 REAL NOT NULL, imt TEXT NOT NULL, agg TEXT NOT NULL,
    levels BLOB NOT NULL, vals BLOB NOT NULL, provenance TEXT NOT NULL,
    PRIMARY KEY (model, site, vs30, imt, agg)
);
"""


def pack(array: np.ndarray) -> bytes:
    """An array as compressed bytes keeping dtype and shape (disaggregations are mostly zeros)."""
    return zlib.compress(array_bytes(array), 1)


def unpack(blob: bytes) -> np.ndarray:
    return load_array(zlib.decompress(blob))


def _pack_edges(edges: dict[str, np.ndarray]) -> bytes:
    return zlib.compress(json.dumps({k: np.asarray(v).tolist() for k, v in edges.items()}).encode())


def _unpack_edges(blob: bytes) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=float) for k, v in json.loads(zlib.decompress(blob)).items()}


class LocalStore(Store):
    """Everything under `root`: `hazflow.sqlite` and `artifacts/<job key>/`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()
        self.db_path = self.root / "hazflow.sqlite"
        self.artifacts_dir = self.root / "artifacts"

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # --- connection handling ---
    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        if not write and not self.db_path.exists():
            conn = sqlite3.connect(":memory:")  # nothing stored yet: read from an empty schema
            conn.executescript(SCHEMA)
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            conn = self._open(write)
        try:
            if write:
                conn.execute("BEGIN IMMEDIATE")
            yield conn
            if write:
                conn.execute("COMMIT")
        except sqlite3.Error as e:
            if write and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _storage_error(e, self.db_path) from e
        except BaseException:
            if write and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _open(self, write: bool) -> sqlite3.Connection:
        """A connection in WAL mode with the schema in. Writers that open a fresh file together can
        meet SQLITE_BUSY while one turns it to WAL, which SQLite returns at once, without its busy
        timeout: the set-up is tried again until that timeout has passed."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                if write:  # the whole schema in one transaction: a reader sees all of it or none
                    conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
                elif not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ledger'").fetchone():
                    conn.close()  # a file its first writer has just made, its schema not in yet: read empty
                    conn = sqlite3.connect(":memory:")
                    conn.executescript(SCHEMA)
                _add_new_columns(conn)
                return conn
            except sqlite3.OperationalError as e:
                conn.close()
                busy = isinstance(_storage_error(e, self.db_path), TransientError)
                if not busy or time.monotonic() > deadline:
                    raise _storage_error(e, self.db_path) from e
                time.sleep(0.02)

    # --- ledger ---
    def ledger_get(self, job_key: str) -> LedgerEntry | None:
        with self._connect(write=False) as conn:
            row = conn.execute("SELECT record FROM ledger WHERE job_key = ?", (job_key,)).fetchone()
        return LedgerEntry.from_json(row[0]) if row else None

    def ledger_states(self, job_keys: Iterable[str]) -> dict[str, str]:
        keys = list(job_keys)
        out: dict[str, str] = {}
        with self._connect(write=False) as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                out.update(conn.execute(f"SELECT job_key, state FROM ledger WHERE job_key IN ({marks})", chunk).fetchall())
        return out

    def ledger_record(self, entry: LedgerEntry, fence: Lease | None = None) -> None:
        with self._connect(write=True) as conn:
            if fence is not None:
                self._check_fence(conn, fence)
            self._record(conn, entry)

    # --- leases ---
    @staticmethod
    def _lease_row(conn: sqlite3.Connection, key: str) -> tuple[str, int, float] | None:
        return conn.execute("SELECT holder, token, expires_at FROM leases WHERE key = ?", (key,)).fetchone()

    def _check_fence(self, conn: sqlite3.Connection, lease: Lease) -> None:
        row = self._lease_row(conn, lease.key)
        if row is None or row[1] != lease.token or row[0] != lease.holder:
            taker = f"{row[0]} (token {row[1]})" if row else "nobody"
            raise LeaseLost(f"lease on {lease.key} lost to {taker}: this copy's results are not recorded")

    def lease_acquire(self, key: str, holder: str, ttl_s: float) -> Lease:
        """A live lease is one not expired whose holder's process is not known gone (`holder_alive`)."""
        with self._connect(write=True) as conn:
            now = time.time()
            row = self._lease_row(conn, key)
            if row is not None and row[0] not in ("", holder) and row[2] > now and holder_alive(row[0]) is not False:
                raise LeaseHeld(f"{key} is being computed by another process: {describe(row[0], row[2] - now)}")
            lease = Lease(key, holder, (row[1] if row else 0) + 1, now + ttl_s)
            conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?)", (key, holder, lease.token, lease.expires_at))
        return lease

    def lease_renew(self, lease: Lease, ttl_s: float) -> Lease:
        with self._connect(write=True) as conn:
            self._check_fence(conn, lease)
            renewed = Lease(lease.key, lease.holder, lease.token, time.time() + ttl_s)
            conn.execute("UPDATE leases SET expires_at = ? WHERE key = ?", (renewed.expires_at, lease.key))
        return renewed

    def lease_release(self, lease: Lease) -> None:
        with self._connect(write=True) as conn:
            conn.execute("UPDATE leases SET holder = '', expires_at = 0 WHERE key = ? AND token = ?", (lease.key, lease.token))

    @staticmethod
    def _record(conn: sqlite3.Connection, entry: LedgerEntry) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO ledger (job_key, kind, model, leaf, vs30, state, record) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry.job_key, entry.kind, entry.model, entry.leaf, entry.vs30, entry.state, entry.to_json()),
        )

    def ledger_list(self, model: str | None = None, kind: str | None = None, state: str | None = None) -> list[LedgerEntry]:
        clauses, args = [], []
        for column, value in (("model", model), ("kind", kind), ("state", state)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect(write=False) as conn:
            rows = conn.execute(f"SELECT record FROM ledger {where} ORDER BY model, kind, leaf, vs30, job_key", args).fetchall()
        return [LedgerEntry.from_json(r[0]) for r in rows]

    # --- realizations ---
    def put_hazard_realizations(self, rows: Iterable[HazardRealization], entry: LedgerEntry) -> None:
        values = [
            (
                r.model,
                r.site,
                r.vs30,
                r.imt,
                r.leaf,
                r.gmm,
                r.job_key,
                r.oq_version,
                r.settings_digest,
                pack(r.levels),
                pack(r.values),
            )
            for r in rows
        ]
        with self._connect(write=True) as conn:
            conn.execute("DELETE FROM hazard_rlz WHERE job_key = ?", (entry.job_key,))
            conn.executemany("INSERT OR REPLACE INTO hazard_rlz VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            self._record(conn, entry)

    def _select(self, table: str, columns: str, order: str, **where: object) -> list[Any]:
        """Rows of `table` whose columns equal every value of `where` given (None: any), ordered."""
        given = {column: value for column, value in where.items() if value is not None}
        clauses = " AND ".join(f"{column} = ?" for column in given)
        with self._connect(write=False) as conn:
            return conn.execute(
                f"SELECT {columns} FROM {table} WHERE {clauses} ORDER BY {order}", list(given.values())
            ).fetchall()

    def get_hazard_realizations(self, model: str, site: str, vs30: float, imt: str) -> list[HazardRealization]:
        columns = "leaf, gmm, job_key, oq_version, settings_digest, levels, vals"
        rows = self._select("hazard_rlz", columns, "leaf, gmm", model=model, site=site, vs30=float(vs30), imt=imt)
        return [
            HazardRealization(model, leaf, gmm, site, float(vs30), imt, unpack(levels), unpack(vals), key, oqv, digest)
            for leaf, gmm, key, oqv, digest, levels, vals in rows
        ]

    def put_disagg_realizations(self, rows: Iterable[DisaggRealization], entry: LedgerEntry) -> None:
        values = [
            (
                r.model, r.site, r.vs30, r.imt, r.poe, r.leaf, r.gmm, r.job_key, r.oq_version, r.settings_digest,
                r.iml, json.dumps(list(r.axes)), json.dumps(list(r.trts)),
                _pack_edges(r.bin_edges), pack(r.values), r.target_stat, pack(r.contributors),
            )
            for r in rows
        ]  # fmt: skip
        marks = ", ".join("?" * len(DISAGG_RLZ_COLUMNS.split(", ")))
        with self._connect(write=True) as conn:
            conn.execute("DELETE FROM disagg_rlz WHERE job_key = ?", (entry.job_key,))
            conn.executemany(f"INSERT OR REPLACE INTO disagg_rlz ({DISAGG_RLZ_COLUMNS}) VALUES ({marks})", values)
            self._record(conn, entry)

    def get_disagg_realizations(self, model: str, site: str, vs30: float, imt: str, poe: float) -> list[DisaggRealization]:
        columns = "leaf, gmm, job_key, oq_version, settings_digest, iml, axes, trts, edges, vals, target_stat, contributors"
        rows = self._select("disagg_rlz", columns, "leaf, gmm", model=model, site=site, vs30=float(vs30), imt=imt, poe=float(poe))
        out = []
        for leaf, gmm, key, oqv, digest, iml, axes, trts, edges, vals, stat, contributors in rows:
            bin_edges = _unpack_edges(edges)
            out.append(
                DisaggRealization(
                    model, leaf, gmm, site, float(vs30), imt, float(poe), iml, tuple(json.loads(axes)),
                    tuple(json.loads(trts)), bin_edges, unpack(vals), key, oqv, digest, stat,
                    NO_CONTRIBUTORS if contributors is None else unpack(contributors),
                )
            )  # fmt: skip
        return out

    def sites_with_realizations(self, model: str | None = None) -> list[tuple[str, str, float, str, int]]:
        where, args = ("WHERE model = ?", [model]) if model else ("", [])
        with self._connect(write=False) as conn:
            return conn.execute(
                f"SELECT model, site, vs30, imt, COUNT(*) FROM hazard_rlz {where} GROUP BY model, site, vs30, imt "
                "ORDER BY model, site, vs30, imt",
                args,
            ).fetchall()

    # --- aggregates ---
    def put_hazard_aggregates(self, rows: Iterable[HazardAggregate]) -> None:
        values = [(r.model, r.site, r.vs30, r.imt, r.agg, pack(r.levels), pack(r.values), r.provenance) for r in rows]
        with self._connect(write=True) as conn:
            conn.executemany("INSERT OR REPLACE INTO hazard_agg VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)

    def get_hazard_aggregates(
        self, model: str, site: str, vs30: float, imt: str | None = None, agg: str | None = None
    ) -> list[HazardAggregate]:
        columns = "imt, agg, levels, vals, provenance"
        rows = self._select("hazard_agg", columns, "imt, agg", model=model, site=site, vs30=float(vs30), imt=imt, agg=agg)
        return [HazardAggregate(model, site, float(vs30), i, agg, unpack(lv), unpack(v), prov) for i, agg, lv, v, prov in rows]

    def put_disagg_aggregates(self, rows: Iterable[DisaggAggregate]) -> None:
        values = [
            (
                r.model, r.site, r.vs30, r.imt, r.poe, r.agg, r.iml, json.dumps(list(r.axes)), json.dumps(list(r.trts)),
                _pack_edges(r.bin_edges), pack(r.values), r.closure, r.provenance,
            )
            for r in rows
        ]  # fmt: skip
        with self._connect(write=True) as conn:
            conn.executemany("INSERT OR REPLACE INTO disagg_agg VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def get_disagg_aggregates(self, model: str, site: str, vs30: float, imt: str, poe: float) -> list[DisaggAggregate]:
        columns = "agg, iml, axes, trts, edges, vals, closure, provenance"
        rows = self._select("disagg_agg", columns, "agg", model=model, site=site, vs30=float(vs30), imt=imt, poe=float(poe))
        return [
            DisaggAggregate(
                model,
                site,
                float(vs30),
                imt,
                float(poe),
                agg,
                iml,
                tuple(json.loads(axes)),
                tuple(json.loads(trts)),
                _unpack_edges(edges),
                unpack(vals),
                closure,
                prov,
            )  # fmt: skip
            for agg, iml, axes, trts, edges, vals, closure, prov in rows
        ]

    # --- plans ---
    def put_plan(self, plan_id: str, document: dict[str, Any]) -> None:
        blob = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)
        with self._connect(write=True) as conn:
            conn.execute("INSERT OR REPLACE INTO plans VALUES (?, ?)", (plan_id, blob))

    def get_plan(self, plan_id: str) -> dict[str, Any]:
        with self._connect(write=False) as conn:
            row = conn.execute("SELECT record FROM plans WHERE plan_id = ?", (plan_id,)).fetchone()
        if row is None:
            raise StorageError(f"no plan {plan_id!r} in {self.db_path}")
        return json.loads(zlib.decompress(row[0]))

    # --- artifacts ---
    def _artifact_folder(self, job_key: str) -> Path:
        return self.artifacts_dir / job_key[:2] / job_key

    def put_artifacts(self, job_key: str, files: Mapping[str, Path]) -> str:
        final = self._artifact_folder(job_key)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".{job_key}.{uuid.uuid4().hex}.tmp"
        staging.mkdir()
        try:
            for name, src in files.items():
                shutil.copyfile(src, staging / name)
            if final.exists():  # a forced rerun: swap the new set in, then drop the old one
                old = final.parent / f".{job_key}.{uuid.uuid4().hex}.old"
                os.rename(final, old)
                os.rename(staging, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(staging, final)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return str(final)

    def put_report(self, name: str, src: Path) -> str:
        target = (self.root / "reports" / name).resolve()
        if not target.is_relative_to((self.root / "reports").resolve()):
            raise StorageError(f"report name {name!r} leaves the reports folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(src, staging)
        os.replace(staging, target)
        return str(target)

    def reports(self, prefix: str = "") -> list[str]:
        folder = self.root / "reports"
        if not folder.exists():
            return []
        names = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted(n for n in names if n.startswith(prefix))

    def report_uri(self, name: str) -> str:
        return str(self.root / "reports" / name)

    def read_report(self, name: str) -> bytes:
        path = self.root / "reports" / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no report {name!r} at {path}") from None

    def artifact(self, job_key: str, name: str) -> Path:
        path = self._artifact_folder(job_key) / name
        if not path.exists():
            raise StorageError(f"artifact {name} of job {job_key} not found at {path}")
        return path


# Named in inserts: a store brought up to the schema (`NEW_COLUMNS`) may hold its columns in another order.
DISAGG_RLZ_COLUMNS = (
    "model, site, vs30, imt, poe, leaf, gmm, job_key, oq_version, settings_digest, iml, axes, trts, edges, vals, "
    "target_stat, contributors"
)
# Columns added after stores were first written: (table, column, definition); added where missing.
NEW_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("disagg_rlz", "target_stat", "TEXT NOT NULL DEFAULT 'mean'"),
    ("disagg_rlz", "contributors", "BLOB"),
)


def _add_new_columns(conn: sqlite3.Connection) -> None:
    """Bring a store written by an earlier hazflow up to the schema (rows get the column's default)."""
    for table, column, definition in NEW_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if have and column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


BUSY_TIMEOUT_S = 120.0  # how long a writer waits for another (SQLite's busy timeout)


def _storage_error(error: sqlite3.Error, path: Path) -> Exception:
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return TransientError(f"{path}: database busy ({error})")
    return StorageError(f"{path}: {error}")
