"""Hazard curves in OpenQuake's CSV layout, one file per IMT, the file `hazard_curves_csv` and
`hazard_curves_file` of a classical_risk or classical_damage job read (`readinput.get_pmap_from_csv`):

    #,,,,"generated_by='hazflow 0.1.0', kind='mean', investigation_time=1.0, imt='PGA', model='DEMO', vs30=400.0"
    lon,lat,depth,poe-0.0001,poe-0.0002,...
    174.700,-41.300,0.0,9.81234567E-01,...

The comment is a TOML inline table (what OpenQuake parses; `vs30` is `'site_model.csv'` when the
sites have VS30s of their own); `poe-<level>` columns carry the levels
(g) exactly as stored; values are probabilities of exceedance in `investigation_time` years, written
with 9 significant digits (OpenQuake reads them as float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hazflow import __version__
from hazflow.exceptions import DataIntegrityError
from hazflow.model.sites import Site
from hazflow.store import HazardAggregate


def curve_file_name(stat: str, imt: str) -> str:
    """`hazard_curve-mean-PGA.csv`, `hazard_curve-quantile-0.9-SA(0.5).csv` (as OpenQuake names its exports)."""
    kind = stat if stat == "mean" else f"quantile-{stat}"
    return f"hazard_curve-{kind}-{imt}.csv"


def write_hazard_curves_csv(curves: Sequence[tuple[Site, HazardAggregate]], path: Path, investigation_time: float) -> Path:
    """Write one IMT's curves (one statistic, every site on the same levels) to `path`."""
    if not curves:
        raise DataIntegrityError(f"{path.name}: no hazard curves to write")
    first = curves[0][1]
    levels = np.asarray(first.levels, dtype=float)
    for site, curve in curves:
        if (curve.imt, curve.agg) != (first.imt, first.agg) or not np.array_equal(curve.levels, levels):
            raise DataIntegrityError(
                f"{path.name}: {site.id} has {curve.imt} {curve.agg} on other levels than {first.imt} {first.agg}"
            )
    values = np.stack([np.asarray(c.values, dtype=float) for _, c in curves])
    if not np.all((values >= 0) & (values <= 1)):
        raise DataIntegrityError(f"{path.name}: a stored {first.agg} curve has a probability outside [0, 1]")
    kind = first.agg if first.agg == "mean" else f"quantile-{first.agg}"
    comment = (
        f"generated_by='hazflow {__version__}', kind='{kind}', investigation_time={float(investigation_time)!r}, "
        f"imt='{first.imt}', model='{first.model}'"
    )
    vs30s = {float(c.vs30) for _, c in curves}
    comment += f", vs30={vs30s.pop()!r}" if len(vs30s) == 1 else ", vs30='site_model.csv'"
    header = ["lon", "lat", "depth", *(f"poe-{float(level)!r}" for level in levels)]
    lines = [",".join(["#"] + [""] * (len(header) - 2) + [f'"{comment}"']), ",".join(header)]
    for (site, _), row in zip(curves, values, strict=True):
        lines.append(",".join([f"{site.lon:.3f}", f"{site.lat:.3f}", "0.0", *(f"{v:.8E}" for v in row)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
