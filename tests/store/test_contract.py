"""The contract every store backend honours (the AWS backend will run the same tests)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hazflow.exceptions import StorageError, TransientError
from hazflow.store import DisaggRealization, HazardAggregate, HazardRealization, LedgerEntry, open_store
from hazflow.store.leases import LeaseHeld, LeaseLost, holder_id
from hazflow.store.records import contributor_rows


def created_anything(store, tmp_path) -> bool:
    if hasattr(store, "models"):  # aws: any table of its stage, or its bucket
        tables = store.dynamodb.list_tables()["TableNames"]
        buckets = [b["Name"] for b in store.s3.list_buckets().get("Buckets", [])]
        return any(t.startswith(f"{store.stage}-") for t in tables) or store.bucket in buckets
    return (tmp_path / "store").exists()


def entry(key: str = "k1", state: str = "ran", **kw) -> LedgerEntry:
    base = dict(kind="hazard", model="DEMO", leaf="CRU-1", vs30=400.0, sites=("-41.300~174.780",), imts=("PGA",))
    return LedgerEntry(job_key=key, state=state, **(base | kw))  # type: ignore[arg-type]


def hazard_rlz(gmm: str, key: str = "k1", scale: float = 1.0, site: str = "-41.300~174.780") -> HazardRealization:
    levels = np.array([0.01, 0.1, 1.0])
    return HazardRealization(
        "DEMO", "CRU-1", gmm, site, 400.0, "PGA", levels, scale * np.array([1e-2, 1e-3, 1e-5]), key, "3.26.2", "d1"
    )


def test_an_unused_store_is_empty_and_creates_nothing(store, tmp_path):
    assert store.ledger_get("k1") is None
    assert store.ledger_list() == []
    assert store.get_hazard_realizations("DEMO", "x", 400, "PGA") == []
    assert store.get_hazard_aggregates("DEMO", "x", 400) == [] and store.reports() == [] and store.ledger_states(["k1"]) == {}
    assert not created_anything(store, tmp_path)


def test_ledger_round_trip_and_replace(store):
    store.ledger_record(entry(oq_seconds=12.5, sites=("a", "b")))
    assert store.ledger_get("k1") == entry(oq_seconds=12.5, sites=("a", "b"))
    store.ledger_record(entry(state="done", rows=6))
    assert store.ledger_get("k1").state == "done"
    assert len(store.ledger_list()) == 1
    assert store.ledger_states(["k1", "k2"]) == {"k1": "done"}


def test_ledger_filters(store):
    store.ledger_record(entry("a", "done"))
    store.ledger_record(entry("b", "failed", error="boom"))
    store.ledger_record(replace(entry("c", "done"), model="OTHER"))
    assert [e.job_key for e in store.ledger_list(model="DEMO")] == ["a", "b"]
    assert [e.job_key for e in store.ledger_list(state="failed")] == ["b"]
    assert store.ledger_states([f"x{i}" for i in range(1200)] + ["c"]) == {"c": "done"}


def test_hazard_realizations_are_replaced_not_duplicated(store):
    store.put_hazard_realizations([hazard_rlz("g1"), hazard_rlz("g2")], entry(state="done"))
    store.put_hazard_realizations([hazard_rlz("g1", scale=2), hazard_rlz("g2", scale=2)], entry(state="done"))
    rows = store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "PGA")
    assert [r.gmm for r in rows] == ["g1", "g2"]
    np.testing.assert_array_equal(rows[0].values, [2e-2, 2e-3, 2e-5])
    assert (rows[0].job_key, rows[0].oq_version, rows[0].settings_digest) == ("k1", "3.26.2", "d1")
    assert store.ledger_get("k1").state == "done"
    assert store.sites_with_realizations("DEMO") == [("DEMO", "-41.300~174.780", 400.0, "PGA", 2)]


def test_a_rewrite_of_a_job_drops_rows_it_no_longer_has(store):
    store.put_hazard_realizations([hazard_rlz("g1"), hazard_rlz("g2")], entry(state="done"))
    store.put_hazard_realizations([hazard_rlz("g1")], entry(state="done"))
    assert [r.gmm for r in store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "PGA")] == ["g1"]


def test_a_failed_write_leaves_neither_rows_nor_ledger_entry(store):
    bad = replace(hazard_rlz("g2"), values=None)  # an object array: refused by the packer
    with pytest.raises(ValueError):
        store.put_hazard_realizations([hazard_rlz("g1"), bad], entry(state="done"))
    assert store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "PGA") == []
    assert store.ledger_get("k1") is None


def test_disagg_realizations_round_trip(store):
    values = np.zeros((1, 25, 17, 16))
    values[0, 10, 3, 8] = 1.5e-4
    edges = {"Mag": np.linspace(5, 10, 26), "Dist": np.arange(18.0), "Eps": np.linspace(-4, 4, 17)}
    row = DisaggRealization("DEMO", "CRU-1", "g1", "s", 400.0, "PGA", 0.1, 0.31, ("TRT", "Mag", "Dist", "Eps"),
                            ("Active Shallow Crust",), edges, values, "k1", "3.26.2", "d1")  # fmt: skip
    store.put_disagg_realizations([row], replace(entry(state="done"), kind="disagg", poe=0.1))
    (got,) = store.get_disagg_realizations("DEMO", "s", 400, "PGA", 0.1)
    np.testing.assert_array_equal(got.values, values)
    np.testing.assert_array_equal(got.bin_edges["Mag"], edges["Mag"])
    assert (got.iml, got.axes, got.trts, got.target_stat) == (0.31, row.axes, row.trts, "mean")
    assert store.get_disagg_realizations("DEMO", "s", 400, "PGA", 0.02) == [] and len(got.contributors) == 0
    # a disaggregation at the median's level replaces it (one disaggregation per target), saying so
    median = replace(row, iml=0.25, job_key="k2", target_stat="0.5")
    store.put_disagg_realizations([median], replace(entry(state="done"), job_key="k2", kind="disagg", poe=0.1))
    (got,) = store.get_disagg_realizations("DEMO", "s", 400, "PGA", 0.1)
    assert (got.iml, got.target_stat, got.job_key) == (0.25, "0.5", "k2")


def test_a_realizations_contributors_round_trip(store):
    """The rates by source and fault a one-pass run recorded, names of any length (an NSHM toshi id and
    a parent fault) and NaN locations (the rest) included."""
    names = ["SW52ZXJzaW9uU29sdXRpb246MjQxMjAuMHFYQ2Zl@Wellington Hutt Valley", "BG_WLG_1", "the rest"]
    table = contributor_rows(
        names, ["fault", "background", "rest"], np.array([1e-3, 2e-4, 1e-6]), np.array([7.1, 5.6, 5.2]),
        np.array([2.5, 18.0, 60.0]), np.array([0.1, 0.8, 1.5]), np.array([174.76, 174.8, np.nan]), np.array([-41.3, -41.2, np.nan]),
    )  # fmt: skip
    row = DisaggRealization("DEMO", "CRU-1", "g1", "s", 400.0, "PGA", 0.1, 0.31, ("TRT", "Mag", "Dist", "Eps"),
                            ("Active Shallow Crust",), {"Mag": np.arange(3.0)}, np.zeros((1, 2, 1, 1)), "k1", "3.26.2", "d1",
                            contributors=table)  # fmt: skip
    store.put_disagg_realizations([row], replace(entry(state="done"), kind="disagg", poe=0.1))
    (got,) = store.get_disagg_realizations("DEMO", "s", 400, "PGA", 0.1)
    assert got.contributors.dtype == table.dtype and list(got.contributors["name"]) == names
    assert got.contributors.tobytes() == table.tobytes()  # every value, the NaNs of the rest included


def test_aggregates_round_trip(store):
    levels = np.array([0.1, 1.0])
    rows = [
        HazardAggregate("DEMO", "s", 400.0, imt, agg, levels, np.array([1e-3, 1e-5]), '{"n": 15}')
        for imt in ("PGA", "SA(0.5)")
        for agg in ("mean", "0.5")
    ]
    store.put_hazard_aggregates(rows)
    store.put_hazard_aggregates(rows)
    got = store.get_hazard_aggregates("DEMO", "s", 400.0)
    assert [(g.imt, g.agg) for g in got] == [("PGA", "0.5"), ("PGA", "mean"), ("SA(0.5)", "0.5"), ("SA(0.5)", "mean")]
    assert [g.agg for g in store.get_hazard_aggregates("DEMO", "s", 400.0, "PGA")] == ["0.5", "mean"]


def test_artifacts_are_kept_and_replaced_whole(store, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("first")
    b.write_text("log")
    store.put_artifacts("abcdef", {"calc.hdf5": a, "oq.log": b})
    assert store.artifact("abcdef", "calc.hdf5").read_text() == "first"
    a.write_text("second")
    store.put_artifacts("abcdef", {"calc.hdf5": a})
    assert store.artifact("abcdef", "calc.hdf5").read_text() == "second"
    with pytest.raises(Exception, match="not found"):
        store.artifact("abcdef", "oq.log")  # the old set is gone, not mixed with the new one
    leftovers = [p.name for p in store.artifact("abcdef", "calc.hdf5").parent.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def _writer(root: str, worker: int, n: int) -> None:
    store = open_store("local", root)
    for i in range(n):
        key = f"w{worker}-{i}"
        store.put_hazard_realizations([hazard_rlz(f"g{worker}-{i}", key=key)], entry(key, "done"))
        store.ledger_record(entry(key, "done", rows=1))


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    root = str(tmp_path / "store")
    workers, per_worker = 4, 40
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(root, w, per_worker)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    store = open_store("local", root)
    assert len(store.ledger_list()) == workers * per_worker
    rows = store.get_hazard_realizations("DEMO", "-41.300~174.780", 400, "PGA")
    assert sorted(r.gmm for r in rows) == sorted(f"g{w}-{i}" for w in range(workers) for i in range(per_worker))


def test_unknown_backend():
    from hazflow.exceptions import BadRequest

    with pytest.raises(BadRequest, match="unknown store backend 'nope'"):
        open_store("nope", "/tmp/x")


def test_store_root_is_under_the_given_folder(tmp_path):
    store = open_store("local", str(tmp_path / "s"))
    store.ledger_record(entry())
    assert (Path(tmp_path) / "s" / "hazflow.sqlite").is_file()


def test_disagg_aggregates_round_trip(store):
    from hazflow.store import DisaggAggregate

    edges = {"Mag": np.linspace(5, 10, 26), "Dist": np.arange(18.0), "Eps": np.linspace(-4, 4, 17)}
    values = np.zeros((3, 25, 17, 16))
    values[0, 5, 2, 9] = 2e-3
    row = DisaggAggregate(
        "DEMO", "s", 400.0, "PGA", 0.1, "mean", 0.31, ("TRT", "Mag", "Dist", "Eps"), ("a", "b", "c"), edges, values, 0.98, "{}"
    )
    store.put_disagg_aggregates([row, replace(row, agg="0.5")])
    store.put_disagg_aggregates([row])
    got = store.get_disagg_aggregates("DEMO", "s", 400.0, "PGA", 0.1)
    assert [g.agg for g in got] == ["0.5", "mean"]
    np.testing.assert_array_equal(got[1].values, values)
    assert (got[1].iml, got[1].closure, got[1].trts) == (0.31, 0.98, ("a", "b", "c"))
    np.testing.assert_array_equal(got[1].bin_edges["Eps"], edges["Eps"])
    assert store.get_disagg_aggregates("DEMO", "s", 400.0, "PGA", 0.02) == []


def test_plans_round_trip_replace_and_missing(store):
    from hazflow.exceptions import StorageError

    doc = {"plan_id": "disagg-1", "runs": [[0, 1], [2, 3]], "keys": ["a" * 24, "b" * 24], "force": False}
    store.put_plan("disagg-1", doc)
    assert store.get_plan("disagg-1") == doc
    store.put_plan("disagg-1", doc | {"force": True})
    assert store.get_plan("disagg-1")["force"] is True
    with pytest.raises(StorageError, match="no plan 'disagg-2'"):
        store.get_plan("disagg-2")


def test_hazard_aggregates_filter_by_statistic(store):
    levels = np.array([0.1, 0.2])
    rows = [
        HazardAggregate("DEMO", "s", 400.0, imt, agg, levels, np.array([1e-2, 1e-3]))
        for imt in ("PGA", "SA(0.5)")
        for agg in ("mean", "0.5")
    ]
    store.put_hazard_aggregates(rows)
    means = store.get_hazard_aggregates("DEMO", "s", 400.0, agg="mean")
    assert [(a.imt, a.agg) for a in means] == [("PGA", "mean"), ("SA(0.5)", "mean")]
    assert len(store.get_hazard_aggregates("DEMO", "s", 400.0, imt="PGA", agg="0.5")) == 1


def test_a_record_too_large_for_an_item_round_trips(store):
    """Dense NSHM-size quantile arrays: the aws store keeps the bytes in S3, the item points at them."""
    from hazflow.store import DisaggAggregate

    values = np.random.default_rng(3).random((3, 50, 34, 32))  # 1.3 MB of float64, incompressible
    edges = {"Mag": np.linspace(5, 10, 51), "Dist": np.arange(35.0), "Eps": np.linspace(-4, 4, 33)}
    row = DisaggAggregate(
        "DEMO", "s", 400.0, "PGA", 0.1, "0.5", 0.31, ("TRT", "Mag", "Dist", "Eps"), ("a", "b", "c"), edges, values, 1.0, "{}"
    )
    store.put_disagg_aggregates([row])
    (got,) = store.get_disagg_aggregates("DEMO", "s", 400.0, "PGA", 0.1)
    np.testing.assert_array_equal(got.values, values)


def test_reports_are_listed_and_located(store, tmp_path):
    png = tmp_path / "p.png"
    png.write_bytes(b"\x89PNG")
    where = store.put_report("disagg/DEMO/WLG/a.png", png)
    assert store.reports("disagg/DEMO") == ["disagg/DEMO/WLG/a.png"] and store.reports("hazard") == []
    assert store.report_uri("disagg/DEMO/WLG/a.png") == where
    assert store.read_report("disagg/DEMO/WLG/a.png") == b"\x89PNG"
    with pytest.raises(StorageError, match="b.json"):
        store.read_report("disagg/DEMO/WLG/b.json")


def test_a_local_store_written_before_target_stat_reads_as_mean(tmp_path):
    """A store an earlier hazflow wrote (no `target_stat` column) gains the column on first use."""
    import sqlite3

    from hazflow.store.local import SCHEMA

    root = tmp_path / "old"
    root.mkdir()
    with sqlite3.connect(root / "hazflow.sqlite") as conn:
        conn.executescript(SCHEMA.replace(", target_stat TEXT NOT NULL DEFAULT 'mean'", ""))
        assert "target_stat" not in {r[1] for r in conn.execute("PRAGMA table_info(disagg_rlz)")}
    store = open_store("local", str(root))
    assert store.get_disagg_realizations("DEMO", "s", 400, "PGA", 0.1) == []
    values = np.zeros((1, 2, 2, 2))
    edges = {"Mag": np.arange(3.0), "Dist": np.arange(3.0), "Eps": np.arange(3.0)}
    row = DisaggRealization("DEMO", "CRU-1", "g1", "s", 400.0, "PGA", 0.1, 0.31, ("TRT", "Mag", "Dist", "Eps"), ("A",), edges,
                            values, "k1", "3.26.2", "d1")  # fmt: skip
    store.put_disagg_realizations([row], replace(entry(state="done"), kind="disagg", poe=0.1))
    assert store.get_disagg_realizations("DEMO", "s", 400, "PGA", 0.1)[0].target_stat == "mean"


def test_a_ledger_entry_too_large_for_an_item_is_kept_by_reference(store):
    """A hazard job of a request of 50,000 sites: its ledger entry gzipped is past DynamoDB's 400 KB
    item limit, so the aws store keeps it in S3, the item pointing at it (as rows already were)."""
    rng = np.random.default_rng(7)
    sites = tuple(
        f"{lat:.3f}~{lon:.3f}" for lat, lon in zip(rng.uniform(-47, -34, 50_000), rng.uniform(166, 179, 50_000), strict=True)
    )
    big = entry(sites=sites, spec=json.dumps({"sites": sites}))
    store.ledger_record(big)
    assert store.ledger_get("k1") == big
    assert store.ledger_list() == [big] and store.ledger_states(["k1"]) == {"k1": "ran"}
    if hasattr(store, "models"):
        item = store.models["ledger"].get("k1", "-")
        assert item.payload is None and item.payload_s3.endswith("payloads/ledger/k1")
    store.ledger_record(entry(state="done"))  # a small entry replaces it inline
    assert store.ledger_get("k1") == entry(state="done")


# --- leases: one live copy of a computation (hazflow.store.leases) ---
def _gone_holder() -> str:
    """The holder id of a process of this host that has exited."""
    child = subprocess.Popen(["sleep", "30"])
    holder = holder_id(child.pid)
    child.kill()
    child.wait()
    return holder


def test_a_live_lease_refuses_another_holder_naming_who_holds_it(store):
    first = store.lease_acquire("pass-1", holder_id(), 60)
    assert first.token == 1 and first.holder == holder_id()
    with pytest.raises(
        LeaseHeld, match=r"pass-1 is being computed by another process: held by .*/\d+/\d+ \(alive\), expiring in"
    ):
        store.lease_acquire("pass-1", "elsewhere/1/1", 60)
    assert isinstance(LeaseHeld("x"), TransientError)  # retried with backoff, never run beside the live copy
    again = store.lease_acquire("pass-1", holder_id(), 60)  # its own holder may take it again
    assert again.token == 2
    assert store.lease_acquire("pass-2", "elsewhere/1/1", 60).token == 1  # leases are per key


def test_an_expired_lease_is_taken_over_and_fences_the_copy_that_lost_it(store):
    stale = store.lease_acquire("pass-1", "elsewhere/7/7", 0.2)
    time.sleep(0.3)
    taker = store.lease_acquire("pass-1", holder_id(), 60)
    assert taker.token == stale.token + 1
    with pytest.raises(LeaseLost):
        store.ledger_record(entry(state="ran"), fence=stale)  # the stalled copy writes nothing
    assert store.ledger_get("k1") is None
    with pytest.raises(LeaseLost):
        store.lease_renew(stale, 60)
    store.ledger_record(entry(state="ran"), fence=taker)
    assert store.ledger_get("k1").state == "ran"


def test_a_renewed_lease_outlives_its_first_expiry(store):
    lease = store.lease_acquire("pass-1", holder_id(), 0.5)
    time.sleep(0.3)
    renewed = store.lease_renew(lease, 60)
    assert renewed.token == lease.token and renewed.expires_at > lease.expires_at
    time.sleep(0.4)  # past the first expiry
    with pytest.raises(LeaseHeld):
        store.lease_acquire("pass-1", "elsewhere/1/1", 60)


def test_a_released_lease_is_free_and_tokens_only_grow(store):
    lease = store.lease_acquire("pass-1", holder_id(), 60)
    store.lease_release(lease)
    other = store.lease_acquire("pass-1", "elsewhere/1/1", 60)
    assert other.token == lease.token + 1
    store.lease_release(lease)  # a release of a lease lost changes nothing
    with pytest.raises(LeaseHeld):
        store.lease_acquire("pass-1", holder_id(), 60)


def test_a_lease_of_a_process_gone_is_taken_over_at_once_on_the_local_store(store):
    """The local store checks the holder's process (its pid, and its start time against pid reuse);
    the aws store cannot see other hosts' processes and waits for the expiry."""
    dead = store.lease_acquire("pass-1", _gone_holder(), 60)
    reused = store.lease_acquire("pass-2", f"{holder_id().split('/')[0]}/{os.getpid()}/0", 60)  # this pid, another start
    if hasattr(store, "models"):
        for key in ("pass-1", "pass-2"):
            with pytest.raises(LeaseHeld, match=r"\(gone\)"):
                store.lease_acquire(key, holder_id(), 60)
    else:
        assert store.lease_acquire("pass-1", holder_id(), 60).token == dead.token + 1
        assert store.lease_acquire("pass-2", holder_id(), 60).token == reused.token + 1


def test_a_reader_of_a_store_whose_first_writer_has_not_made_its_schema_reads_it_empty(tmp_path):
    """Two tasks starting at once: one's first write has made the file, not yet the tables, as the
    other reads. It read "no such table: ledger" (a StorageError, failing the task)."""
    import sqlite3

    from hazflow.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    store.root.mkdir(parents=True)
    sqlite3.connect(store.db_path).execute("PRAGMA journal_mode=WAL").close()  # the file, no table yet
    assert store.ledger_get("k1") is None and store.ledger_list() == [] and store.ledger_states(["k1"]) == {}
    store.ledger_record(entry())
    assert store.ledger_get("k1") == entry()
