"""A Toshi API stand-in on 127.0.0.1: answers the GraphQL file question and serves the files, or
fails as a real one can (an HTTP error, no answer in time), as the test says."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ToshiStandIn:
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # toshi id -> (file name, bytes)
    status: int = 200  # what the GraphQL endpoint answers with
    delay_s: float = 0.0  # before answering
    requests: list[str] = field(default_factory=list)
    url: str = ""


@contextmanager
def toshi_api() -> Iterator[ToshiStandIn]:
    state = ToshiStandIn()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (the time-out test)
                pass

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(f"POST {body['variables']['id']} key={self.headers.get('x-api-key')}")
            time.sleep(state.delay_s)
            if state.status != 200:
                self._send(state.status, b'{"message": "failed"}')
                return
            toshi_id = body["variables"]["id"]
            if toshi_id not in state.files:
                self._send(200, json.dumps({"data": {"node": None}}).encode())
                return
            name, data = state.files[toshi_id]
            node = {"__typename": "File", "file_name": name, "file_size": len(data), "file_url": f"{state.url}/files/{toshi_id}"}
            self._send(200, json.dumps({"data": {"node": node}}).encode())

        def do_GET(self) -> None:  # noqa: N802
            toshi_id = self.path.removeprefix("/files/")
            state.requests.append(f"GET {toshi_id}")
            self._send(200, state.files[toshi_id][1], "application/zip")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
