"""A site model given instead of one VS30: OpenQuake's site-model CSV (`lon,lat,vs30,...`; other
columns ignored), each row a site with its own VS30. The sites of an extract are then its rows
inside the area, not a grid's points."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from hazflow.exceptions import BadRequest
from hazflow.model.sites import canonical_place
from hazflow.plan.fields import vs30_value

COLUMNS = ("lon", "lat", "vs30")


def parse_site_model(
    text: str, field: str = "site_model", bounds: tuple[float, float] | None = None
) -> list[tuple[float, float, float]]:
    """(lat, lon, vs30) of every row, rounded to 0.001 degree, VS30 within `bounds` (m/s) when given;
    every row checked, the first bad one named.

    >>> parse_site_model("lon,lat,vs30\\n174.78,-41.3,400\\n")
    [(-41.3, 174.78, 400.0)]
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadRequest(field, f"a site model needs the columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
    rows: list[tuple[float, float, float]] = []
    seen: dict[tuple[float, float], int] = {}
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            lon, lat, vs30 = (float(row[c]) for c in COLUMNS)
        except ValueError:
            raise BadRequest(field, f"line {line}: lon, lat and vs30 must be numbers, got {[row[c] for c in COLUMNS]}") from None
        if not all(math.isfinite(v) for v in (lon, lat, vs30)):
            raise BadRequest(field, f"line {line}: lon, lat and vs30 must be finite")
        point = canonical_place(lat, lon, field, where=f"line {line}: ")
        vs30 = vs30_value(row["vs30"], field, where=f"line {line}: ", bounds=bounds)
        if point in seen:
            raise BadRequest(field, f"line {line}: the site of line {seen[point]} again (same 0.001 degree location)")
        seen[point] = line
        rows.append((*point, vs30))
    if not rows:
        raise BadRequest(field, "the site model has no rows")
    return rows


def read_site_model(path: Path, field: str = "site_model") -> str:
    """The text of a site-model file; the error names the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise BadRequest(field, f"cannot read {path}: {e.strerror}") from None
