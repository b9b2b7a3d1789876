"""The warm OpenQuake process (`hazflow.openquake.warm`): a fork of it is the same run as a process of
its own, value by value; runs at once keep to their own folders; it counts its start-up once, dies
with the process that started it, is restarted when it died, and the runner runs cold without it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from hazflow.config import PROJECT_ROOT, Config
from hazflow.ingest.realizations import ingest_batch
from hazflow.model.sites import resolve_sites
from hazflow.openquake import runner, warm_client
from hazflow.openquake.runner import run_job
from hazflow.plan.jobs import disagg_job
from hazflow.plan.passes import group_into_passes
from hazflow.run.batch import run_batch

pytestmark = pytest.mark.openquake

MINI_JOB = PROJECT_ROOT.parent / "shared" / "reference" / "oq-mini-job"


def mini_job(folder: Path) -> Path:
    shutil.copytree(MINI_JOB, folder)
    return folder / "job_poes.ini"


# What a disaggregation run computed: its results, curves, maps and rupture contexts (not its timings,
# `source_data/ctimes`, nor its pickled inputs, bytes that hold the run's own paths).
RESULTS = ("_rates", "best_rlzs", "disagg-", "hcurves-", "hmap", "poe4", "rup/", "sitecol/", "weights")


def datasets(path: Path) -> dict[str, np.ndarray]:
    """The numeric datasets of a datastore under `RESULTS`, by name."""
    out: dict[str, np.ndarray] = {}

    def visit(name: str, node: object) -> None:
        if isinstance(node, h5py.Dataset) and node.dtype.kind in "fi" and name.startswith(RESULTS):
            out[name] = node[()]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


@pytest.fixture
def fresh_warm(monkeypatch):
    """A warm process of this test's own (the registry emptied for it; the process dies with the test's)."""
    monkeypatch.setattr(warm_client, "_WARM", {})
    yield
    for warm in warm_client._WARM.values():
        if warm.process is not None:
            warm.process.kill()


@pytest.mark.parametrize("engine", ["oq", "hazardlib"])  # `oq engine --run`, and a one-pass disaggregation
def test_a_warm_run_equals_a_cold_one_value_by_value(demo, oq_version, tmp_path, engine):
    jobs = [
        disagg_job(demo, demo.leaf("CRU-1"), 400, site, 0.1, {"PGA": 0.3, "SA(0.5)": 0.5}, oq_version, engine)
        for site in resolve_sites(["WLG", "CHC"])
    ]
    stored = {}
    for warm in (True, False):
        config = Config(store_root=tmp_path / f"{warm}" / "store", work_dir=tmp_path / f"{warm}" / "work", oq_warm=warm)
        store = config.open_store()
        run_batch(group_into_passes(jobs, 2), store, config)
        assert [o.state for o in ingest_batch(jobs, store)] == ["done", "done"]
        stored[warm] = {
            (r.site, r.imt, r.gmm): r.values
            for job in jobs
            for imt in job.imts
            for r in store.get_disagg_realizations("DEMO", job.sites[0].code, 400, imt, 0.1)
        }
    assert stored[True].keys() == stored[False].keys() and len(stored[True]) == 2 * 2 * len(demo.gmms_for("Active Shallow Crust"))
    for key, cold in stored[False].items():
        assert np.array_equal(stored[True][key], cold), key  # the same arithmetic: equal to the last bit


def test_runs_at_once_keep_to_their_own_folders_and_databases(base_config, tmp_path, fresh_warm):
    ini = [mini_job(tmp_path / name) for name in ("one", "two", "three")]
    cold = run_job(ini[0], replace(base_config.openquake(), warm=False))
    results = {}

    def run(path: Path) -> None:
        results[path] = run_job(path, base_config.openquake())

    threads = [threading.Thread(target=run, args=(path,)) for path in ini[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for path in ini[1:]:
        result = results[path]
        assert result.state == "done" and result.hdf5 == path.parent / "oqdata" / "calc_1.hdf5"  # its own database's first
        assert (path.parent / "db.sqlite3").exists()
        reference, warm = datasets(cold.hdf5), datasets(result.hdf5)
        assert reference.keys() == warm.keys() and {"disagg-rlzs/Mag_Dist_Eps", "rup/rrup", "hmap3"} <= set(reference)
        for name, values in reference.items():
            assert np.array_equal(values, warm[name], equal_nan=True), name
    (warm,) = warm_client._WARM.values()
    assert warm.folder is not None and not list(warm.folder.rglob("*.hdf5")) and not (warm.folder / "db.sqlite3").exists()


def test_the_start_up_is_counted_once_with_the_first_run(base_config, tmp_path, fresh_warm):
    config = base_config.openquake()
    warm = warm_client.warm_process((str(config.python), str(config.numba_cache_dir)))
    warm.start(runner._warm_command(config))
    ran = []
    for name in ("first", "second"):
        ini = mini_job(tmp_path / name)
        env = runner._environment(ini.parent, config)
        ran.append(
            warm.run(
                "openquake.commands", ["engine", "--run", str(ini)], ini.parent, env, ini.parent / "oq.log", lambda pid: None
            )
        )
    assert [os.waitstatus_to_exitcode(r.status) for r in ran] == [0, 0]
    assert ran[0].startup_cpu_seconds > 0 and ran[1].startup_cpu_seconds == 0
    assert all(r.cpu_seconds > 0 and r.max_rss_kb > 0 for r in ran)


def test_a_warm_process_that_died_is_started_again(base_config, tmp_path, fresh_warm):
    assert run_job(mini_job(tmp_path / "before"), base_config.openquake()).state == "done"
    (warm,) = warm_client._WARM.values()
    first = warm.process
    assert first is not None
    first.kill()
    first.wait(30)
    assert run_job(mini_job(tmp_path / "after"), base_config.openquake()).state == "done"
    assert warm.process is not None and warm.process.pid != first.pid and warm.process.poll() is None


def test_without_a_warm_process_the_run_is_cold_and_says_so(base_config, tmp_path, fresh_warm, monkeypatch, caplog):
    def broken(config):
        return lambda folder: ([str(config.python), "-c", "import sys; sys.exit(3)"], runner._environment(folder, config))

    monkeypatch.setattr(runner, "_warm_command", broken)
    result = run_job(mini_job(tmp_path / "job"), base_config.openquake())
    assert result.state == "done" and result.usage.cpu_seconds > 0
    assert any("running OpenQuake cold" in r.getMessage() for r in caplog.records)


@pytest.fixture
def shared_warm(base_config):
    """A warm OpenQuake process as a host would run one for every process: owned by this test, not by
    the runner (HAZFLOW_OQ_WARM_SOCKET names its socket)."""
    owner = warm_client.WarmOpenQuake(("shared", "test"))
    owner.start(runner._warm_command(base_config.openquake()))
    yield owner
    assert owner.process is not None
    owner.process.kill()


def test_runs_fork_the_shared_warm_process_its_socket_names_and_go_cold_when_it_is_gone(
    base_config, tmp_path, shared_warm, monkeypatch, caplog
):
    def no_own(key):
        raise AssertionError("the runner started a warm process of its own")

    monkeypatch.setattr(runner, "warm_process", no_own)
    config = replace(base_config.openquake(), warm_socket=shared_warm.socket_path())
    result = run_job(mini_job(tmp_path / "shared"), config)
    assert result.state == "done" and not [r for r in caplog.records if "cold" in r.getMessage()]

    assert shared_warm.process is not None
    shared_warm.process.kill()
    shared_warm.process.wait()
    assert run_job(mini_job(tmp_path / "gone"), config).state == "done"  # cold, and says why
    assert any("running OpenQuake cold" in r.getMessage() and "gone" in r.getMessage() for r in caplog.records)


def test_a_shared_warm_process_of_another_venv_refuses_the_run_which_runs_cold(base_config, tmp_path, caplog):
    """A warm process serving another Python environment (here the main venv's) never runs a job."""
    other = warm_client.WarmOpenQuake(("other-venv", "test"))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "include")}
    other.start(lambda folder: ([sys.executable, "-m", "hazflow.openquake.warm", str(folder / "socket"), "json"], env))
    try:
        config = replace(base_config.openquake(), warm_socket=other.socket_path())
        assert run_job(mini_job(tmp_path / "job"), config).state == "done"
    finally:
        assert other.process is not None
        other.process.kill()
    assert any("refused the run" in r.getMessage() and sys.prefix in r.getMessage() for r in caplog.records)


def test_the_warm_process_dies_with_the_process_that_started_it(tmp_path):
    """kill -9 of the process that started it (a task, the CLI): the warm process goes too (the
    kernel's PR_SET_PDEATHSIG, from the thread that started it), and with it any run of it."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from hazflow.config import Config\n"
        "from hazflow.openquake import warm_client\n"
        "from hazflow.openquake.runner import run_job\n"
        "config = Config().openquake()\n"
        "run_job(Path(sys.argv[1]), config)\n"
        "(warm,) = warm_client._WARM.values()\n"
        "print(warm.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", script, str(mini_job(tmp_path / "job"))], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    try:
        assert starter.stdout is not None
        pid = int(starter.stdout.readline())
        os.kill(pid, 0)  # alive while its starter is
        starter.send_signal(signal.SIGKILL)
        starter.wait(30)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists()
    finally:
        starter.kill()


def test_a_temporary_folder_too_deep_for_a_socket_puts_the_warm_process_in_tmp(base_config, tmp_path, fresh_warm, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    assert run_job(mini_job(tmp_path / "job"), base_config.openquake()).state == "done"
    (warm,) = warm_client._WARM.values()
    assert warm.folder is not None and warm.folder.parent == Path("/tmp") and warm.process is not None


def test_a_new_warm_process_sweeps_the_folders_of_processes_gone(base_config, tmp_path, fresh_warm, monkeypatch):
    """A task's process ends with `os._exit` (no exit handler removes its warm folder): the next warm
    process on the host removes the folders whose starting process is gone, and no other."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{warm_client.FOLDER_PREFIX}{gone.pid}-abcd1234"
    live = tmp_path / f"{warm_client.FOLDER_PREFIX}{os.getpid()}-efgh5678"
    for folder in (stale, live):
        (folder / "tmp").mkdir(parents=True)
    assert run_job(mini_job(tmp_path / "job"), base_config.openquake()).state == "done"
    assert not stale.exists() and live.exists()


def test_a_run_whose_warm_process_dies_is_lost_and_dies_with_it(base_config, tmp_path, fresh_warm):
    config = base_config.openquake()
    warm = warm_client.warm_process((str(config.python), str(config.numba_cache_dir)))
    warm.start(runner._warm_command(config))
    ini = mini_job(tmp_path / "job")
    forks = []

    def started(pid: int) -> None:  # the warm process dies as soon as the run has started
        forks.append(pid)
        assert warm.process is not None
        warm.process.kill()

    env = runner._environment(ini.parent, config)
    with pytest.raises(warm_client.WarmRunLost, match="died during the run"):
        warm.run("openquake.commands", ["engine", "--run", str(ini)], ini.parent, env, ini.parent / "oq.log", started)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{forks[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{forks[0]}").exists()  # the run died with its warm process (PR_SET_PDEATHSIG)
