"""A target's contributors table as CSV (`<target>-contributors.csv` beside its bins' CSV): one row per
source or fault, largest first and the rest last, with its share of the mean rate, its spread over
the composite branches, its mean M, R and epsilon, and where it is (`hazflow.aggregate.contributors`)."""

from __future__ import annotations

import csv
from pathlib import Path

from hazflow.aggregate.contributors import ContributorTable

FIXED = ("name", "kind", "fault_systems", "percent", "rate_per_year", "mean_percent")
WHERE = ("m", "rrup_km", "eps", "lon", "lat", "azimuth_deg")


def write_contributors_csv(table: ContributorTable, path: Path) -> Path:
    """Write `table` to `path`: the columns of `FIXED`, one `percent_q<q>` per quantile of the
    spread, then `WHERE`; empty cells where a value is unknown."""
    quantiles = list(table.rows[0].percentiles) if table.rows else []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FIXED, *(f"percent_q{q}" for q in quantiles), *WHERE])
        for row in table.rows:
            where = (row.m, row.r, row.eps, row.lon, row.lat, row.azimuth)
            writer.writerow(
                [
                    row.name,
                    row.kind,
                    "+".join(row.fault_systems),
                    f"{row.percent:.6g}",
                    f"{row.rate:.6e}",
                    f"{row.mean_percent:.6g}",
                ]
                + [f"{row.percentiles[q]:.6g}" for q in quantiles]
                + ["" if v is None or v != v else f"{v:.6g}" for v in where]
            )
    return path
