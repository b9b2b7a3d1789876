"""A real Airflow on 127.0.0.1 for the tests that need what `airflow dags test` does not do: a
scheduler, a separate triggerer process, and users acting on running tasks.

`airflow standalone` (API server, scheduler, DAG processor, triggerer) in its own AIRFLOW_HOME with
its own SQLite database, this project's DAGs, plugins and pools; the test drives it with the
`airflow` CLI, as an operator would, reads states from its database, and it is stopped (its whole process group) on exit.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hazflow.config import PROJECT_ROOT
from tests.support.moto_server import free_port
from tests.support.warm_airflow import IMPORTS, run_airflow

AIRFLOW = str(PROJECT_ROOT / ".venv" / "bin" / "airflow")


@dataclass
class Standalone:
    home: Path
    env: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> str:
        """`airflow *args` on this Airflow, as an operator types it: a fork of a warm Airflow process
        of this Airflow's settings (tests.support.warm_airflow), about 3 s of CPU less than a cold start."""
        code, output = run_airflow(args, self.env, timeout_s=180, preload=IMPORTS)  # an operator's commands: no task runs in them
        if check and code:
            raise AssertionError(f"airflow {' '.join(args)}: {output[-4000:]}")
        return output

    def _query(self, sql: str, *args: str) -> list[tuple]:
        with closing(sqlite3.connect(self.home / "airflow.db", timeout=30)) as db:
            return db.execute(sql, args).fetchall()

    def parsed(self, dag_id: str) -> bool:
        """Whether the DAG processor has stored `dag_id`'s serialized DAG, which the scheduler runs
        (a query, not an `airflow dags list`, which is an Airflow start-up each time)."""
        try:
            return bool(self._query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id))
        except sqlite3.OperationalError:  # the database is still being created
            return False

    def run_state(self, dag_id: str, run_id: str) -> str:
        rows = self._query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return str(rows[0][0]) if rows else ""

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """`task_id` or `task_id[map_index]` -> state, as the UI's grid shows them."""
        rows = self._query("SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return {task if index < 0 else f"{task}[{index}]": str(state) for task, index, state in rows}

    def try_number(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> int:
        rows = self._query(
            "SELECT try_number FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = ?",
            dag_id, run_id, task_id, str(map_index),
        )  # fmt: skip
        return int(rows[0][0]) if rows else 0

    def _log_folder(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> Path:
        """Where Airflow writes a task instance's attempt logs (and the triggerer its triggers')."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return folder / f"map_index={map_index}" if map_index >= 0 else folder

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, attempt: int = 1) -> list[dict[str, Any]]:
        """The JSON lines of one attempt's task log (what the UI's log view shows)."""
        return _json_lines([self._log_folder(dag_id, run_id, task_id, map_index) / f"attempt={attempt}.log"])

    def trigger_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, attempt: int = 1) -> list[dict[str, Any]]:
        """The JSON lines the triggerer wrote for one attempt's trigger (`attempt=N.log.trigger.*.log`; none yet: [])."""
        return _json_lines(
            sorted(self._log_folder(dag_id, run_id, task_id, map_index).glob(f"attempt={attempt}.log.trigger.*.log"))
        )

    def retry_decision(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, attempt: int = 1) -> tuple[str, str]:
        """(action, reason) of the retry policy for a failed attempt."""
        (decision,) = [
            e for e in self.task_log(dag_id, run_id, task_id, map_index, attempt) if e.get("event") == "Retry policy decision"
        ]
        return decision["action"], decision["reason"]

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.home.rglob("*.log")))


def _json_lines(paths: list[Path]) -> list[dict[str, Any]]:
    """The JSON lines of Airflow's structured logs at `paths`, in order (other lines skipped)."""
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.startswith("{")]


def wait_for(what: str, condition: Callable[[], Any], timeout_s: float = 300, every_s: float = 1.0) -> Any:
    """Poll `condition` until it is truthy; its value. AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@contextmanager
def airflow_standalone(home: Path, env: dict[str, str] | None = None) -> Iterator[Standalone]:
    """A running `airflow standalone` on this project's DAGs, with `env` added to its environment."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full = {
        **os.environ,
        **(env or {}),
        "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",  # standalone starts `airflow ...` subcommands
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",  # where task processes report
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    airflow = Standalone(home, full)
    airflow.cli("db", "migrate")
    airflow.cli("pools", "import", str(PROJECT_ROOT / "include" / "hazflow-data" / "pools.json"))
    with (home / "standalone.out").open("w") as out:
        process = subprocess.Popen(
            [AIRFLOW, "standalone"], env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for("the DAG processor to parse the DAGs", lambda: airflow.parsed("disagg_realizations"), 180, 1)
        yield airflow
    finally:
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
                process.wait(grace)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
