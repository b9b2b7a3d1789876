"""One input, one key: two inputs that the keys (AWS items, bundle names, the rendered site model,
a target's PoE name) would write alike are refused, the second named, and nothing is written.

Each case plants the collision the review found: VS30 400.0001 keyed (and computed) as 400; PoEs equal
at the 6 significant digits of their keys; `PGA` and `pga`; `--imls PGA=0.2 PGA=0.5` (the second
dropped); two IML levels whose targets read as one PoE on the mean curve (rows overwriting each
other while the ledger recorded both)."""

from __future__ import annotations

import numpy as np
import pytest

from hazflow.cli import main
from hazflow.exceptions import BadRequest
from hazflow.extract.site_model import parse_site_model
from hazflow.plan.disagg import plan_disagg
from hazflow.plan.fields import validate_quantiles
from hazflow.plan.request import DisaggRequest, HazardRequest
from hazflow.store import HazardAggregate
from tests.extract.conftest import PROVENANCE

BASE = {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["SLAB-1"]}


@pytest.mark.parametrize(
    "fields, message",
    [({"vs30s": [400, 400.0001]}, "vs30s: VS30 is whole m/s (as NSHM and toshi-hazard-store key it), got 400.0001"),
     ({"vs30s": [float("inf")]}, "vs30s: VS30 must be a finite number in m/s, got inf"),
     ({"vs30s": [float("nan")]}, "vs30s: VS30 must be a finite number in m/s, got nan"),
     ({"imts": ["PGA", "pga"]}, "imts: duplicate value(s): PGA"),
     ({"imts": ["SA(1)", "SA(1.0)"]}, "imts: duplicate value(s): SA(1.0)")],
    ids=["vs30-fraction", "vs30-inf", "vs30-nan", "pga-case", "sa-spelling"],
)  # fmt: skip
def test_hazard_inputs_that_would_share_a_key_are_refused(fields, message):
    with pytest.raises(BadRequest) as e:
        HazardRequest.parse(BASE | fields)
    assert message in str(e.value)


@pytest.mark.parametrize(
    "fields, message",
    [({"poes": [0.1, 0.1000001]}, "poes: a PoE has at most 6 significant digits (keys name it so), got 0.1000001"),
     ({"poes": [1 / 3]}, "poes: a PoE has at most 6 significant digits"),
     ({"poes": None, "imls": {"PGA": 0.2, "pga": 0.5}}, "imls: PGA given twice (as 'PGA' and 'pga')")],
    ids=["poe-digits", "poe-third", "imls-case"],
)  # fmt: skip
def test_disaggregation_inputs_that_would_share_a_key_are_refused(fields, message):
    with pytest.raises(BadRequest) as e:
        DisaggRequest.parse(BASE | {"poes": [0.1]} | fields)
    assert message in str(e.value)


def test_quantiles_named_alike_are_refused():
    with pytest.raises(BadRequest, match="quantiles: a quantile has at most 6 significant digits"):
        validate_quantiles([0.5, 0.50000001])


@pytest.mark.parametrize(
    "argv, message",
    [(["plan", "--imls", "PGA=0.2", "PGA=0.5", "--imts", "PGA", "--without-levels"], "imls: PGA given twice"),
     (["plan", "--imls", "PGA=0.2", "pga=0.5", "--imts", "PGA", "--without-levels"], "imls: PGA given twice"),
     (["plan-hazard", "--vs30s", "400.5"], "vs30s: VS30 is whole m/s")],
    ids=["imls-repeated", "imls-case", "vs30"],
)  # fmt: skip
def test_the_command_line_refuses_a_repeated_input_instead_of_dropping_it(argv, message, config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not config.store_root.exists()


def test_two_iml_levels_read_as_one_poe_are_refused_at_plan(config, demo):
    """In IML mode a target is named by the PoE the mean curve gives its level (6 significant digits):
    two levels that close would be one target, each run overwriting the other's rows."""
    store = config.open_store()
    levels = np.asarray(demo.settings.levels)
    store.put_hazard_aggregates(
        [HazardAggregate("DEMO", "-41.300~174.780", 400.0, "PGA", "mean", levels, 0.05 * np.exp(-levels / 0.08), PROVENANCE)]
    )
    apart = DisaggRequest.parse(BASE | {"poes": None, "imls": {"PGA": [0.2, 0.3]}})
    assert plan_disagg(apart, store, "3.26.2").jobs == 2
    close = DisaggRequest.parse(BASE | {"poes": None, "imls": {"PGA": [0.2, 0.200000001]}})
    with pytest.raises(BadRequest, match=r"imls: PGA levels 0.2 and 0.2 g both read as PoE [0-9.e-]+ in 50 years"):
        plan_disagg(close, store, "3.26.2")
    assert store.ledger_list() == []


@pytest.mark.parametrize(
    "text, message",
    [("lon,lat,vs30\n174.7,-41.3,400\n174.8,-41.3,400.0001\n", "site_model: line 3: VS30 is whole m/s"),
     ("lon,lat,vs30\n174.7,-41.3,inf\n", "site_model: line 2: lon, lat and vs30 must be finite")],
    ids=["fraction", "inf"],
)  # fmt: skip
def test_a_site_model_row_with_a_fractional_vs30_is_refused_naming_its_line(text, message):
    with pytest.raises(BadRequest) as e:
        parse_site_model(text)
    assert message in str(e.value)
