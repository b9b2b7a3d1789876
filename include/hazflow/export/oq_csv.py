"""Aggregated disaggregations in OpenQuake's disaggregation CSV layout (`oq export disagg-stats`):
a first comment line `#,,...,"key=value, ..."` with the bin edges, regions, site and investigation
time, then one row per bin, C order over TRT x Mag x Dist x Eps, with the columns
`imt, iml, poe, trt, mag, dist, eps` (bin centres; `poe` the target's PoE over the investigation
time) and one column per statistic (`mean`, `quantile-0.1`, ...), values as `%.5E`.

Readers that take OpenQuake's file (pandas `read_csv(path, skiprows=1)`, OpenQuake's own tools)
take this one. hazflow's own keys (`model`, `vs30`, `target_poe_50yr`, ...) are added to the comment.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hazflow.exceptions import DataIntegrityError
from hazflow.model.sites import Site
from hazflow.plan.imtl import annual_poe
from hazflow.report.mre import centres
from hazflow.store import DisaggAggregate

COLUMNS = ("imt", "iml", "poe", "trt", "mag", "dist", "eps")


def stat_column(agg: str) -> str:
    """OpenQuake's column name of a statistic: `mean`, `quantile-0.1`; others (`std`, `cov`) as they are."""
    try:
        return f"quantile-{float(agg):g}"
    except ValueError:
        return agg


def write_disagg_csv(
    aggregates: Sequence[DisaggAggregate], site: Site, path: Path, investigation_time: float = 1.0, generated_by: str = "hazflow"
) -> Path:
    """Write one target's statistics (mean first, then as given) to `path`."""
    if not aggregates:
        raise DataIntegrityError(f"{path.name}: no statistics to write")
    ordered = sorted(aggregates, key=lambda a: a.agg != "mean")
    first = ordered[0]
    edges = {axis: np.asarray(first.bin_edges[axis], dtype=float) for axis in ("Mag", "Dist", "Eps")}
    comment = {
        "generated_by": generated_by,
        "investigation_time": investigation_time,
        "mag_bin_edges": edges["Mag"].tolist(),
        "dist_bin_edges": edges["Dist"].tolist(),
        "eps_bin_edges": edges["Eps"].tolist(),
        "tectonic_region_types": list(first.trts),
        "lon": site.lon,
        "lat": site.lat,
        "model": first.model,
        "site": site.id,
        "vs30": first.vs30,
        "target_poe_50yr": first.poe,
    }
    poe = -np.expm1(np.log1p(-annual_poe(first.poe)) * investigation_time)
    shape = first.values.shape
    index = np.indices(shape).reshape(len(shape), -1)  # C order over (TRT, Mag, Dist, Eps)
    mag, dist, eps = (centres(edges[a])[index[i + 1]] for i, a in enumerate(("Mag", "Dist", "Eps")))
    trt = np.asarray(first.trts, dtype=object)[index[0]]
    stats = [np.asarray(a.values, dtype=float).ravel() for a in ordered]
    header = [*COLUMNS, *(stat_column(a.agg) for a in ordered)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["#"] + [""] * (len(header) - 2) + [", ".join(f"{k}={v!r}" for k, v in comment.items())])
        w.writerow(header)
        fixed = [first.imt, f"{first.iml:.5E}", f"{poe:.5E}"]
        for b in range(index.shape[1]):
            w.writerow(fixed + [trt[b], f"{mag[b]:.5E}", f"{dist[b]:.5E}", f"{eps[b]:.5E}"] + [f"{s[b]:.5E}" for s in stats])
    return path
