"""Each Param schema checked against its metaschema once per process, not at every `Param.resolve`.

Airflow's `Param.resolve` validates a value with `jsonschema.validate`, which first checks the schema
itself against the JSON-schema metaschema, every time (apache/airflow#32434). Serializing a DAG
resolves every DAG param once per task (`ParamsDict.dump`): serializing hazflow's six DAGs (71 params,
31 tasks) resolved params 830 times, over 28 distinct schemas, and took 0.35 s of CPU, 0.06 s with
each schema checked once (`bench/param_checks.py`, 2026-12-07). The DAG processor pays it at every
parse, and so does every `airflow dags test`. The check is a pure function of the schema, so its
outcome is kept per (validator class, schema): a schema that passed is not checked again; one that
fails is checked (and fails) every time, as before. The value is still validated at every call, and
raises the same errors.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

logger = logging.getLogger(__name__)

MAX_SCHEMAS = 4096  # distinct schemas kept per process (hazflow's DAGs have 28); forgotten at once when full
_checked: set[tuple[type, str]] = set()
_original = jsonschema.validate


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """`jsonschema.validate` with the schema's own check done once per process for a schema that passes."""
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not JSON (jsonschema accepts any mapping): the original, unchanged
        return _original(instance, schema, cls, *args, **kwargs)
    if cls is None:
        cls = validator_for(schema)
    key = (cls, text)
    if key not in _checked:
        cls.check_schema(schema)  # SchemaError for a bad schema, at every call, as before
        if len(_checked) >= MAX_SCHEMAS:
            _checked.clear()
        _checked.add(key)
    error = best_match(cls(schema, *args, **kwargs).iter_errors(instance))
    if error is not None:
        raise error


def check_schemas_once() -> None:
    """Install `validate` as `jsonschema.validate` for this process (idempotent). Airflow's
    `Param.resolve` imports `validate` from jsonschema at each call, so it takes this one."""
    if jsonschema.validate is not validate:
        jsonschema.validate = validate
        logger.debug("jsonschema.validate checks each schema once per process")
