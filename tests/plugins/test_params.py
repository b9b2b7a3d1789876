"""The DAGs' Params (`hazflow_airflow.params`) offer the domain's own defaults."""

from __future__ import annotations

from hazflow.aggregate.engine import aggregate


def test_dag_default_quantiles_are_the_engine_defaults():
    import inspect

    from hazflow.model.nshm import DEFAULT_QUANTILES
    from hazflow_airflow.params import quantiles_param

    assert quantiles_param().value == list(DEFAULT_QUANTILES)
    assert inspect.signature(aggregate).parameters["quantiles"].default == DEFAULT_QUANTILES
