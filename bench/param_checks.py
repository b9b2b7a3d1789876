"""Benchmark: the CPU of serializing hazflow's DAGs, as the DAG processor and every `airflow dags test`
do at each parse, with jsonschema's own `validate` (each param's schema checked against the metaschema
at every `Param.resolve`) against `hazflow_airflow.schema_checks` (checked once per process), in
alternating rounds of the same run.

    .venv/bin/python bench/param_checks.py [--rounds 5]

The DAG folder is parsed once (`DagBag`); each round serializes every DAG (`DagSerialization.to_dict`,
what `sync_bag_to_db` calls per DAG) with one form, the `once` form from an empty cache, as a freshly
started parse process would. Prints `key: value` lines:

- `dags`, `params`, `tasks`: what is serialized (params summed over the DAGs);
- `resolves_per_round`: `Param.resolve` calls in one round;
- `metaschema_checks_per_round_<form>`: the schema checks in one round;
- `<form>_cpu_s`: the median round's CPU seconds (this process's);
- `cpu_ratio`: `once` over `jsonschema` (below 1: checking once spends less);
- `same_serialization`: whether every round of both forms produced the same JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from typing import Any

from hazflow.config import PROJECT_ROOT

logger = logging.getLogger("bench.param_checks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each form, alternating (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

    import jsonschema
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.param import Param
    from airflow.serialization.serialized_objects import DagSerialization

    from hazflow_airflow import schema_checks

    bag = DagBag(str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    dags = sorted(bag.dags.values(), key=lambda d: d.dag_id)
    counts = {"resolve": 0, "check": 0}
    resolve, check_schema = Param.resolve, jsonschema.Draft202012Validator.check_schema.__func__

    def counted_resolve(self: Param, *a: Any, **k: Any) -> Any:
        counts["resolve"] += 1
        return resolve(self, *a, **k)

    def counted_check(cls: Any, *a: Any, **k: Any) -> None:
        counts["check"] += 1
        return check_schema(cls, *a, **k)

    forms = {"jsonschema": schema_checks._original, "once": schema_checks.validate}
    seconds: dict[str, list[float]] = {form: [] for form in forms}
    checks: dict[str, int] = {}
    outputs: set[str] = set()
    for _ in range(args.rounds):
        for form, validate in forms.items():
            jsonschema.validate = validate
            schema_checks._checked.clear()  # a fresh parse process's cache
            start = time.process_time()
            serialized = [DagSerialization.to_dict(dag) for dag in dags]
            seconds[form].append(time.process_time() - start)
            outputs.add(json.dumps(serialized, sort_keys=True, default=str))
    # the counts, in a round of each form of their own (counting costs time)
    Param.resolve = counted_resolve  # type: ignore[method-assign]
    jsonschema.Draft202012Validator.check_schema = classmethod(counted_check)  # type: ignore[method-assign,assignment]
    for form, validate in forms.items():
        jsonschema.validate = validate
        schema_checks._checked.clear()
        counts.update(resolve=0, check=0)
        for dag in dags:
            DagSerialization.to_dict(dag)
        checks[form] = counts["check"]
    print(f"dags: {len(dags)}")
    print(f"params: {sum(len(d.params) for d in dags)}")
    print(f"tasks: {sum(len(d.tasks) for d in dags)}")
    print(f"resolves_per_round: {counts['resolve']}")
    for form in forms:
        print(f"metaschema_checks_per_round_{form}: {checks[form]}")
    for form in forms:
        print(f"{form}_cpu_s: {statistics.median(seconds[form]):.3f}")
    print(f"cpu_ratio: {statistics.median(seconds['once']) / statistics.median(seconds['jsonschema']):.3f}")
    print(f"same_serialization: {str(len(outputs) == 1).lower()}")


if __name__ == "__main__":
    main()
