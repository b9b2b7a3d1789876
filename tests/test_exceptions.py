"""Every hazflow error survives a process boundary with its class: pickled (Airflow, executors) and
by name (a worker's manifest), the most severe class deciding for a batch."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import pytest

import hazflow
from hazflow.exceptions import (
    BOUNDARY_CLASSES,
    BadRequest,
    DataIntegrityError,
    DeploymentError,
    HazflowError,
    OpenQuakeError,
    StorageError,
    TransientError,
    boundary_class,
    most_severe,
    rebuild,
)


def every_error_class() -> list[type[HazflowError]]:
    """HazflowError and all its subclasses anywhere in the package (every module imported)."""
    for module in pkgutil.walk_packages(hazflow.__path__, "hazflow."):
        if module.name != "hazflow.__main__":
            importlib.import_module(module.name)
    found, todo = [], [HazflowError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def example(cls: type[HazflowError]) -> HazflowError:
    """An instance built the way its constructor asks: a text or a number for each parameter."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return cls("something went wrong")
    values = {"int": 7, "float": 2.5}
    args = [values.get(str(p.annotation), f"{p.name} value") for p in params if p.default is p.empty]
    return cls(*args)


ERRORS = every_error_class()


def test_the_package_has_the_error_classes_it_documents():
    names = {c.__name__ for c in ERRORS}
    assert {"HazflowError", "IncompleteWriteError", "MissingRealizations"} | {c.__name__ for c in BOUNDARY_CLASSES} <= names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_class_pickles_with_its_message_and_fields(cls):
    error = example(cls)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls and str(again) == str(error) and again.args == error.args
    assert vars(again) == vars(error)


@pytest.mark.parametrize(
    "error, name",
    [
        (DataIntegrityError("x"), "DataIntegrityError"),
        (BadRequest("sites", "x"), "BadRequest"),
        (DeploymentError("x"), "DeploymentError"),
        (StorageError("x"), "StorageError"),
        (OpenQuakeError("x", "tail"), "OpenQuakeError"),
        (TransientError("x"), "TransientError"),
        (example(next(c for c in ERRORS if c.__name__ == "IncompleteWriteError")), "TransientError"),
        (example(next(c for c in ERRORS if c.__name__ == "MissingRealizations")), "BadRequest"),
        (ValueError("not ours"), "OpenQuakeError"),
    ],
)
def test_an_error_crosses_as_its_nearest_boundary_class(error, name):
    assert boundary_class(error) == name
    rebuilt = rebuild(name, "message", "tail")
    assert type(rebuilt).__name__ == name and "message" in str(rebuilt)


@pytest.mark.parametrize(
    "names, worst",
    [
        (["TransientError", "OpenQuakeError"], "OpenQuakeError"),
        (["TransientError", "DataIntegrityError", "OpenQuakeError"], "DataIntegrityError"),
        (["StorageError", "DeploymentError"], "DeploymentError"),
        (["TransientError"], "TransientError"),
        (["BadRequest", "DataIntegrityError"], "DataIntegrityError"),
        (["TransientError", "KeyboardInterrupt"], "KeyboardInterrupt"),
    ],
)
def test_a_batch_fails_as_its_most_severe_class(names, worst):
    assert most_severe(names) == worst


def test_an_unknown_class_name_is_a_data_integrity_error_naming_where_it_came_from():
    error = rebuild("KeyboardInterrupt", "x", where="s3://b/batches/p/0001.result.json")
    assert isinstance(error, DataIntegrityError)
    assert "s3://b/batches/p/0001.result.json: unknown error class 'KeyboardInterrupt'" in str(error)
