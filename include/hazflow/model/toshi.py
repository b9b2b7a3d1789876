"""The Toshi API, NSHM's file registry: an archive by toshi id, over HTTP with explicit time-outs.

nzshm-model's own downloader goes through `nshm_toshi_client`, which reads `NZSHM22_TOSHI_*` settings
and Cognito credentials when it is imported and sets no time-out. This client takes its URL, key and
time-out from hazflow's `Config` (`HAZFLOW_TOSHI_API_URL`, `HAZFLOW_TOSHI_API_KEY`,
`HAZFLOW_TOSHI_TIMEOUT`) and asks the same GraphQL question runzi asks (`node(id)` as a file: its
name and download URL), then fetches the file.

- The file does not exist (no node, or not a file): `ToshiNotFound` (the next place is looked in).
- The API or the download answers 5xx, is unreachable or times out: `TransientError` (retried).
- Any other error answer (4xx, GraphQL errors): `ToshiNotFound` with the answer, so the plan fails
  naming it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from hazflow.exceptions import HazflowError, TransientError

FILE_QUERY = """query file ($id: ID!) {
  node(id: $id) {
    __typename
    ... on FileInterface { file_name file_size file_url }
  }
}"""


class ToshiNotFound(HazflowError):
    """The Toshi API has no such file, or refused the question (not retried)."""


@dataclass(frozen=True)
class ToshiApi:
    """Where the Toshi API is, its key, how long one request may take and how large a file may be."""

    url: str
    api_key: str | None = None
    timeout_s: float = 30.0
    max_bytes: int = 8 << 30

    def _request(self, request: urllib.request.Request, what: str) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                data: bytes = answer.read(self.max_bytes + 1)
        except urllib.error.HTTPError as e:
            if e.code >= 500 or e.code == 429:
                raise TransientError(f"{what}: HTTP {e.code} {e.reason}") from None
            raise ToshiNotFound(f"{what}: HTTP {e.code} {e.reason}") from None
        except TimeoutError as e:
            raise TransientError(f"{what}: no answer within {self.timeout_s:g} s") from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise TransientError(f"{what}: no answer within {self.timeout_s:g} s") from e
            raise TransientError(f"{what}: unreachable ({e.reason})") from e
        if len(data) > self.max_bytes:
            raise ToshiNotFound(f"{what}: larger than {self.max_bytes:,} bytes (HAZFLOW_ARCHIVE_MAX_BYTES)")
        return data

    def file_node(self, toshi_id: str) -> dict[str, Any]:
        """The file's `file_name`, `file_size` and `file_url`."""
        body = json.dumps({"query": FILE_QUERY, "variables": {"id": toshi_id}}).encode()
        headers = {"Content-Type": "application/json", **({"x-api-key": self.api_key} if self.api_key else {})}
        raw = self._request(urllib.request.Request(self.url, body, headers, method="POST"), f"Toshi API {self.url}")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ToshiNotFound(f"Toshi API {self.url}: not a JSON answer: {raw[:200]!r}") from None
        if answer.get("errors"):
            raise ToshiNotFound(f"Toshi API {self.url}: {answer['errors']}")
        node = (answer.get("data") or {}).get("node")
        if not node or not node.get("file_url"):
            raise ToshiNotFound(f"Toshi API {self.url}: no file {toshi_id}")
        return dict(node)

    def download(self, toshi_id: str) -> bytes:
        """The bytes of the file `toshi_id` (an NRML zip)."""
        node = self.file_node(toshi_id)
        return self._request(urllib.request.Request(node["file_url"]), f"download of {node.get('file_name', toshi_id)}")
