"""A real moto_server on 127.0.0.1 (DynamoDB and S3 over HTTP), and a fault-injecting proxy in front of it."""

from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hazflow.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """`moto_server` started for the session; its URL. No test touches real AWS."""
    port = free_port()
    proc = subprocess.Popen(
        [str(PROJECT_ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


class FaultProxy:
    """Between a client and moto_server: for BatchWriteItem, fails a share of requests with 500 or
    ThrottlingException (nothing forwarded) and holds back a share of the items of the others,
    returning them as UnprocessedItems. Everything else passes through."""

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


@pytest.fixture
def fault_proxy(moto_endpoint):
    proxies = []

    def make(unprocessed: float = 0.25, failures: float = 0.08, seed: int = 7) -> FaultProxy:
        proxies.append(FaultProxy(moto_endpoint, unprocessed, failures, seed))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()
