"""toshi-hazard-store 2.x parquet: written hive-partitioned, read back with THS's schema, values equal
and in C order; reruns never duplicate rows; hazard curves read back by hazflow's own THS reader."""

from __future__ import annotations

import numpy as np
import pytest

from hazflow.export import ths
from hazflow.export.request import export_request
from hazflow.plan.ths import ThsHazardCurves
from tests.export.conftest import PARAMS


@pytest.mark.parametrize("poe, name", [(0.1, "_10_PCT_IN_50YRS"), (0.02, "_2_PCT_IN_50YRS"), (0.025, "_2_5_PCT_IN_50YRS")])
def test_probability_names_are_ths_enum_names(poe, name):
    assert ths.probability_name(poe) == name


def test_disagg_aggregates_round_trip_with_ths_schema(exported_store, tmp_path):
    store, site, aggregates, _ = exported_store
    rows = ths.disagg_aggregate_rows(aggregates, "calc")
    for _ in range(2):  # a rerun rewrites the same files
        files = ths.write_dataset(rows, ths.disagg_aggregate_schema(), tmp_path / "ds", ths.DISAGG_PARTITIONS, ths.DISAGG_KEY)
    digest = rows[0]["bins_digest"]
    assert all(f"bins_digest={digest}/vs30=400/nloc_0=-41.0~175.0" in str(f) for f in files)
    table = ths.read_dataset(tmp_path / "ds", ths.disagg_aggregate_schema())
    assert table.schema == ths.disagg_aggregate_schema() and table.num_rows == len(aggregates)
    by_agg = {a.agg: a for a in aggregates}
    for row in table.to_pylist():
        a = by_agg[row["aggr"]]
        bins = dict(row["disagg_bins"])
        assert list(bins) == ["TRT", "Mag", "Dist", "Eps"] and bins["TRT"] == list(a.trts)
        shape = tuple(len(v) for v in bins.values())
        values = np.asarray(row["disagg_values"], dtype=np.float32).reshape(shape)  # C order
        np.testing.assert_array_equal(values, a.values.astype(np.float32))
        assert (row["nloc_001"], row["vs30"], row["imt"], row["target_aggr"], row["probability"]) == (
            site.code, 400, "PGA", "mean", "_10_PCT_IN_50YRS")  # fmt: skip
        assert row["imtl"] == pytest.approx(a.iml, rel=1e-7) and row["bins_digest"] == digest


def test_bins_digest_tells_which_disaggregations_combine():
    edges = {"Mag": np.array([5.0, 6.0]), "Dist": np.array([0.0, 10.0]), "Eps": np.array([-1.0, 1.0])}
    a = ths.disagg_bins(("TRT", "Mag", "Dist", "Eps"), ("Crust",), edges)
    b = ths.disagg_bins(("TRT", "Mag", "Dist", "Eps"), ("Crust",), edges | {"Dist": np.array([0.0, 20.0])})
    assert ths.bins_digest(a) == ths.bins_digest(dict(a)) != ths.bins_digest(b) and len(ths.bins_digest(a)) == 16


def test_an_export_of_the_request_reads_back_everywhere(exported_store, config, demo, tmp_path):
    store, site, aggregates, _ = exported_store
    out = tmp_path / "out"
    first = export_request(PARAMS, config, out)
    again = export_request(PARAMS, config, out)
    assert first == again and first.targets == 1 and len(first.json) == len(first.csv) == 1
    rlz = ths.read_dataset(out / "ths" / "disagg_realizations", ths.disagg_realization_schema())
    stored = store.get_disagg_realizations("DEMO", site.code, 400.0, "PGA", 0.1)
    assert rlz.num_rows == len(stored) == 15  # no duplicates after the rerun
    by_rlz = {f"{r.leaf}:{r.gmm}": r for r in stored}
    for row in rlz.to_pylist():
        np.testing.assert_array_equal(
            np.asarray(row["disagg_values"], np.float32), by_rlz[row["rlz"]].values.astype(np.float32).ravel()
        )
    assert ths.read_dataset(out / "ths" / "disagg_aggregates", ths.disagg_aggregate_schema()).num_rows == len(aggregates)
    # the hazard curves dataset is the one `HAZFLOW_HAZARD_CURVES` plans from
    curves = ThsHazardCurves(str(out / "ths" / "hazard_aggregates"), demo.settings.levels)
    got = {c.agg: c for c in curves.get_hazard_aggregates("DEMO", site.code, 400.0, "PGA")}
    for c in store.get_hazard_aggregates("DEMO", site.code, 400.0, "PGA"):
        np.testing.assert_array_equal(got[c.agg].values, c.values.astype(np.float32))
    assert first.hazard_curves == 3


def test_a_target_not_aggregated_is_named_and_nothing_is_written(exported_store, config, tmp_path):
    from hazflow.exceptions import DataIntegrityError

    with pytest.raises(DataIntegrityError, match=r"1 of 2 target\(s\) not aggregated: WLG vs30=400 PGA 0.02"):
        export_request(PARAMS | {"poes": [0.1, 0.02]}, config, tmp_path / "out")
    assert not (tmp_path / "out").exists()
