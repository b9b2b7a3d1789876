"""`airflow` command lines run as forks of one warm process per test worker, as hazflow runs OpenQuake
(`hazflow.openquake.warm`, the same server): Airflow, hazflow's DAGs and steps are imported once
(`tests.support.airflow_preload`), not once per `airflow dags test`, which saves about 5 s of CPU a run.

Each run is still a process of its own: a fork, in a session of its own, with the environment it is
given (replaced, not added to), its output in a file, killed with its process group on time-out, and
dying with the worker. Airflow reads its home and configuration at import, so there is one warm
process per set of `AIRFLOW_*` settings: the worker's own (its `airflow dags test` runs), and one per
`airflow standalone` the scheduler tests start (their `airflow tasks clear`, `pools set`, ...). A run
is cold (`python -m airflow`) only if its warm process cannot start.

What a warm process imports first (PRELOAD): Airflow, hazflow and the parsed DAG folder
(`tests.support.airflow_preload`), then the in-process execution API that `airflow dags test` runs its
tasks through, built (`tests.support.execution_api`), which cuts the CPU of a run that fails at its
plan by about 45 %. The DAG tests name the DAG's own file (`dag_file`, `airflow dags test -f`), so a
run parses and serializes that file before it runs, not the whole folder: 8-17 % less again in two
alternating measurements (`bench/dags_test_fork.py` times the three forms).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from hazflow.config import PROJECT_ROOT
from hazflow.openquake.runner import with_parent
from hazflow.openquake.warm_client import WarmOpenQuake, WarmRun, WarmUnavailable, warm_process

logger = logging.getLogger(__name__)

PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
IMPORTS = ("tests.support.airflow_preload",)
PRELOAD = (*IMPORTS, "tests.support.execution_api")


def dag_file(dag_id: str) -> Path:
    """The file of DAG `dag_id` in this project's DAG folder: each DAG's file is named after it."""
    path = PROJECT_ROOT / "dags" / f"{dag_id}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no DAG file {path} for DAG {dag_id!r}")
    return path


def _airflow_settings(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name.startswith("AIRFLOW")}


def _server(env: dict[str, str], preload: Sequence[str] = PRELOAD) -> WarmOpenQuake:
    """The warm Airflow process of `env`'s Airflow settings that imported `preload`, started on first use with `env`."""
    settings = json.dumps([sorted(_airflow_settings(env).items()), list(preload)])
    warm = warm_process((str(PYTHON), "airflow", hashlib.sha256(settings.encode()).hexdigest()[:16]))
    started_env = {**env, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "include")])}

    def command(folder: Path) -> tuple[list[str], dict[str, str]]:
        cmd = [str(PYTHON), "-m", "hazflow.openquake.warm", str(folder / "socket"), *preload]
        return with_parent(cmd, PYTHON), started_env

    warm.start(command)
    return warm


def fork_airflow(
    argv: Sequence[str], env: dict[str, str], log: Path, timeout_s: float, preload: Sequence[str] = PRELOAD
) -> WarmRun:
    """`airflow *argv` as a fork of the warm process of `env`'s settings and `preload`, with exactly `env`
    as its environment and its output in `log`, killed with its process group after `timeout_s`: its
    wait status and CPU (WarmUnavailable if the warm process cannot start or take the run)."""
    warm = _server(env, preload)
    timer: list[threading.Timer] = []

    def started(pid: int) -> None:
        timer.append(threading.Timer(timeout_s, _kill_group, (pid,)))
        timer[0].start()

    try:
        return warm.run("airflow", argv, Path.cwd(), env, log, started, name="airflow-test", replace_env=True)
    finally:
        for each in timer:
            each.cancel()


def run_airflow(argv: Sequence[str], env: dict[str, str], timeout_s: float, preload: Sequence[str] = PRELOAD) -> tuple[int, str]:
    """`airflow *argv` with exactly `env` as its environment: (exit code, stdout and stderr). Commands
    that run no task (`tasks clear`, `dags trigger`) need only IMPORTS as `preload`."""
    with tempfile.TemporaryDirectory(prefix="airflow-run-") as folder:
        log = Path(folder) / "airflow.log"
        try:
            ran = fork_airflow(argv, env, log, timeout_s, preload)
        except WarmUnavailable as error:
            logger.warning("running airflow cold: %s", error)
            return _cold(argv, env, timeout_s)
        output = log.read_text(errors="replace") if log.exists() else ""
        return os.waitstatus_to_exitcode(ran.status), output


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _cold(argv: Sequence[str], env: dict[str, str], timeout_s: float) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "airflow", *argv], capture_output=True, text=True, env=env, timeout=timeout_s)
    return done.returncode, done.stdout + done.stderr
