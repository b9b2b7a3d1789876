"""Which SA periods a model can be asked for: the span its GMMs' coefficient tables cover.

A GMM interpolates its coefficients between the periods it tabulates and cannot go beyond them, so
a request for SA(1000) would fail deep inside OpenQuake, after the queue and the source build. The
spans are precomputed per model and OpenQuake version (`python -m hazflow.openquake.period_table`
writes `data/gmm_periods.json`; a test recomputes it), so that checking a request costs no subprocess.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from hazflow.exceptions import BadRequest

TABLE_PATH = Path(__file__).resolve().parent / "data" / "gmm_periods.json"


@lru_cache(maxsize=1)
def period_table() -> dict[str, Any]:
    """The committed table: `openquake` (the version it was read from) and, per model, `min` and
    `max` (s) and each GMM branch's own span."""
    return dict(json.loads(TABLE_PATH.read_text()))


def sa_span(model: str) -> tuple[float, float] | None:
    """[min, max] SA period (s) every GMM of `model` supports; None for a model not in the table."""
    row = period_table()["models"].get(model)
    return None if row is None else (float(row["min"]), float(row["max"]))


def check_sa_periods(imts: tuple[str, ...], model: str, field: str = "imts") -> None:
    """Refuse an SA period outside the span of `model`'s GMMs, naming the IMT, the span and the GMM
    branches that cannot compute it. IMTs are normalised (`SA(0.5)`, `PGA`)."""
    row = period_table()["models"].get(model)
    if row is None:
        return
    for imt in imts:
        if not imt.startswith("SA("):
            continue
        period = float(imt[3:-1])
        if row["min"] <= period <= row["max"]:
            continue
        short = sorted(gmm for gmm, s in row["gmms"].items() if not s["min"] <= period <= s["max"])
        shown = ", ".join(short[:3]) + (f" (+{len(short) - 3} more)" if len(short) > 3 else "")
        raise BadRequest(
            field,
            f"{imt} is outside the SA periods model {model}'s GMMs support, {row['min']:g} to {row['max']:g} s "
            f"(their coefficient tables, OpenQuake {period_table()['openquake']}); {shown} cannot compute it",
        )
