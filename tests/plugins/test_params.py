"""The DAGs' Params (`hazflow_airflow.params`) offer the domain's own defaults."""

from __future__ import annotations

from hazflow.aggregate.engine import aggregate


def test_dag_default_quantiles_are_the_engine_defaults():
    import inspect

    from hazflow.model.nshm import DEFAULT_QUANTILES
    from hazflow_airflow.params import quantiles_param

    assert quantiles_param().value == list(DEFAULT_QUANTILES)
    assert inspect.signature(aggregate).parameters["quantiles"].default == DEFAULT_QUANTILES


def test_the_forms_limits_are_the_requests():
    """The trigger form's minimum and maximum for samples and max_sites agree with the request parsers."""
    from hazflow.aggregate.methods import MAX_SAMPLES, MIN_SAMPLES
    from hazflow.limits import Limits
    from hazflow_airflow.params import area_params, samples_param

    assert (samples_param().schema["minimum"], samples_param().schema["maximum"]) == (MIN_SAMPLES, MAX_SAMPLES)
    assert area_params()["max_sites"].schema["maximum"] == Limits.extract_sites
