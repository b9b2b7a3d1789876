"""Limits checked before compute, naming the field, the value and the limit: sampled composites (1e9
was killed for memory after about 80 s) and an extract's max_sites (no maximum before)."""

from __future__ import annotations

import pytest

from hazflow.aggregate.methods import MAX_SAMPLES, MIN_SAMPLES
from hazflow.cli import main
from hazflow.exceptions import BadRequest
from hazflow.extract.request import AreaRequest
from hazflow.plan.request import DisaggAggregationRequest
from tests.extract.conftest import AREA

BASE = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]}


@pytest.mark.parametrize("samples", [MIN_SAMPLES - 1, MAX_SAMPLES + 1, 10**9])
def test_samples_outside_the_limits_are_refused(samples):
    with pytest.raises(BadRequest, match=f"samples: {samples} is outside \\[{MIN_SAMPLES}, {MAX_SAMPLES}\\]"):
        DisaggAggregationRequest.parse(BASE | {"samples": samples})


@pytest.mark.parametrize("samples", [MIN_SAMPLES, MAX_SAMPLES])
def test_the_limits_are_inclusive(samples):
    assert DisaggAggregationRequest.parse(BASE | {"samples": samples}).samples == samples


def test_the_command_line_refuses_a_billion_samples_at_once(config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(["aggregate-disagg", "--quantile-method", "sampling", "--samples", "1000000000"]) == 2
    assert "samples: 1000000000 is outside [100, 1000000]" in capsys.readouterr().err
    assert not config.store_root.exists()  # refused before reading anything, not killed for memory


def test_an_extracts_max_sites_has_a_maximum():
    with pytest.raises(BadRequest, match=r"max_sites: 1000000 is outside \[1, 50000\]"):
        AreaRequest.parse(AREA | {"max_sites": 1_000_000})
    assert AreaRequest.parse(AREA | {"max_sites": 50_000}).max_sites == 50_000
