"""OpenQuake dies with the process that started it, and inherits only an allowlisted environment.

OpenQuake runs in a session of its own (so that a time-out kills its process group), which a
supervisor killing the task's process group would miss. The shim it starts through asks the kernel to
kill it with its parent. The test that matters: `kill -9` of `python -m hazflow disagg` during a
one-pass run leaves no OpenQuake process 5 s later, and the rerun does each job once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hazflow.config import PROJECT_ROOT, Config
from hazflow.openquake.runner import DIE_WITH_PARENT, ORPHANED_EXIT, _environment, with_parent
from hazflow.store import HazardAggregate
from hazflow.store.local import LocalStore
from tests.extract.conftest import PROVENANCE, synthetic_curve
from tests.support.processes import ONE_PASS, openquake_processes, wait_for_openquake

OQ_PYTHON = Config().oq_python
SITES = ("-41.300~174.780", "-43.530~172.630")  # WLG, CHC


def test_the_shim_becomes_the_command():
    out = subprocess.run(with_parent([str(OQ_PYTHON), "-c", "import os; print(os.getppid())"], OQ_PYTHON),
                         capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    assert out.stdout.strip() == str(os.getpid())  # exec'd in place: the command's parent is this process


def test_the_shim_exits_when_its_parent_is_already_gone():
    """The race: the parent died before the shim asked to die with it (its parent is now another pid)."""
    cmd = [str(OQ_PYTHON), "-S", "-c", DIE_WITH_PARENT, "1", str(OQ_PYTHON), "-c", "print('ran')"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == ORPHANED_EXIT and "ran" not in out.stdout


def test_openquake_inherits_no_credentials_nor_settings(tmp_path, monkeypatch):
    secrets = {"AWS_SECRET_ACCESS_KEY": "s", "AWS_ACCESS_KEY_ID": "k", "AWS_SESSION_TOKEN": "t",
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://u:p@h/db", "HAZFLOW_STORE_ROOT": "s3://b/p",
               "PYTHONPATH": "/elsewhere", "VIRTUAL_ENV": "/venv", "OQ_DISTRIBUTE": "processpool"}  # fmt: skip
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = _environment(tmp_path, Config().openquake())
    assert not (set(secrets) - {"OQ_DISTRIBUTE", "PYTHONPATH"}) & set(env)  # none reaches it; two are set anew:
    assert env["OQ_DISTRIBUTE"] == "no" and env["PYTHONPATH"] == str(PROJECT_ROOT / "include")  # hazflow's own package
    assert env["PATH"] == os.environ["PATH"] and env["LC_ALL"] == "C.UTF-8"


def _demo_request(tmp_path: Path, demo) -> tuple[dict[str, str], list[str], Path]:
    work, store_root = tmp_path / "work", tmp_path / "store"
    levels = np.asarray(demo.settings.levels)
    LocalStore(store_root).put_hazard_aggregates(  # the mean curves the targets' levels are read off
        [HazardAggregate("DEMO", code, 400.0, "PGA", "mean", levels, synthetic_curve(levels, i, "PGA", "mean"), PROVENANCE)
         for i, code in enumerate(SITES)]
    )  # fmt: skip
    env = {**os.environ, "HAZFLOW_STORE_ROOT": str(store_root), "HAZFLOW_WORK_DIR": str(work), "HAZFLOW_OQ_PARALLEL": "1"}
    argv = [sys.executable, "-m", "hazflow", "--json", "disagg", "--model", "DEMO", "--sites", "WLG", "CHC", "--vs30s", "400",
            "--imts", "PGA", "--poes", "0.1", "0.02", "--leaves", "HIK-1"]  # fmt: skip
    return env, argv, store_root


@pytest.mark.openquake
def test_a_copy_started_beside_a_live_one_fails_as_transient_and_each_job_runs_once(tmp_path, demo):
    """Two triggers of one request (or a retry of a task whose process lives on): the second meets the
    pass's live lease and exits EX_TEMPFAIL without starting OpenQuake; the first finishes; a third
    finds everything done."""
    env, argv, store_root = _demo_request(tmp_path, demo)
    work = Path(env["HAZFLOW_WORK_DIR"])
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_openquake(work, first)
        second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 75, second.stderr[-3000:]
        assert "is being computed by another process: held by" in second.stderr and "(alive)" in second.stderr
        assert len(openquake_processes(work, ONE_PASS)) == 1  # the second started none
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-3000:]
    assert json.loads(out)["summary"]["openquake_runs"] == 4
    third = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0 and json.loads(third.stdout)["summary"]["openquake_runs"] == 0
    assert {e.attempts for e in LocalStore(store_root).ledger_list(kind="disagg")} == {1}  # each job ran once


@pytest.mark.openquake
def test_kill_9_of_the_cli_during_a_pass_stops_its_openquake_and_the_rerun_runs_each_job_once(tmp_path, demo):
    env, argv, store_root = _demo_request(tmp_path, demo)
    work = Path(env["HAZFLOW_WORK_DIR"])
    cli = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_openquake(work, cli)
        time.sleep(1.0)  # well inside the pass
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=30)
        deadline = time.monotonic() + 5
        while openquake_processes(work, ONE_PASS) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = openquake_processes(work, ONE_PASS)
        for pid in survivors:  # leave nothing behind, whatever the assertion says
            os.kill(pid, signal.SIGKILL)
        assert survivors == [], "OpenQuake outlived the process that started it"
    finally:
        if cli.poll() is None:
            cli.kill()

    left = [p.parent for p in work.glob("*/.owner")]
    assert left, "the killed process left no work folder to sweep"
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]  # its lease's holder is gone: taken over at once
    summary = json.loads(rerun.stdout)["summary"]
    assert summary["jobs"] == 4 and summary["openquake_runs"] == 4 and summary["states"] == {"done": 4}
    assert not any(p.exists() for p in left) and list(work.glob("*/.owner")) == []  # swept, and its own deleted
    store = LocalStore(store_root)
    for site in SITES:
        for poe in (0.1, 0.02):
            assert len(store.get_disagg_realizations("DEMO", site, 400.0, "PGA", poe)) == 2  # a row per GMM branch, none twice
