"""A local moto_server (DynamoDB, S3, ECS over real HTTP) for tests and benchmarks, started and
stopped by them on 127.0.0.1. The fault proxy in front of it is `tests.support.fault_proxy`.

Nothing here talks to real AWS: the endpoint is 127.0.0.1 and credentials are dummies.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "ap-southeast-2"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def moto_server(
    port: int | None = None,
    host: str = "127.0.0.1",
    start_timeout_s: float = 60.0,
    dynamodb_only: bool = False,
    threads: int = 1,
) -> Iterator[str]:
    """Run `moto_server` (from this interpreter's venv) for the duration; yields its URL.

    `dynamodb_only`: moto's DynamoDB alone, served with keep-alive (`tests.support.moto_dynamodb`),
    for measuring DynamoDB clients without moto_server's per-request overheads, with `threads`
    worker threads."""
    port = port or free_port(host)
    if dynamodb_only:
        command = [
            sys.executable,
            "-m",
            "tests.support.moto_dynamodb",
            "--host",
            host,
            "--port",
            str(port),
            "--threads",
            str(threads),
        ]
    else:
        command = [str(Path(sys.executable).parent / "moto_server"), "-H", host, "-p", str(port)]
    root = str(Path(__file__).resolve().parents[2])  # `tests.support.moto_dynamodb` is imported from the project root
    env = {**os.environ, **DUMMY_CREDENTIALS, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {host}:{port}") from None
                time.sleep(0.2)
        yield f"http://{host}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
