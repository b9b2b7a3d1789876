"""Shared fixtures: real OpenQuake runs of DEMO jobs, done once per test session and reused."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hazflow.config import PROJECT_ROOT, Config
from hazflow.model.logic_tree import HazardModel, load_model
from hazflow.model.sites import resolve_sites
from hazflow.openquake.prepare import render_job
from hazflow.openquake.runner import RunResult, engine_version, own_warm_process, run_job
from hazflow.openquake.spec import JobSpec
from hazflow.plan.jobs import disagg_job
from hazflow.plan.request import HazardRequest
from tests.support.moto_server import DUMMY_CREDENTIALS, moto_server
from tests.support.suite_timeline import record

# The project's Airflow environment, as `make test` and scripts/env.sh set it, so that a bare
# `pytest` never creates ~/airflow (set before any test imports Airflow).
for _name, _value in {
    "AIRFLOW_HOME": PROJECT_ROOT / "var" / "airflow",
    "AIRFLOW__CORE__DAGS_FOLDER": PROJECT_ROOT / "dags",
    "AIRFLOW__CORE__PLUGINS_FOLDER": PROJECT_ROOT / "plugins",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": PROJECT_ROOT / "var" / "airflow" / "logs",
    "NUMBA_CACHE_DIR": PROJECT_ROOT / ".cache" / "numba",
    # A transient error's retry waits 2 s, not a deployment's 30: the retry tests check what is retried
    # and how, not the wait (test_integrity checks the setting reaches every task).
    "HAZFLOW_RETRY_DELAY": "2",
}.items():
    os.environ.setdefault(_name, str(_value))

# Run in parallel (pytest-xdist: `-n auto`, a worker per core, `--dist loadfile`, each test file on
# one worker so that its module fixtures (an Airflow stack, a scheduler) start once):
# - each worker has an Airflow home of its own, a copy of the migrated database `make setup` made
#   (pools included), so its `airflow dags test` runs and the runs it reads back are its own;
# - OpenQuake's jobs of a batch share the cores with the other workers: a worker's batches run
#   cores / workers at a time, not all cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _shared = Path(os.environ["AIRFLOW_HOME"])
    _own = _shared.parent / f"{_shared.name}-{os.environ['PYTEST_XDIST_WORKER']}"
    shutil.rmtree(_own, ignore_errors=True)
    _own.mkdir(parents=True)
    if (_shared / "airflow.db").exists():
        shutil.copyfile(_shared / "airflow.db", _own / "airflow.db")
    os.environ["AIRFLOW_HOME"] = str(_own)
    os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(_own / "logs")
    os.environ.setdefault(
        "HAZFLOW_OQ_PARALLEL", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    )

# Not collected (their imports are their work, for the warm Airflow process, not tests): --doctest-modules
# imports every module under testpaths, and importing these two cost each worker about 12 s of CPU at
# collection (Airflow's imports and the execution API's routes), on every run, fast lane included.
collect_ignore = ["support/airflow_preload.py", "support/execution_api.py"]

# Files go to the workers in xdist's own order (`--dist loadfile`: the files with the most tests first),
# except the files that share a session fixture built by real runs (the DAG chain, the two OpenQuake
# calculations the readers share): one unit of work per group, sent first, so that it is built once
# (tests/support/xdist_groups.py). Sending every file longest first (by measured
# seconds) ran the two stacks and the scheduler side by side at the start; that run took 17:24 against
# 16:35 an hour earlier (2026-12-07), on a machine whose speed drifted by up to 20 % that day, so the
# comparison is weak, and the other files keep xdist's order.


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`loadfile` with each group's files on one worker; xdist's own scheduler for any other `--dist`."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.support.xdist_groups import GroupedLoadFileScheduling

    return GroupedLoadFileScheduling(config, log)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record(report)  # the suite's timeline, when HAZFLOW_TEST_TIMELINE names a file (bench/suite_timeline.py)


@pytest.fixture(scope="session")
def demo() -> HazardModel:
    return load_model("DEMO")


@pytest.fixture(scope="session")
def base_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """Project OpenQuake venv; store and work folders in a session temp dir."""
    root = tmp_path_factory.mktemp("hazflow")
    return Config(store_root=root / "store", work_dir=root / "work")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A fresh, empty store per test."""
    return Config(store_root=tmp_path / "store", work_dir=tmp_path / "work")


@pytest.fixture(scope="session")
def oq_version(base_config: Config) -> str:
    return engine_version(base_config.oq_python)


@dataclass(frozen=True)
class Ran:
    spec: JobSpec
    jobdir: Path
    result: RunResult


def _run_in(folder: Path, spec: JobSpec, model: HazardModel, config: Config) -> Ran:
    folder.mkdir(parents=True, exist_ok=True)
    result = run_job(render_job(spec, model, folder), config.openquake())
    return Ran(spec, folder, result)


@pytest.fixture(scope="session")
def classical_run(tmp_path_factory, demo, base_config, oq_version) -> Ran:
    """HIK-1 at WLG and AKL (a back-arc site), VS30 400, PGA and SA(0.5): one real classical run."""
    request = HazardRequest.parse(
        {"model": "DEMO", "sites": ["WLG", "AKL"], "vs30s": [400], "imts": ["PGA", "SA(0.5)"], "leaves": ["HIK-1"]}
    )
    return _run_in(tmp_path_factory.mktemp("classical"), request.jobs(oq_version)[0], demo, base_config)


@pytest.fixture(scope="session")
def disagg_run(tmp_path_factory, demo, base_config, oq_version) -> Ran:
    """CRU-2 at WLG, VS30 400, PGA and SA(0.5) at fixed levels: one real disaggregation run."""
    site = resolve_sites(["WLG"])[0]
    spec = disagg_job(demo, demo.leaf("CRU-2"), 400, site, 0.1, {"PGA": 0.3, "SA(0.5)": 0.5}, oq_version)
    return _run_in(tmp_path_factory.mktemp("disagg"), spec, demo, base_config)


def oq_export(ran: Ran, what: str, dest: Path) -> list[Path]:
    """OpenQuake's own CSV export of a finished calculation (the reference for the reader):
    `python -m openquake.commands export` in the run's folder, as a fork of this process's warm
    OpenQuake process (a process of its own spent 4-5 s of CPU importing OpenQuake first)."""
    dest.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OQ_CONFIG_FILE": str(ran.jobdir / "openquake.cfg"), "OQ_DATADIR": str(ran.jobdir / "oqdata"), "CI": "1",
           "OQ_DISTRIBUTE": "no", "MPLCONFIGDIR": str(ran.jobdir / "tmp"), "NUMBA_CACHE_DIR": str(PROJECT_ROOT / ".cache" / "numba")}  # fmt: skip
    log = dest / "export.log"
    done = own_warm_process(Config().openquake()).run(
        "openquake.commands", ["export", what, "1", "-e", "csv", "-d", str(dest)], ran.jobdir, env, log, lambda pid: None
    )
    assert os.waitstatus_to_exitcode(done.status) == 0, log.read_text()[-3000:]
    return sorted(dest.glob("*.csv"))


@pytest.fixture(scope="session")
def moto_endpoint():
    """`moto_server` started for the session; its URL. No test touches real AWS."""
    with moto_server() as url:
        yield url


@pytest.fixture(params=["local", "aws"])
def store(request, tmp_path):
    """Each backend, empty: `local` in a temp folder, `aws` on the session's moto_server (own tables and bucket)."""
    from hazflow.store import open_store

    if request.param == "local":
        return open_store("local", str(tmp_path / "store"))
    request.getfixturevalue("fake_credentials")
    endpoint = request.getfixturevalue("moto_endpoint")
    stage = f"t{uuid.uuid4().hex[:10]}"
    return open_store("aws", f"s3://{stage}-bucket/hazflow", stage=stage, endpoint_url=endpoint, cache=tmp_path / "cache")


@pytest.fixture
def fake_credentials(monkeypatch):
    """Dummy credentials: nothing can reach real AWS."""
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def nshm_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NSHM-format archives of NSHM_v1.0.4's PUY-1, HIK-1, CRU-1 and SLAB-1 at the `test` size,
    written once a session by the bench's own command (`bench/nshm_sources.py`)."""
    dest = tmp_path_factory.mktemp("nshm-sources")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "include")}
    subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "python"), str(PROJECT_ROOT / "bench" / "nshm_sources.py"), "--dest", str(dest)],
        env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return dest


@pytest.fixture
def nshm_env(nshm_sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The environment of a deployment whose source root holds `nshm_sources`, with a fresh store
    and work folder; the `Config` it describes."""
    monkeypatch.setenv("HAZFLOW_NSHM_SOURCES", str(nshm_sources))
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.delenv("HAZFLOW_STORE_BACKEND", raising=False)
    monkeypatch.delenv("HAZFLOW_TOSHI_API_URL", raising=False)
    return Config.from_env()


@pytest.fixture
def no_archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment with no place for NSHM archives: no source root, no Toshi API, an empty store."""
    for name in ("HAZFLOW_NSHM_SOURCES", "HAZFLOW_TOSHI_API_URL", "HAZFLOW_STORE_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(tmp_path / "work"))


@pytest.fixture
def two_jobs(demo, oq_version):
    """SLAB-1 and HIK-1 at WLG, VS30 400, PGA 10 %/50 yr at 0.3 g: two real DEMO disaggregations."""
    site = resolve_sites(["WLG"])[0]
    return tuple(disagg_job(demo, demo.leaf(leaf), 400, site, 0.1, {"PGA": 0.3}, oq_version) for leaf in ("SLAB-1", "HIK-1"))
