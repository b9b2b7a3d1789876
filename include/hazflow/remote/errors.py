"""Which AWS errors pass with time (retry) and which never will (fail at once).

DynamoDB throttling and 5xx arrive as botocore `ClientError`s, lost connections and timeouts as
other botocore exceptions. Transient ones become `TransientError`, which the Airflow retry policy
retries with backoff; permanent ones (validation, access denied, a missing table or bucket)
become `StorageError`, which it fails at once.
"""

from __future__ import annotations

from hazflow.exceptions import StorageError, TransientError

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "TransactionInProgressException",
    }
)
PERMANENT_CODES = frozenset(
    {
        "ValidationException",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "ResourceNotFoundException",
        "NoSuchBucket",
        "NoSuchKey",
        "ConditionalCheckFailedException",
        "ItemCollectionSizeLimitExceededException",
    }
)
# botocore exceptions (by class name, so this module does not import botocore) that are transient
TRANSIENT_CLASSES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionError",
        "ProxyConnectionError",
        "HTTPClientError",
    }
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (`""` for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0) if isinstance(response, dict) else 0


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx, lost connections and timeouts; never validation, access or missing resources."""
    code = error_code(exc)
    if code in PERMANENT_CODES:
        return False
    if code in TRANSIENT_CODES or http_status(exc) >= 500:
        return True
    return any(cls.__name__ in TRANSIENT_CLASSES for cls in type(exc).__mro__)


def as_hazflow_error(exc: BaseException, doing: str) -> TransientError | StorageError:
    """Wrap an AWS error for the retry policy: what was being done, the code, and whether it may pass."""
    code = error_code(exc) or type(exc).__name__
    if is_transient(exc):
        return TransientError(f"{doing}: {code} (transient, retried): {exc}")
    return StorageError(f"{doing}: {code} (permanent, not retried): {exc}")
