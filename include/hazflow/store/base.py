"""The store interface every backend implements (contract tests run against each)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hazflow.store.leases import Lease
from hazflow.store.records import DisaggAggregate, DisaggRealization, HazardAggregate, HazardRealization, LedgerEntry


class Store(ABC):
    """Ledger, realizations, aggregates and raw artifacts. Every write is idempotent."""

    # --- ledger ---
    @abstractmethod
    def ledger_get(self, job_key: str) -> LedgerEntry | None: ...

    @abstractmethod
    def ledger_states(self, job_keys: Iterable[str]) -> dict[str, str]:
        """State of each known key (unknown keys are absent)."""

    @abstractmethod
    def ledger_record(self, entry: LedgerEntry, fence: Lease | None = None) -> None:
        """Insert or replace the entry of `entry.job_key`; with `fence`, only while that lease's token
        is still the lease's (else `LeaseLost`, nothing written)."""

    # --- leases (hazflow.store.leases): one live copy of a computation ---
    @abstractmethod
    def lease_acquire(self, key: str, holder: str, ttl_s: float) -> Lease:
        """The lease on `key` for `holder` for `ttl_s` seconds, its token one more than any before;
        `LeaseHeld` while another holder's lease is live."""

    @abstractmethod
    def lease_renew(self, lease: Lease, ttl_s: float) -> Lease:
        """`lease` with its expiry `ttl_s` from now (the heartbeat); `LeaseLost` if another took it."""

    @abstractmethod
    def lease_release(self, lease: Lease) -> None:
        """Give the lease up (its token is kept, so tokens only grow); nothing if already lost."""

    @abstractmethod
    def ledger_list(self, model: str | None = None, kind: str | None = None, state: str | None = None) -> list[LedgerEntry]: ...

    # --- realizations (written together with the ledger entry that records them) ---
    @abstractmethod
    def put_hazard_realizations(self, rows: Iterable[HazardRealization], entry: LedgerEntry) -> None:
        """Replace the job's realizations and record `entry`, atomically."""

    @abstractmethod
    def get_hazard_realizations(self, model: str, site: str, vs30: float, imt: str) -> list[HazardRealization]: ...

    @abstractmethod
    def put_disagg_realizations(self, rows: Iterable[DisaggRealization], entry: LedgerEntry) -> None: ...

    @abstractmethod
    def get_disagg_realizations(self, model: str, site: str, vs30: float, imt: str, poe: float) -> list[DisaggRealization]: ...

    @abstractmethod
    def sites_with_realizations(self, model: str | None = None) -> list[tuple[str, str, float, str, int]]:
        """(model, site, vs30, imt, count) of hazard realizations held."""

    # --- aggregates ---
    @abstractmethod
    def put_hazard_aggregates(self, rows: Iterable[HazardAggregate]) -> None: ...

    @abstractmethod
    def get_hazard_aggregates(
        self, model: str, site: str, vs30: float, imt: str | None = None, agg: str | None = None
    ) -> list[HazardAggregate]:
        """The site/VS30's aggregated curves, optionally of one IMT and/or one statistic (e.g. `mean`)."""

    @abstractmethod
    def put_disagg_aggregates(self, rows: Iterable[DisaggAggregate]) -> None: ...

    @abstractmethod
    def get_disagg_aggregates(self, model: str, site: str, vs30: float, imt: str, poe: float) -> list[DisaggAggregate]: ...

    # --- plans (what a DAG run will do, kept so that XComs stay small) ---
    @abstractmethod
    def put_plan(self, plan_id: str, document: dict[str, Any]) -> None:
        """Keep a JSON-able plan under its (content-derived) id; rewriting the same id replaces it."""

    @abstractmethod
    def get_plan(self, plan_id: str) -> dict[str, Any]:
        """The plan kept under `plan_id`; `StorageError` if there is none."""

    # --- raw artifacts ---
    @abstractmethod
    def put_artifacts(self, job_key: str, files: Mapping[str, Path]) -> str:
        """Keep the job's files (name -> local path), replacing any earlier set; returns where they are."""

    @abstractmethod
    def artifact(self, job_key: str, name: str) -> Path:
        """A local path to one kept file (downloaded first where the backend is remote)."""

    # --- reports (plots, extracts) ---
    @abstractmethod
    def put_report(self, name: str, src: Path) -> str:
        """Keep a report file under a relative `name` (e.g. hazard/DEMO/WLG/vs400-PGA.png); returns where."""

    @abstractmethod
    def reports(self, prefix: str = "") -> list[str]:
        """Names of the kept reports starting with `prefix`, sorted."""

    @abstractmethod
    def read_report(self, name: str) -> bytes:
        """The bytes of a kept report (a target's summary JSON, a plot); `StorageError` naming it if absent."""

    @abstractmethod
    def report_uri(self, name: str) -> str:
        """Where a kept report is: a path (local) or an s3:// URI."""
