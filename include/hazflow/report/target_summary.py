"""A disaggregation target's summary document: what it is, the M-R-eps summary of its mean
(`hazflow.report.mre`) and its split over the logic tree (`hazflow.aggregate.contributions`).

It is kept in the store next to the target's plots, as JSON under `disagg_summary_name(...)`, so
that `python -m hazflow show`, the DAG summary and the exports read the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hazflow.aggregate.contributions import Contributions
from hazflow.aggregate.contributors import ContributorTable
from hazflow.model.sites import Site
from hazflow.openquake.spec import CONTRIBUTORS_FLOOR
from hazflow.report.mre import MreSummary
from hazflow.store import Store

SCHEMA = "hazflow.disagg-summary/1"


@dataclass(frozen=True)
class DisaggSummary:
    """One aggregated disaggregation target: site, VS30, IMT, PoE in 50 years, the level (g) read
    off the aggregated curve's `target_stat`, and what its numbers say."""

    model: str
    site: Site
    vs30: float
    imt: str
    poe: float
    iml: float
    target_stat: str  # the statistic of the aggregated hazard curve the level was read from
    quantile_method: str
    epsilon_star: bool  # the Eps axis is epsilon* (OpenQuake's epsilon_star), and so is the mean epsilon
    mre: MreSummary
    contributions: Contributions
    contributors: ContributorTable | None = None  # by source and fault, where the runs recorded them

    @property
    def name(self) -> str:
        return disagg_summary_name(self.model, self.site, self.vs30, self.imt, self.poe)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "model": self.model,
            "site": vars(self.site),
            "vs30": self.vs30,
            "imt": self.imt,
            "poe": self.poe,
            "iml": self.iml,
            "target_stat": self.target_stat,
            "quantile_method": self.quantile_method,
            "epsilon_star": self.epsilon_star,
            "summary": self.mre.to_dict(),
            "contributions": self.contributions.to_dict(),
            # largest first, the rest last; percents add to 100 ([] where the runs recorded none)
            "contributors": self.contributors.to_list() if self.contributors else [],
            "contributors_notes": {
                "total_rate": self.contributors.total_rate,
                "spread": self.contributors.method,
                "composites": self.contributors.composites,
                "floor": CONTRIBUTORS_FLOOR,
                "warnings": list(self.contributors.warnings),
            }
            if self.contributors
            else {"warnings": ["the realizations recorded no contributors (engine oq, or contributors off)"]},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DisaggSummary:
        return cls(
            data["model"],
            Site(**data["site"]),
            float(data["vs30"]),
            data["imt"],
            float(data["poe"]),
            float(data["iml"]),
            data["target_stat"],
            data["quantile_method"],
            bool(data.get("epsilon_star", False)),
            MreSummary.from_dict(data["summary"]),
            Contributions.from_dict(data["contributions"]),
            ContributorTable.from_dict(data["contributors"], data.get("contributors_notes", {})),
        )

    def describe(self) -> str:
        """Lines a scientist reads: the M-R-eps summary, then the fault systems' shares with their spread."""
        fs = "; ".join(
            f"{name} {s.percent_of_mean:.1f} % of the mean (composites: mean {s.mean_percent:.1f} %, "
            + ", ".join(f"{float(q):.0%} {v:.1f}" for q, v in s.percentiles.items())
            + ")"
            for name, s in sorted(self.contributions.by_fault_system.items(), key=lambda kv: -kv[1].percent_of_mean)
        )
        star = "by epsilon* (eps is epsilon*): " if self.epsilon_star else ""
        text = f"{star}{self.mre.describe()}\n  fault systems: {fs}"
        if self.contributors:
            top = [row for row in self.contributors.rows if row.kind != "rest"][:5]
            text += "\n  contributors: " + "; ".join(f"{row.name} {row.percent:.1f} %" for row in top)
        return text


def disagg_summary_name(model: str, site: Site, vs30: float, imt: str, poe: float) -> str:
    """The report name of a target's summary (beside its plot, `report.plots.disagg_plot_name`)."""
    return f"disagg/{model}/{site.id}/{model}-{site.id}-vs{vs30:g}-{imt}-poe{poe * 100:g}-summary.json"


def put_summary(store: Store, summary: DisaggSummary, folder: Path) -> str:
    """Keep the summary in the store (replacing an earlier one), staged in the scratch `folder`."""
    path = folder / "summary.json"
    path.write_text(json.dumps(summary.to_dict(), indent=1, sort_keys=False))
    return store.put_report(summary.name, path)


def stored_summaries(store: Store, model: str | None, site: Site) -> list[DisaggSummary]:
    """Every target summary kept for a site (of one model, or of all), in name order."""
    models = [model] if model else sorted({n.split("/")[1] for n in store.reports("disagg/")})
    names = [n for m in models for n in store.reports(f"disagg/{m}/{site.id}/") if n.endswith("-summary.json")]
    return [DisaggSummary.from_dict(json.loads(store.read_report(n))) for n in names]
