"""A computation holds its lease while OpenQuake runs (hazflow.run.lease): a copy that meets a live
lease fails as transient before any OpenQuake process or work folder, the heartbeat keeps a lease
alive past its first expiry, and work folders of processes gone are swept."""

from __future__ import annotations

import subprocess
import time

import pytest

from hazflow.model.sites import resolve_sites
from hazflow.openquake.spec import DisaggPass
from hazflow.plan.jobs import disagg_job, hazard_job
from hazflow.run.job import run_job
from hazflow.run.lease import held
from hazflow.run.passes import run_pass
from hazflow.run.work_folders import OWNER, sweep, work_folder
from hazflow.store.leases import LeaseHeld, holder_id

OQ = "3.26.2"


@pytest.fixture
def other_process():
    """A live process of this host: the holder of a lease this test does not hold."""
    child = subprocess.Popen(["sleep", "60"])
    yield holder_id(child.pid)
    child.kill()
    child.wait()


def test_a_pass_another_live_copy_computes_fails_as_transient_before_any_openquake(config, demo, other_process):
    p = DisaggPass(
        tuple(disagg_job(demo, demo.leaf("HIK-1"), 400, s, 0.1, {"PGA": 0.2}, OQ) for s in resolve_sites(["WLG", "CHC"]))
    )
    store = config.open_store()
    store.lease_acquire(p.key, other_process, 60)
    with pytest.raises(LeaseHeld, match=rf"{p.key} is being computed by another process: held by {other_process} \(alive\)"):
        run_pass(p, store, config)
    assert all(store.ledger_get(job.key) is None for job in p.jobs)  # no entry, no attempt counted
    assert not config.work_dir.exists()  # no work folder, so no OpenQuake process


def test_a_job_another_live_copy_runs_fails_as_transient(config, demo, other_process):
    spec = hazard_job(demo, demo.leaf("CRU-1"), 400, tuple(resolve_sites(["WLG"])), ("PGA",), OQ)
    store = config.open_store()
    store.lease_acquire(spec.key, other_process, 60)
    with pytest.raises(LeaseHeld):
        run_job(spec, store, config)
    assert store.ledger_get(spec.key) is None and not config.work_dir.exists()


def test_the_heartbeat_keeps_a_lease_past_its_first_expiry_and_the_exit_releases_it(config):
    store = config.open_store()
    with held(store, ["pass-1"], ttl_s=0.6) as (beat, refused):
        assert refused == {}
        time.sleep(1.5)  # more than twice the time to live: renewed every 0.2 s
        with pytest.raises(LeaseHeld):
            store.lease_acquire("pass-1", "elsewhere/1/1", 60)
        token = beat.fence("pass-1").token
    assert store.lease_acquire("pass-1", "elsewhere/1/1", 60).token == token + 1  # released on the way out


def test_the_leases_another_holds_come_back_refused_and_the_rest_are_held(config, other_process):
    store = config.open_store()
    store.lease_acquire("busy", other_process, 60)
    with held(store, ["busy", "free"]) as (beat, refused):
        assert set(refused) == {"busy"} and set(beat.leases) == {"free"}


def test_work_folders_of_processes_gone_are_swept_and_others_kept(tmp_path, other_process):
    gone = subprocess.Popen(["sleep", "60"])
    gone_holder = holder_id(gone.pid)  # read while it lives, as its work folder's owner file was written
    gone.kill()
    gone.wait()
    folders = {name: tmp_path / name for name in ("gone", "alive", "unowned")}
    for folder in folders.values():
        folder.mkdir()
        (folder / "calc.hdf5").write_bytes(b"x" * 1000)
    (folders["gone"] / OWNER).write_text(gone_holder)
    (folders["alive"] / OWNER).write_text(other_process)
    assert sweep(tmp_path) == [folders["gone"]]
    assert not folders["gone"].exists() and folders["alive"].exists() and folders["unowned"].exists()


def test_a_work_folder_is_owned_by_its_process_and_sweeps_before_it_starts(tmp_path):
    left = tmp_path / "abc.dead"
    left.mkdir()
    (left / OWNER).write_text(f"{holder_id().split('/')[0]}/999999999/1")  # no such pid
    with work_folder(tmp_path, "key") as folder:
        assert (folder / OWNER).read_text().strip() == holder_id()
        assert not left.exists() and folder.name.startswith("key.")
    assert not folder.exists()
