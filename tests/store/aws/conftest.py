"""A fault-injecting proxy in front of the session's moto_server (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.fault_proxy import FaultProxy


@pytest.fixture(autouse=True)
def _credentials(fake_credentials):
    pass


@pytest.fixture
def fault_proxy(moto_endpoint):
    proxies = []

    def make(unprocessed: float = 0.25, failures: float = 0.08, seed: int = 7) -> FaultProxy:
        proxies.append(FaultProxy(moto_endpoint, unprocessed, failures, seed))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()
