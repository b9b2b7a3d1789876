"""The deployment's first retry delay (HAZFLOW_RETRY_DELAY): read, defaulted and refused by name."""

from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.retries import DEFAULT_RETRY_DELAY_S, first_retry_delay_s


@pytest.mark.parametrize("env, seconds", [({}, DEFAULT_RETRY_DELAY_S), ({"HAZFLOW_RETRY_DELAY": " "}, 30.0),
                                          ({"HAZFLOW_RETRY_DELAY": "2"}, 2.0), ({"HAZFLOW_RETRY_DELAY": "600"}, 600.0)])  # fmt: skip
def test_the_delay_is_the_settings_or_thirty_seconds(env, seconds):
    assert first_retry_delay_s(env) == seconds


@pytest.mark.parametrize("raw", ["soon", "0", "-5", "601", "nan", "inf"])
def test_a_delay_out_of_range_is_refused_naming_the_variable(raw):
    with pytest.raises(BadRequest, match="HAZFLOW_RETRY_DELAY"):
        first_retry_delay_s({"HAZFLOW_RETRY_DELAY": raw})
