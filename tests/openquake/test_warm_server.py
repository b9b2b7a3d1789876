"""The warm process's own rules, with modules of the caller's choosing and without OpenQuake (the
main venv's Python): what a run's environment is, and that the modules named are the ones imported."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from hazflow.config import PROJECT_ROOT
from hazflow.openquake.warm_client import WarmOpenQuake


@pytest.fixture
def server(tmp_path: Path):
    """A warm process of this venv's Python that imported `json` only, started with SERVER_ONLY set."""
    warm = WarmOpenQuake(("test", str(tmp_path)))
    env = {**os.environ, "SERVER_ONLY": "1", "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "include")])}
    warm.start(lambda folder: ([sys.executable, "-m", "hazflow.openquake.warm", str(folder / "socket"), "json"], env))
    yield warm
    assert warm.process is not None
    warm.process.kill()


def probe(warm: WarmOpenQuake, folder: Path, env: dict[str, str], replace_env: bool) -> dict[str, str]:
    log = folder / f"env-{replace_env}.json"
    ran = warm.run(
        "tests.support.env_probe", [], PROJECT_ROOT, env, log, lambda pid: None, name="env-probe", replace_env=replace_env
    )
    assert os.waitstatus_to_exitcode(ran.status) == 0, log.read_text()
    return json.loads(log.read_text())


def test_a_run_adds_its_environment_to_the_warm_process_s_or_replaces_it(server, tmp_path):
    added = probe(server, tmp_path, {"RUN_ONLY": "2"}, replace_env=False)
    assert added["SERVER_ONLY"] == "1" and added["RUN_ONLY"] == "2"
    replaced = probe(server, tmp_path, {"RUN_ONLY": "2", "PATH": os.environ["PATH"]}, replace_env=True)
    assert replaced == {"RUN_ONLY": "2", "PATH": os.environ["PATH"]}


def test_what_the_warm_process_prints_while_it_starts_goes_to_its_log_not_to_the_ready_line(tmp_path):
    """A module that prints as it is imported (Airflow logs to stdout) does not spoil READY."""
    warm = WarmOpenQuake(("test-print", str(tmp_path)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "include")])}
    warm.start(lambda folder: ([sys.executable, "-m", "hazflow.openquake.warm", str(folder / "socket"), "this"], env))
    try:
        assert warm.folder is not None and "The Zen of Python" in (warm.folder / "warm.log").read_text()
        assert probe(warm, tmp_path, {}, replace_env=False)["PYTHONPATH"] == env["PYTHONPATH"]
    finally:
        assert warm.process is not None
        warm.process.kill()


def test_a_run_ends_as_its_own_process_would_for_what_it_left_open(server, tmp_path):
    """A run ends with `os._exit`, not the interpreter's finalisation, yet what it left for its exit is
    done: the HDF5 file it never closed is complete, its exit handler ran, its thread finished, its
    output reached the log, and its exit code is its own."""
    import h5py
    import numpy as np

    log = tmp_path / "probe.log"
    ran = server.run("tests.support.exit_probe", [str(tmp_path)], PROJECT_ROOT, {}, log, lambda pid: None, name="exit-probe")
    assert os.waitstatus_to_exitcode(ran.status) == 3, log.read_text()
    with h5py.File(tmp_path / "left-open.hdf5", "r") as f:
        assert np.array_equal(f["values"][()], np.arange(1000.0)) and f.attrs["written"] == "before exit"
    assert (tmp_path / "exit-handler.txt").read_text() == "ran"
    assert (tmp_path / "thread.txt").read_text() == "finished"
    assert log.read_text() == "unflushed output"


@pytest.mark.parametrize(
    ("code", "failing", "exits_with"),
    [(0, None, 0), (3, None, 3), (0, "exit handlers", 1), (3, "hdf5", 3)],
)
def test_leave_finishes_what_an_exit_would_in_the_interpreters_order_then_ends_with_os_exit(
    monkeypatch, code, failing, exits_with
):
    """`leave` (how a fork ends): threads joined, exit handlers, HDF5 files closed, then `os._exit` with
    the run's code; a step that raises is reported and the others still done, a success then exiting 1."""
    from hazflow.openquake import warm

    done: list[object] = []

    class Exited(Exception):
        pass

    def step(name: str):
        def run() -> None:
            done.append(name)
            if name == failing:
                raise RuntimeError(name)

        return run

    def os_exit(status: int) -> None:
        done.append(("os._exit", status))
        raise Exited

    monkeypatch.setattr(warm.threading, "_shutdown", step("threads"))
    monkeypatch.setattr(warm.atexit, "_run_exitfuncs", step("exit handlers"))
    monkeypatch.setattr(warm, "_close_hdf5_files", step("hdf5"))
    monkeypatch.setattr(warm.os, "_exit", os_exit)
    with pytest.raises(Exited):
        warm.leave(code)
    assert done == ["threads", "exit handlers", "hdf5", ("os._exit", exits_with)]


def test_the_hdf5_files_a_run_left_open_are_closed_with_what_it_wrote(tmp_path):
    import h5py
    import numpy as np

    from hazflow.openquake import warm

    assert not h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE), "an HDF5 file is open in this process before the test"
    written = h5py.File(tmp_path / "written.hdf5", "w")
    written["values"] = np.arange(3.0)
    with h5py.File(tmp_path / "read.hdf5", "w"):
        pass
    read = h5py.File(tmp_path / "read.hdf5", "r")
    warm._close_hdf5_files()
    assert not written.id.valid and not read.id.valid and not h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)
    with h5py.File(tmp_path / "written.hdf5", "r") as f:
        assert f["values"][()].tolist() == [0.0, 1.0, 2.0]
