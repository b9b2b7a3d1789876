"""The Hazard view's numbers: a site's aggregated hazard curves (the mean and a quantile band), the
levels read off the mean at the request's PoEs, and the uniform hazard spectrum at each PoE.

Curves are annual probabilities of exceedance at the stored levels (g); a PoE is over 50 years and
its level is read off the mean curve log-log (`plan.imtl`), as the disaggregation targets are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hazflow.exceptions import BadRequest
from hazflow.model.sites import Site, resolve_sites
from hazflow.plan.imtl import levels_at_poes
from hazflow.store.base import Store

DEFAULT_POES = (0.1, 0.02)  # 10 % and 2 % in 50 years: 475 and 2,475 yr
DEFAULT_BAND = ("0.1", "0.9")
YEARS = 50.0
_SA = re.compile(r"^SA\(([0-9.]+)\)$")


def period_s(imt: str) -> float | None:
    """The spectral period (s) of an IMT: PGA is 0 s; None for an IMT off the spectrum (PGV).

    >>> [period_s(i) for i in ("PGA", "SA(0.5)", "PGV")]
    [0.0, 0.5, None]
    """
    if imt == "PGA":
        return 0.0
    match = _SA.match(imt)
    return float(match.group(1)) if match else None


@dataclass(frozen=True)
class SiteQuery:
    """A site's curves asked for: model, site (id, list name or lat~lon), VS30 (m/s), the PoEs
    (in 50 years) whose levels are read off, and the quantiles of the band."""

    model: str
    site: Site
    vs30: float
    poes: tuple[float, ...] = DEFAULT_POES
    band: tuple[str, str] = DEFAULT_BAND

    @classmethod
    def parse(cls, model: str, site: str, vs30: str | float, poes: Sequence[str | float] | None = None,
              band: Sequence[str] | None = None) -> SiteQuery:  # fmt: skip
        """Checked as a request is: a bad value raises `BadRequest` naming its field."""
        if not model:
            raise BadRequest("model", "no model given")
        (resolved,) = resolve_sites([site], field="site")
        try:
            speed = float(vs30)
        except (TypeError, ValueError):
            raise BadRequest("vs30", f"not a number: {vs30!r}") from None
        if not np.isfinite(speed) or speed <= 0:
            raise BadRequest("vs30", f"must be a positive number of m/s, got {vs30!r}")
        chosen = tuple(fraction(p, "poes", "a PoE in 50 years") for p in (poes or DEFAULT_POES))
        low, high = tuple(band or DEFAULT_BAND)
        for q in (low, high):
            fraction(q, "band", "a quantile")
        return cls(model, resolved, speed, chosen, (low, high))


def fraction(raw: str | float, field: str, what: str) -> float:
    """A number strictly between 0 and 1 (a PoE, a quantile), or `BadRequest` naming `field`."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BadRequest(field, f"not {what}: {raw!r}") from None
    if not 0 < value < 1:
        raise BadRequest(field, f"{what} is in (0, 1), got {raw!r}")
    return value


def _curves(store: Store, query: SiteQuery, imt: str | None) -> dict[str, dict[str, Any]]:
    """imt -> agg -> HazardAggregate of the query's site and VS30 (one IMT or all)."""
    by_imt: dict[str, dict[str, Any]] = {}
    for row in store.get_hazard_aggregates(query.model, query.site.code, query.vs30, imt):
        by_imt.setdefault(row.imt, {})[row.agg] = row
    return by_imt


class NothingStored(LookupError):
    """The store holds nothing for a well-formed query (HTTP 404, where a bad value is a 400)."""


def _nothing_stored(query: SiteQuery, what: str) -> NothingStored:
    return NothingStored(f"no aggregated hazard curves of {query.model} at {query.site.id} ({query.site.code}), "
                         f"VS30 {query.vs30:g}{what}: run hazard_aggregation for it first")  # fmt: skip


def hazard_curves(store: Store, query: SiteQuery, imt: str) -> dict[str, Any]:
    """One IMT's curves at the query's site and VS30: levels (g), the mean and every stored statistic
    (annual PoE, one value per level), the band's quantiles, and the mean's level at each PoE
    (None where the PoE is outside the curve's range)."""
    by_agg = _curves(store, query, imt).get(imt)
    if not by_agg or "mean" not in by_agg:
        raise _nothing_stored(query, f", {imt}")
    mean = by_agg["mean"]
    levels = np.asarray(mean.levels, dtype=float)
    curves = {agg: np.asarray(row.values, dtype=float).tolist() for agg, row in sorted(by_agg.items())}
    return {
        "model": query.model,
        "site": query.site.id,
        "site_code": query.site.code,
        "site_name": query.site.name,
        "vs30": query.vs30,
        "imt": imt,
        "investigation_time": YEARS,
        "levels": levels.tolist(),
        "curves": curves,
        "band": [q for q in query.band if q in by_agg],
        "poes": list(query.poes),
        "levels_at_poes": _levels_read_off(levels, np.asarray(mean.values, dtype=float), query.poes),
        "provenance": mean.provenance,
    }


def _levels_read_off(levels: np.ndarray, mean: np.ndarray, poes: Sequence[float]) -> list[float | None]:
    out: list[float | None] = []
    for poe in poes:
        try:
            out.append(float(levels_at_poes(levels, mean, [poe], YEARS)[0]))
        except BadRequest:  # the PoE is beyond what the curve reaches
            out.append(None)
    return out


def uniform_hazard_spectra(store: Store, query: SiteQuery) -> dict[str, Any]:
    """The uniform hazard spectrum at each PoE: the mean curve's level at that PoE for PGA (0 s) and
    every stored SA period, sorted by period. A PoE a curve does not reach has None at that period."""
    by_imt = _curves(store, query, None)
    spectral = sorted((period, imt) for imt in by_imt if "mean" in by_imt[imt] and (period := period_s(imt)) is not None)
    if not spectral:
        raise _nothing_stored(query, "")
    rows = {
        imt: _levels_read_off(
            np.asarray(by_imt[imt]["mean"].levels, float), np.asarray(by_imt[imt]["mean"].values, float), query.poes
        )
        for _, imt in spectral
    }
    return {
        "model": query.model,
        "site": query.site.id,
        "site_code": query.site.code,
        "vs30": query.vs30,
        "investigation_time": YEARS,
        "imts": [imt for _, imt in spectral],
        "periods": [period for period, _ in spectral],
        "poes": list(query.poes),
        "spectra": [[rows[imt][i] for _, imt in spectral] for i in range(len(query.poes))],  # (PoE, period), g
    }


def curves_csv(payload: dict[str, Any]) -> str:
    """`hazard_curves`' payload as CSV: one row per level, a column per statistic (docs/OUTPUTS.md)."""
    aggs = list(payload["curves"])
    lines = [",".join(["level_g", *(f"apoe_{agg}" for agg in aggs)])]
    for i, level in enumerate(payload["levels"]):
        lines.append(",".join([repr(level), *(repr(payload["curves"][agg][i]) for agg in aggs)]))
    return "\n".join(lines) + "\n"


def spectra_csv(payload: dict[str, Any]) -> str:
    """`uniform_hazard_spectra`' payload as CSV: one row per period, a column per PoE (docs/OUTPUTS.md)."""
    lines = [
        ",".join(["imt", "period_s", *(f"level_g_poe{poe:g}_in_{payload['investigation_time']:g}yr" for poe in payload["poes"])])
    ]
    for j, (imt, period) in enumerate(zip(payload["imts"], payload["periods"], strict=True)):
        cells = ["" if s[j] is None else repr(s[j]) for s in payload["spectra"]]
        lines.append(",".join([imt, repr(period), *cells]))
    return "\n".join(lines) + "\n"
