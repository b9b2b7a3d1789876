"""One small exception hierarchy for the whole domain.

Airflow retry policies key on these classes: `BadRequest` and `DataIntegrityError` fail at once,
`TransientError` is retried with backoff.
"""

from __future__ import annotations


class HazflowError(Exception):
    """Base of every error hazflow raises on purpose."""


class BadRequest(HazflowError, ValueError):
    """The request is wrong (unknown site, IMT, leaf, ...). Never retried.

    `field` names the request field at fault so forms and logs can point at it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DataIntegrityError(HazflowError):
    """Stored or produced data is not what it must be (e.g. a file that is not a datastore)."""


class OpenQuakeError(HazflowError):
    """An OpenQuake run failed; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message, log_tail)
        self.message = message
        self.log_tail = log_tail

    def __str__(self) -> str:
        if not self.log_tail:
            return self.message
        return f"{self.message}\n--- tail of the OpenQuake log ---\n{self.log_tail}"


class StorageError(HazflowError):
    """A store operation failed permanently (the cause is chained)."""


class TransientError(HazflowError):
    """A failure that is expected to pass (throttling, a busy database): retry with backoff."""


class DeploymentError(HazflowError):
    """The deployment is wrong (an ECS cluster or task definition that does not exist, access
    denied, a runner the store cannot serve). Retrying cannot fix it: never retried."""
