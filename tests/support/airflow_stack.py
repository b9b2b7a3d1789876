"""The project's own local Airflow (`make airflow`: scripts/airflow_stack.py) started for a test in a
var/ of its own, on free ports, and stopped after it; a REST client for it, as a user's script
would use (a JWT from the simple auth manager's login)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hazflow_tools.rest import AirflowApi

from hazflow.config import PROJECT_ROOT
from tests.support.moto_server import free_port

STACK = PROJECT_ROOT / "scripts" / "airflow_stack.py"


@dataclass
class Stack:
    var: Path
    env: dict[str, str]
    started: str  # what `start` printed
    _client: AirflowApi | None = field(default=None, repr=False)

    def script(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(STACK), command], env=self.env, capture_output=True, text=True, timeout=300)

    def airflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The airflow CLI against the stack's database, as `eval "$(python scripts/airflow_stack.py env)"` gives it."""
        exports = self.script("env").stdout
        env = dict(self.env)
        for line in exports.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = json.loads(value)
        return subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "airflow"), *args], env=env, capture_output=True,
                              text=True, timeout=180)  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['HAZFLOW_AIRFLOW_PORT']}"

    def rest(self) -> AirflowApi:
        """The stack's REST API, logged in as the admin `start` printed: one client, so that polling the
        API is one call each time, not a login and a call."""
        if self._client is None:
            password = json.loads((self.var / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
            self._client = AirflowApi(self.url, "admin", password)
        return self._client

    def parsed(self, dag_id: str) -> bool:
        """Whether the DAG processor has parsed `dag_id` (the REST API knows it): a call, not an
        `airflow dags list`, which is two Python start-ups each time."""
        return self.rest().dag(dag_id) is not None

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call of the REST API (`/api/v2/...`), its JSON answer."""
        return self.rest().call(method, path, body)


@contextmanager
def airflow_stack(var: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`make airflow` in `var` on free ports (with `extra_env`, a deployment's settings such as
    HAZFLOW_NSHM_SOURCES); `make airflow-stop` on exit, whatever happened."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "HAZFLOW_VAR": str(var),
        "HAZFLOW_PG_PORT": str(free_port()),
        "HAZFLOW_AIRFLOW_PORT": str(free_port()),
        "HAZFLOW_STORE_ROOT": str(var / "store"),
        "HAZFLOW_WORK_DIR": str(var / "work"),  # OpenQuake's folders: a test finds the stack's processes by them
    }
    stack = Stack(var, env, "")
    try:
        started = stack.script("start")
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        stack.started = started.stdout
        yield stack
    finally:
        stack.script("stop")


@contextmanager
def project_stack(extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`airflow_stack` in a fresh folder under the project's var/ (not pytest's /tmp/pytest-of-root, closed
    to others: as root, PostgreSQL runs as a system user of its own, who must reach its data folder),
    removed afterwards."""
    (PROJECT_ROOT / "var").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="test-stack-", dir=PROJECT_ROOT / "var"))
    folder.chmod(0o755)
    try:
        with airflow_stack(folder / "var", extra_env) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)
