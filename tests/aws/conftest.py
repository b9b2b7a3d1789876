"""A real moto_server on 127.0.0.1 (DynamoDB and S3 over HTTP), and a fault-injecting proxy in front of it."""

from __future__ import annotations

import pytest

from hazflow.aws.moto_server import DUMMY_CREDENTIALS, FaultProxy, moto_server


@pytest.fixture(scope="session")
def moto_endpoint():
    """`moto_server` started for the session; its URL. No test touches real AWS."""
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def fault_proxy(moto_endpoint):
    proxies = []

    def make(unprocessed: float = 0.25, failures: float = 0.08, seed: int = 7) -> FaultProxy:
        proxies.append(FaultProxy(moto_endpoint, unprocessed, failures, seed))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()
