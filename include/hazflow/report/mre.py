"""What a hazard scientist reads first from a mean disaggregation: target and recovered rate, the
mean and modal magnitude, distance and epsilon, and the share of each tectonic region.

Definitions follow nshmp-haz's disaggregation summary, on binned data: every mean is
contribution-weighted over the bins, with each bin at its centre (nshmp-haz weights each rupture's
own M, R and epsilon; binning moves a mean by at most half a bin). Contributions are annual rates
(the mean's probabilities over the investigation time turned into rates), as percentages of the
recovered rate, which is their sum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hazflow.aggregate.stats import prob_to_rate
from hazflow.exceptions import BadRequest
from hazflow.plan.imtl import annual_poe
from hazflow.store import DisaggAggregate


@dataclass(frozen=True)
class MreSummary:
    """One target's summary. Rates are per year, return periods in years, distances in km."""

    target_rate: float  # the annual rate equivalent to the target PoE
    target_return_period: float
    recovered_rate: float  # sum over bins of the mean disaggregation's rates
    recovered_return_period: float
    closure: float  # recovered / target annual PoE (as `aggregate.disagg.closure`)
    mean_mag: float
    mean_dist: float
    mean_eps: float
    modal_mr: dict[str, float]  # {"mag", "dist", "percent"}: the modal magnitude-distance bin (centres)
    modal_mre: dict[str, float]  # {"mag", "dist", "eps", "percent"}
    by_trt: dict[str, float]  # percent of the recovered rate by tectonic region

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MreSummary:
        return cls(**dict(data))

    def describe(self) -> str:
        """One line: `mean M7.21 R24.3 km eps 0.84; modal M-R M7.75 15 km (21.3 %), ...`."""
        mr, mre = self.modal_mr, self.modal_mre
        trts = ", ".join(f"{t} {p:.1f} %" for t, p in sorted(self.by_trt.items(), key=lambda kv: -kv[1]) if p >= 0.05)
        return (
            f"mean M{self.mean_mag:.2f} R{self.mean_dist:.1f} km eps {self.mean_eps:.2f}; "
            f"modal M-R M{mr['mag']:.2f} {mr['dist']:g} km ({mr['percent']:.1f} %), "
            f"M-R-eps M{mre['mag']:.2f} {mre['dist']:g} km eps {mre['eps']:.2f} ({mre['percent']:.1f} %); "
            f"return period {self.target_return_period:.0f} yr target, {self.recovered_return_period:.0f} yr recovered; {trts}"
        )


def centres(edges: np.ndarray) -> np.ndarray:
    """(n,) bin centres of (n + 1,) edges."""
    e = np.asarray(edges, dtype=float)
    return (e[:-1] + e[1:]) / 2


def summarise_mre(
    mean: DisaggAggregate, investigation_time: float = 1.0, years: float = 50.0, reference: float | None = None
) -> MreSummary:
    """The summary of a mean disaggregation (values (TRT, Mag, Dist, Eps), probabilities over
    `investigation_time`) at its target PoE in `years`. The closure divides by `reference`, an
    annual PoE (default: the target's; for a level read off another statistic than the mean, the
    mean curve's at the level, as `aggregate.disagg` judges it)."""
    if tuple(mean.axes) != ("TRT", "Mag", "Dist", "Eps"):
        raise BadRequest("axes", f"a summary needs (TRT, Mag, Dist, Eps) values, got {mean.axes}")
    rates = prob_to_rate(np.asarray(mean.values, dtype=float), investigation_time)
    total = float(rates.sum())
    if not total > 0:
        raise BadRequest("values", f"{mean.model} {mean.site} {mean.imt} {mean.poe:g}: the disaggregation is empty")
    share = rates / total  # (TRT, Mag, Dist, Eps)
    mag, dist, eps = (centres(mean.bin_edges[a]) for a in ("Mag", "Dist", "Eps"))
    mre = share.sum(axis=0)  # (Mag, Dist, Eps)
    mr = mre.sum(axis=2)
    i_mr = np.unravel_index(int(np.argmax(mr)), mr.shape)
    i_mre = np.unravel_index(int(np.argmax(mre)), mre.shape)
    target = annual_poe(mean.poe, years)
    target_rate = -math.log1p(-target)
    recovered_prob = -math.expm1(-total * investigation_time)
    return MreSummary(
        target_rate=target_rate,
        target_return_period=1.0 / target_rate,
        recovered_rate=total,
        recovered_return_period=1.0 / total,
        closure=recovered_prob / (target if reference is None else reference),
        mean_mag=float(mr.sum(axis=1) @ mag),
        mean_dist=float(mr.sum(axis=0) @ dist),
        mean_eps=float(mre.sum(axis=(0, 1)) @ eps),
        modal_mr={"mag": float(mag[i_mr[0]]), "dist": float(dist[i_mr[1]]), "percent": 100.0 * float(mr[i_mr])},
        modal_mre={
            "mag": float(mag[i_mre[0]]),
            "dist": float(dist[i_mre[1]]),
            "eps": float(eps[i_mre[2]]),
            "percent": 100.0 * float(mre[i_mre]),
        },
        by_trt={trt: 100.0 * float(s) for trt, s in zip(mean.trts, share.sum(axis=(1, 2, 3)), strict=True)},
    )
