from __future__ import annotations

import ast
import csv

import numpy as np
import pandas as pd
import pytest

from hazflow.export.oq_csv import COLUMNS, stat_column, write_disagg_csv
from hazflow.plan.imtl import annual_poe


def _comment(path):
    """The `key=value, ...` comment of the first line, split at top-level commas (values are Python literals)."""
    with path.open() as f:
        first = next(csv.reader(f))
    assert first[0] == "#"
    items, depth, quote, start, text = [], 0, "", 0, first[-1]
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    out = {}
    for item in items:
        key, _, value = item.strip().partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):  # OpenQuake writes a few values (dates, checksums) as bare text
            out[key] = value
    return out


def test_rows_are_bins_in_c_order_with_a_column_per_statistic(exported_store, tmp_path):
    _, site, aggregates, _ = exported_store
    path = write_disagg_csv(aggregates, site, tmp_path / "t.csv")
    df = pd.read_csv(path, skiprows=1)
    assert list(df.columns[:7]) == list(COLUMNS) and df.columns[7] == "mean"
    assert set(df.columns[7:]) == {"mean", "std", "cov", "quantile-0.1", "quantile-0.5", "quantile-0.9"}
    mean = next(a for a in aggregates if a.agg == "mean")
    assert len(df) == mean.values.size
    for a in aggregates:
        np.testing.assert_allclose(df[stat_column(a.agg)].to_numpy().reshape(a.values.shape), a.values, rtol=1e-5, atol=1e-300)
    assert df["poe"].iloc[0] == pytest.approx(annual_poe(0.1), rel=1e-5) and df["iml"].iloc[0] == pytest.approx(
        mean.iml, rel=1e-5
    )
    assert list(df["trt"].unique()) == list(mean.trts)
    i = np.unravel_index(int(np.argmax(mean.values)), mean.values.shape)
    row = df.iloc[int(np.argmax(df["mean"].to_numpy()))]
    edges = mean.bin_edges
    assert row["trt"] == mean.trts[i[0]]
    assert row["mag"] == pytest.approx((edges["Mag"][i[1]] + edges["Mag"][i[1] + 1]) / 2, rel=1e-5)
    assert row["dist"] == pytest.approx((edges["Dist"][i[2]] + edges["Dist"][i[2] + 1]) / 2, rel=1e-5)
    comment = _comment(path)
    np.testing.assert_allclose(comment["mag_bin_edges"], edges["Mag"])
    assert comment["tectonic_region_types"] == list(mean.trts) and comment["lon"] == site.lon


@pytest.mark.openquake
def test_the_layout_is_openquakes_own(exported_store, disagg_run, tmp_path):
    """Against `oq export disagg-rlzs` of a DEMO run: the same leading columns and comment keys."""
    from tests.conftest import oq_export

    _, site, aggregates, _ = exported_store
    ours = write_disagg_csv(aggregates, site, tmp_path / "t.csv")
    theirs = next(p for p in oq_export(disagg_run, "disagg-rlzs", tmp_path / "oq") if p.name.startswith("TRT_Mag_Dist_Eps"))
    assert list(pd.read_csv(ours, skiprows=1).columns[:7]) == list(pd.read_csv(theirs, skiprows=1).columns[:7])
    keys = {"investigation_time", "mag_bin_edges", "dist_bin_edges", "eps_bin_edges", "tectonic_region_types", "lon", "lat"}
    assert keys <= set(_comment(theirs)) and keys <= set(_comment(ours))
