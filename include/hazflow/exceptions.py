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


# The closed set of classes a failure keeps across a process boundary (a worker's manifest, an ECS
# task), most severe first: the least retryable decides what the retry policy sees for a batch.
BOUNDARY_CLASSES: tuple[type[HazflowError], ...] = (
    DataIntegrityError,
    BadRequest,
    DeploymentError,
    StorageError,
    OpenQuakeError,
    TransientError,
)
_BY_NAME = {cls.__name__: cls for cls in BOUNDARY_CLASSES}


def boundary_class(error: BaseException) -> str:
    """The name of the class `error` crosses a process boundary as: the first of `BOUNDARY_CLASSES` it
    is an instance of (`IncompleteWriteError` is a `TransientError`); anything else failed inside
    OpenQuake's run and is an `OpenQuakeError`."""
    for cls in BOUNDARY_CLASSES:
        if isinstance(error, cls):
            return cls.__name__
    return OpenQuakeError.__name__


def most_severe(names: list[str]) -> str:
    """Of the class names of a batch's failures, the one the batch fails as (see `BOUNDARY_CLASSES`);
    a name outside the set comes first (`rebuild` makes it a `DataIntegrityError`)."""
    return min(names, key=lambda name: BOUNDARY_CLASSES.index(_BY_NAME[name]) if name in _BY_NAME else -1)


def rebuild(name: str, message: str, log_tail: str = "", where: str = "failures") -> HazflowError:
    """The error of class `name` (one of `BOUNDARY_CLASSES`) with `message`; a name outside the set is
    a `DataIntegrityError` naming `where` (a manifest from another hazflow must not pass as retried)."""
    cls = _BY_NAME.get(name)
    if cls is None:
        return DataIntegrityError(f"{where}: unknown error class {name!r} (known: {', '.join(_BY_NAME)}): {message}")
    if cls is OpenQuakeError:
        return OpenQuakeError(message, log_tail)
    if cls is BadRequest:
        return BadRequest(where, message)
    return cls(message)
