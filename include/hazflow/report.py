"""Plots a hazard scientist looks at, as PNG files (matplotlib, Agg backend, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hazflow.exceptions import BadRequest
from hazflow.imtl import annual_poe, level_at_poe
from hazflow.sites import Site
from hazflow.store import HazardAggregate

TARGET_POES: tuple[float, ...] = (0.1, 0.02)


def plot_hazard_curve(
    aggregates: Sequence[HazardAggregate],
    site: Site,
    path: Path,
    target_poes: Sequence[float] = TARGET_POES,
    band: tuple[str, str] = ("0.1", "0.9"),
) -> Path:
    """Mean hazard curve with its quantile band, the target PoEs and their levels marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = {a.agg: a for a in aggregates}
    if "mean" not in stats:
        raise BadRequest("aggregates", "no mean curve to plot")
    mean = stats["mean"]
    levels = mean.levels
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    shown = mean.values > 0
    ax.loglog(levels[shown], mean.values[shown], color="C0", lw=2, label="mean")
    if band[0] in stats and band[1] in stats:
        low, high = stats[band[0]].values, stats[band[1]].values
        ax.fill_between(levels, np.maximum(low, 1e-12), np.maximum(high, 1e-12), color="C0", alpha=0.2, lw=0,
                        label=f"{float(band[0]):.0%}-{float(band[1]):.0%} quantiles")  # fmt: skip
    for q, style in (("0.5", "--"),):
        if q in stats:
            ax.loglog(levels, np.maximum(stats[q].values, 1e-12), color="C0", ls=style, lw=1, label="median")
    for poe, colour in zip(target_poes, ("C3", "C2", "C1", "C4"), strict=False):
        p1 = annual_poe(poe)
        try:
            level = level_at_poe(levels, mean.values, poe)
        except BadRequest:
            continue
        ax.axhline(p1, color=colour, lw=0.8, ls=":")
        ax.plot([level], [p1], "o", color=colour, label=f"{poe:.0%} in 50 yr: {level:.3g} g")
    positive = mean.values[shown]
    ax.set_ylim(max(positive.min() / 2, 1e-6) if len(positive) else 1e-6, 1.0)
    ax.set_xlim(levels[0], levels[-1])
    ax.set_xlabel(f"{mean.imt} (g)")
    ax.set_ylabel("annual probability of exceedance")
    ax.set_title(f"{mean.model} {site.name} ({site.code}) VS30={mean.vs30:g} m/s {mean.imt}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def hazard_plot_name(model: str, site: Site, vs30: float, imt: str) -> str:
    return f"hazard/{model}/{site.id}/{model}-{site.id}-vs{vs30:g}-{imt}.png"
