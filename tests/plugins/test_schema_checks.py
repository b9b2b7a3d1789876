"""A param's schema is checked against the metaschema once per process (`hazflow_airflow.schema_checks`),
and everything else about validation is jsonschema's own: the same values pass, the same errors raise."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from hazflow_airflow import schema_checks

CASES = [  # (instance, schema)
    (5, {"type": "integer", "minimum": 0}),
    (-1, {"type": "integer", "minimum": 0}),
    ([400, "325"], {"type": ["null", "array"], "items": {"type": ["number", "string"], "pattern": r"^\s*\d+$"}}),
    (["x", "x"], {"type": "array", "uniqueItems": True, "minItems": 1}),
    ("SA(0.5)", {"type": "string", "pattern": r"^(PGA|SA\(\d+(\.\d+)?\))$"}),
    ("SA(x)", {"type": "string", "pattern": r"^(PGA|SA\(\d+(\.\d+)?\))$"}),
    ("NZ", {"type": "string", "enum": ["DEMO", "NSHM_v1.0.4"], "values_display": {"DEMO": "DEMO"}}),
    (0.1, {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
    (1, {"type": "nonsense"}),  # a bad schema: SchemaError
    (1, {"minimum": "zero"}),  # a bad schema: SchemaError
    ("a", {"enum": ["a", object()]}),  # not JSON: jsonschema's validate as it is
]


def outcome(validate: Any, instance: Any, schema: dict) -> tuple[str, str, list]:
    """What `validate` did: ("passed", "", []) or the error's class, message and path."""
    try:
        validate(instance, schema)
    except (jsonschema.ValidationError, jsonschema.SchemaError) as error:
        return type(error).__name__, error.message, list(error.absolute_path)
    return "passed", "", []


@pytest.fixture
def checks(monkeypatch) -> list[str]:
    """The schemas checked against the metaschema (as JSON), from an empty cache."""
    monkeypatch.setattr(schema_checks, "_checked", set())
    seen: list[str] = []
    check = jsonschema.Draft202012Validator.check_schema.__func__

    def counted(cls: Any, schema: Any, *args: Any, **kwargs: Any) -> None:
        seen.append(json.dumps(schema, sort_keys=True, default=repr))
        check(cls, schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema", classmethod(counted))
    return seen


@pytest.mark.parametrize(("instance", "schema"), CASES)
def test_each_outcome_is_jsonschemas_own_every_time(checks, instance, schema):
    expected = outcome(schema_checks._original, instance, schema)
    assert [outcome(schema_checks.validate, instance, schema) for _ in range(3)] == [expected] * 3


def test_a_schema_that_passed_is_checked_once_and_one_that_failed_every_time(checks):
    good, bad = {"type": "integer", "minimum": 0}, {"type": "nonsense"}
    for value in (1, 2, -3):
        outcome(schema_checks.validate, value, good)
        outcome(schema_checks.validate, value, dict(good))  # an equal schema, another dict
        outcome(schema_checks.validate, value, bad)
    assert checks.count(json.dumps(good, sort_keys=True)) == 1
    assert checks.count(json.dumps(bad, sort_keys=True)) == 3


def test_airflows_params_take_it_once_hazflows_params_are_imported(checks):
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamValidationError

    import hazflow_airflow.params  # noqa: F401 - installs it

    assert jsonschema.validate is schema_checks.validate
    param = Param(5, type="integer", minimum=0)
    assert [param.resolve() for _ in range(3)] == [5, 5, 5]
    with pytest.raises(ParamValidationError, match="-1 is less than the minimum of 0"):
        param.resolve(-1)
    assert len(checks) == 1


@pytest.mark.airflow  # parses the DAG folder
def test_every_dag_serializes_the_same_with_either(monkeypatch):
    """The DAG processor's serialization of hazflow's DAGs, value by value, with jsonschema's validate
    and with the one that checks each schema once."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from hazflow.config import PROJECT_ROOT

    bag = DagBag(str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors and len(bag.dags) == 6
    serialized = {}
    for validate in (schema_checks._original, schema_checks.validate):
        monkeypatch.setattr(jsonschema, "validate", validate)
        monkeypatch.setattr(schema_checks, "_checked", set())
        serialized[validate] = json.dumps([DagSerialization.to_dict(d) for _, d in sorted(bag.dags.items())], default=str)
    assert serialized[schema_checks._original] == serialized[schema_checks.validate]
