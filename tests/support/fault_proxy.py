"""Faults DynamoDB has and moto_server does not: a proxy that fails and throttles BatchWriteItem
requests and holds back items as UnprocessedItems, and a modelled network round trip.

Nothing here talks to real AWS: the upstream is a moto_server on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


class OutageProxy:
    """Between the whole of hazflow (S3, DynamoDB) and moto_server: passes everything through, except
    that while `down` is set every DynamoDB request is answered 500 InternalServerError (a regional
    DynamoDB outage, which outlasts botocore's own retries). S3 still answers, so a worker can still
    write its manifest."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.down = threading.Event()
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                if proxy.down.is_set() and self.headers.get("X-Amz-Target", "").startswith("DynamoDB_"):
                    proxy.refused += 1
                    status, payload = (
                        500,
                        json.dumps(
                            {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "outage (injected)"}
                        ).encode(),
                    )
                    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amz-crc32": str(zlib.crc32(payload))}
                else:
                    status, headers, payload = proxy.forward(self.command, self.path, body, dict(self.headers))
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in {"content-length", "transfer-encoding", "connection", "server", "date"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815 - http.server's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        headers = {k: v for k, v in headers.items() if k.lower() not in {"host", "content-length", "connection"}}
        conn.request(method, path, body=body if method not in {"GET", "HEAD"} or body else None, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), payload

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
