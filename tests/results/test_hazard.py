"""The Hazard view's numbers, read from each store backend: curves as stored, levels and spectra as
`plan.imtl` reads them, CSV as the JSON, and bad values refused by field."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from hazflow.exceptions import BadRequest
from hazflow.plan.imtl import level_at_poe
from hazflow.results.hazard import (
    NothingStored,
    SiteQuery,
    curves_csv,
    hazard_curves,
    period_s,
    spectra_csv,
    uniform_hazard_spectra,
)
from hazflow.store import HazardAggregate

WLG = "-41.300~174.780"
LEVELS = np.geomspace(1e-3, 5.0, 30)
IMTS = ("PGA", "SA(0.1)", "SA(0.2)", "SA(0.5)", "SA(1.0)", "SA(2.0)", "SA(3.0)", "PGV")  # PGV is off the spectrum
AGGS = ("mean", "0.1", "0.5", "0.9", "std")


def curve(imt: str, agg: str) -> np.ndarray:
    """A decreasing annual PoE curve, its own at each IMT and statistic."""
    scale = {"PGA": 0.3, "PGV": 0.2}.get(imt) or 0.4 / (1 + period_s(imt))
    factor = {"mean": 1.0, "0.1": 0.4, "0.5": 0.9, "0.9": 2.2, "std": 0.5}[agg]
    return 0.1 * factor * np.exp(-LEVELS / (0.1 * scale))


@pytest.fixture(scope="module")
def stored(module_store):
    module_store.put_hazard_aggregates(
        [
            HazardAggregate("DEMO", WLG, 400.0, imt, agg, LEVELS, curve(imt, agg), '{"from": "test"}')
            for imt in IMTS
            for agg in AGGS
        ]
    )
    return module_store


def test_curves_are_the_stored_statistics_with_the_mean_levels_at_each_poe(stored):
    query = SiteQuery.parse("DEMO", "WLG", "400", ["0.1", "0.02", "0.9999"], ["0.1", "0.9"])
    payload = hazard_curves(stored, query, "SA(0.5)")
    assert (payload["site"], payload["site_code"], payload["imt"], payload["band"]) == ("WLG", WLG, "SA(0.5)", ["0.1", "0.9"])
    assert payload["levels"] == LEVELS.tolist()
    for agg in AGGS:
        np.testing.assert_allclose(payload["curves"][agg], curve("SA(0.5)", agg), rtol=1e-6)  # float32 in the aws store
    mean = np.asarray(payload["curves"]["mean"])
    assert payload["levels_at_poes"][:2] == [level_at_poe(LEVELS, mean, 0.1), level_at_poe(LEVELS, mean, 0.02)]
    assert payload["levels_at_poes"][2] is None  # annual 0.17: above the curve, which starts at 0.1
    assert payload["provenance"] == '{"from": "test"}'


def test_the_spectra_run_over_pga_and_every_stored_sa_period_in_order(stored):
    query = SiteQuery.parse("DEMO", "-41.3~174.78", 400)
    payload = uniform_hazard_spectra(stored, query)
    assert payload["imts"] == ["PGA", "SA(0.1)", "SA(0.2)", "SA(0.5)", "SA(1.0)", "SA(2.0)", "SA(3.0)"]
    assert payload["periods"] == [0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0]
    for i, poe in enumerate(query.poes):
        for j, imt in enumerate(payload["imts"]):
            mean = hazard_curves(stored, query, imt)["curves"]["mean"]
            assert payload["spectra"][i][j] == level_at_poe(LEVELS, np.asarray(mean), poe)


def test_the_csv_files_hold_the_numbers_of_the_json(stored):
    query = SiteQuery.parse("DEMO", "WLG", 400)
    curves = hazard_curves(stored, query, "PGA")
    rows = list(csv.DictReader(io.StringIO(curves_csv(curves))))
    assert [float(r["level_g"]) for r in rows] == curves["levels"]
    assert [float(r["apoe_0.9"]) for r in rows] == curves["curves"]["0.9"]
    spectra = uniform_hazard_spectra(stored, query)
    rows = list(csv.DictReader(io.StringIO(spectra_csv(spectra))))
    assert [r["imt"] for r in rows] == spectra["imts"]
    assert [float(r["level_g_poe0.02_in_50yr"]) for r in rows] == spectra["spectra"][1]


@pytest.mark.parametrize(
    "args, field",
    [(("", "WLG", 400), "model"), (("DEMO", "ATLANTIS", 400), "site"), (("DEMO", "WLG", "fast"), "vs30"),
     (("DEMO", "WLG", -1), "vs30"), (("DEMO", "WLG", "nan"), "vs30"), (("DEMO", "WLG", 400, ["1.5"]), "poes"),
     (("DEMO", "WLG", 400, ["often"]), "poes"), (("DEMO", "WLG", 400, None, ["0.1", "1"]), "band")],
)  # fmt: skip
def test_a_bad_value_is_refused_naming_its_field(args, field):
    with pytest.raises(BadRequest) as e:
        SiteQuery.parse(*args)
    assert e.value.field == field


def test_nothing_stored_says_what_to_run(stored):
    with pytest.raises(NothingStored, match="run hazard_aggregation"):
        hazard_curves(stored, SiteQuery.parse("DEMO", "AKL", 400), "PGA")
    with pytest.raises(NothingStored):
        uniform_hazard_spectra(stored, SiteQuery.parse("DEMO", "WLG", 750))
