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


def test_the_forms_show_the_deployments_limits(monkeypatch):
    """A deployment that sets HAZFLOW_LIMIT_* (in the dag-processor's environment as in the workers')
    gets forms with the same maxima as the tasks check."""
    from hazflow_airflow.params import area_params, batch_cap_param, samples_param

    monkeypatch.setenv("HAZFLOW_LIMIT_SAMPLES", "5000000")
    monkeypatch.setenv("HAZFLOW_LIMIT_EXTRACT_SITES", "100")
    monkeypatch.setenv("HAZFLOW_LIMIT_MAP_LENGTH", "300")
    assert samples_param().schema["maximum"] == 5_000_000
    assert (area_params()["max_sites"].value, area_params()["max_sites"].schema["maximum"]) == (100, 100)
    cap = batch_cap_param()
    assert (cap.value, cap.schema["maximum"]) == (300, 300)
