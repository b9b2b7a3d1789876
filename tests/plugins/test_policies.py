"""The one retry policy every task has: what fails at once, what is retried."""

from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest, DataIntegrityError, OpenQuakeError, StorageError, TransientError
from hazflow.remote.errors import as_hazflow_error
from hazflow.store.aws.writer import IncompleteWriteError


def client_error(code: str, status: int):
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "BatchWriteItem"
    )


@pytest.mark.parametrize(
    "error, action",
    [
        (BadRequest("sites", "unknown"), "fail"),
        (DataIntegrityError("bad hdf5"), "fail"),
        (StorageError("no such file"), "fail"),
        (TransientError("database busy"), "retry"),
        (IncompleteWriteError("t", 3, 100, "unprocessed"), "retry"),
        (as_hazflow_error(client_error("ThrottlingException", 400), "write"), "retry"),
        (as_hazflow_error(client_error("InternalServerError", 500), "write"), "retry"),
        (as_hazflow_error(client_error("ValidationException", 400), "write"), "fail"),
        (as_hazflow_error(client_error("AccessDeniedException", 400), "write"), "fail"),
        (as_hazflow_error(client_error("ResourceNotFoundException", 400), "write"), "fail"),
        (OpenQuakeError("exit 1"), "default"),
    ],
)
def test_retry_policy(error, action):
    from hazflow_airflow.policies import RETRY_POLICY

    assert RETRY_POLICY.evaluate(error, try_number=1, max_tries=4).action.value == action
