"""A local moto_server (DynamoDB, S3, ECS over real HTTP) for tests, benchmarks and the AWS demo,
a proxy in front of it that injects DynamoDB's faults, and a way to give a client the network round
trip that moto on localhost does not have.

Nothing here talks to real AWS: the endpoint is 127.0.0.1 and credentials are dummies.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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

    `dynamodb_only`: moto's DynamoDB alone, served with keep-alive (`hazflow.aws.moto_dynamodb`),
    for measuring DynamoDB clients without moto_server's per-request overheads, with `threads`
    worker threads."""
    port = port or free_port(host)
    if dynamodb_only:
        command = [
            sys.executable,
            "-m",
            "hazflow.aws.moto_dynamodb",
            "--host",
            host,
            "--port",
            str(port),
            "--threads",
            str(threads),
        ]
    else:
        command = [str(Path(sys.executable).parent / "moto_server"), "-H", host, "-p", str(port)]
    env = {**os.environ, **DUMMY_CREDENTIALS}
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


class FaultProxy:
    """Between a client and moto_server: for BatchWriteItem, fails a share of requests with 500 or
    ThrottlingException (nothing forwarded) and holds back a share of the items of the others,
    returning them as UnprocessedItems; everything else passes through."""

    def __init__(self, upstream: str, unprocessed: float, failures: float, seed: int = 7) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.unprocessed, self.failures, self.rng, self.lock = unprocessed, failures, random.Random(seed), threading.Lock()
        self.counts = {"batch_requests": 0, "failed": 0, "held_back": 0, "forwarded_items": 0}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("X-Amz-Target", "").endswith(".BatchWriteItem"):
                    status, payload = proxy.batch_write(body, dict(self.headers))
                else:
                    status, payload = proxy.forward("POST", self.path, body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amz-crc32", str(zlib.crc32(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        headers = {k: v for k, v in headers.items() if k.lower() not in {"host", "content-length"}}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    def batch_write(self, body: bytes, headers: dict) -> tuple[int, bytes]:
        with self.lock:
            self.counts["batch_requests"] += 1
            roll = self.rng.random()
            if roll < self.failures:
                self.counts["failed"] += 1
                code = "InternalServerError" if self.rng.random() < 0.5 else "ThrottlingException"
                status = 500 if code == "InternalServerError" else 400
                return status, json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}).encode()
            request = json.loads(body)
            kept, held = {}, {}
            for table, writes in request["RequestItems"].items():
                for w in writes:
                    (held if self.rng.random() < self.unprocessed else kept).setdefault(table, []).append(w)
            self.counts["held_back"] += sum(len(v) for v in held.values())
            self.counts["forwarded_items"] += sum(len(v) for v in kept.values())
        if kept:
            status, payload = self.forward("POST", "/", json.dumps({**request, "RequestItems": kept}).encode(), headers)
            if status != 200:
                return status, payload
            response = json.loads(payload)
        else:
            response = {"UnprocessedItems": {}}
        unprocessed = response.setdefault("UnprocessedItems", {})
        for table, writes in held.items():
            unprocessed.setdefault(table, []).extend(writes)
        return 200, json.dumps(response).encode()

    def close(self) -> None:
        self.server.shutdown()


def add_round_trip(client: Any, seconds: float, operation: str = "BatchWriteItem") -> None:
    """Make every `operation` request of a botocore `client` wait `seconds` before it is sent, as the
    network to DynamoDB would. The wait is a sleep in the calling thread, so it costs no CPU that
    moto_server or the client itself would otherwise have (unlike a proxy in the same process)."""
    if seconds <= 0:
        return

    def wait(**_: Any) -> None:
        time.sleep(seconds)

    client.meta.events.register(f"before-send.dynamodb.{operation}", wait)
