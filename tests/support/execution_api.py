"""The in-process execution API of `airflow dags test`, built once by the test worker's warm Airflow
process (`tests.support.warm_airflow`, after `tests.support.airflow_preload`) before it forks the runs.

`airflow dags test` runs each task through an execution API served in its own process
(`in_process_api_server`, cached for the process). Its app is a cadwyn app, which generates the API's
versioned routes on its first request: 3.5-4.5 s of CPU, about 45 % of the CPU of an `airflow dags test`
that fails at its plan (`bench/dags_test_fork.py`). Built here, every fork finds it built; what the run
does with it is unchanged.
"""

from __future__ import annotations

import asyncio

import httpx
from airflow.sdk.execution_time.supervisor import in_process_api_server


def ready() -> None:
    """Build the app (`in_process_api_server().app`) and let cadwyn generate its routes: one request to
    no route (404, so no dependency runs), through a transport of its own on a loop closed after it. A
    fork makes its own transport, with its loop thread, on its first request, as before: a thread does
    not survive a fork."""
    app = in_process_api_server().app

    async def first_request() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://in-process.invalid.") as client:
            return (await client.get("/no-such-route")).status_code

    status = asyncio.run(first_request())
    if status != 404 or not getattr(app, "_cadwyn_initialized", False):
        raise RuntimeError(f"the in-process execution API is not ready (it answered {status})")


ready()
