"""The results views only read: each test module fills one store per backend once, and its tests
read it (an aws store on moto_server costs a second or two to create)."""

from __future__ import annotations

import uuid

import pytest

from hazflow.store import open_store
from tests.support.moto_server import DUMMY_CREDENTIALS


@pytest.fixture(scope="module", params=["local", "aws"])
def module_store(request, tmp_path_factory):
    """Each backend, empty, for the module: `local` in a temp folder, `aws` on the session's moto_server."""
    root = tmp_path_factory.mktemp("results")
    if request.param == "local":
        yield open_store("local", str(root / "store"))
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    with pytest.MonkeyPatch.context() as env:
        for name, value in DUMMY_CREDENTIALS.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        stage = f"t{uuid.uuid4().hex[:10]}"
        yield open_store("aws", f"s3://{stage}-bucket/hazflow", stage=stage, endpoint_url=endpoint, cache=root / "cache")
