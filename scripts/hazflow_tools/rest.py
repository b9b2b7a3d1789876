"""A client of a running Airflow's REST API (`/api/v2`), as a user's script would drive it: a JWT
from the simple auth manager's login, then JSON calls. Standard library only; used by the scheduler
demo (scripts/demo_chain.py) and the tests of `make airflow`."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass
class AirflowApi:
    """`url` like http://127.0.0.1:8080; `username` and `password` of the UI's login."""

    url: str
    username: str
    password: str
    _token: str = field(default="", repr=False)
    _expires: float = 0.0

    def token(self) -> str:
        if not self._token or time.monotonic() > self._expires:
            body = json.dumps({"username": self.username, "password": self.password}).encode()
            request = urllib.request.Request(f"{self.url}/auth/token", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as r:
                self._token = str(json.load(r)["access_token"])
            self._expires = time.monotonic() + 600  # well inside the token's lifetime
        return self._token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call (`path` under /api/v2); its JSON answer. HTTP errors are raised with Airflow's detail."""
        request = urllib.request.Request(
            f"{self.url}/api/v2{path}", json.dumps(body).encode() if body is not None else None,
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"}, method=method,
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: HTTP {e.code} {e.read().decode(errors='replace')[:500]}") from None

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Start a run now with `conf`; its run id."""
        return str(self.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        """The run (state, conf, dates), or None while it does not exist."""
        return self._found(f"/dags/{dag_id}/dagRuns/{run_id}")

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG (paused, tags, ...), or None until the DAG processor has parsed it."""
        return self._found(f"/dags/{dag_id}")

    def _found(self, path: str) -> dict[str, Any] | None:
        """GET `path`, or None where it is not found (HTTP 404)."""
        try:
            return dict(self.call("GET", path))
        except RuntimeError as e:
            if "HTTP 404" in str(e):
                return None
            raise

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")["value"]
