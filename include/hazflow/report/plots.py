"""Plots a hazard scientist looks at, as PNG files (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hazflow.exceptions import BadRequest
from hazflow.model.sites import Site
from hazflow.plan.imtl import annual_poe, level_at_poe
from hazflow.report.summary import modal_bin
from hazflow.store import DisaggAggregate, HazardAggregate

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


def closure_flag(mean: DisaggAggregate) -> str:
    """What the title adds when the closure was judged outside its tolerance (from the provenance)."""
    prov = json.loads(mean.provenance or "{}")
    if prov.get("closure_ok", True):
        return ""
    return f" OUTSIDE 1 +- {prov['closure_tolerance']:g}"


def plot_disaggregation(mean: DisaggAggregate, site: Site, path: Path) -> Path:
    """Magnitude-distance contributions (% of the total) as a heat map, epsilon as stacked colours
    per distance bin, and the target, level, closure and modal bin in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = mean.values  # (TRT, Mag, Dist, Eps), probabilities
    total = values.sum()
    if not total > 0:
        raise BadRequest("aggregates", f"{mean.model} {site.id} {mean.imt}: the disaggregation is empty")
    share = 100.0 * values / total
    mag_dist = share.sum(axis=(0, 3))  # (Mag, Dist)
    mag_e, dist_e, eps_e = mean.bin_edges["Mag"], mean.bin_edges["Dist"], mean.bin_edges["Eps"]
    fig, (ax, ax_eps) = plt.subplots(1, 2, figsize=(12, 5.2), dpi=110, gridspec_kw={"width_ratios": [1.25, 1]})
    mesh = ax.pcolormesh(dist_e, mag_e, np.ma.masked_less_equal(mag_dist, 0.0), cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label="% contribution")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("rupture distance (km)")
    ax.set_ylabel("magnitude")
    ax.set_title("magnitude x distance")
    dist_eps = share.sum(axis=(0, 1))  # (Dist, Eps)
    centres = np.arange(len(dist_e) - 1)
    bottom = np.zeros(len(centres))
    colours = plt.cm.coolwarm(np.linspace(0, 1, len(eps_e) - 1))
    for k in range(len(eps_e) - 1):
        ax_eps.bar(
            centres,
            dist_eps[:, k],
            bottom=bottom,
            color=colours[k],
            width=0.9,
            label=f"{eps_e[k]:g}..{eps_e[k + 1]:g}" if k % 3 == 0 else None,
        )
        bottom += dist_eps[:, k]
    ax_eps.set_xticks(centres[::2], [f"{dist_e[i]:g}" for i in centres[::2]], rotation=45)
    ax_eps.set_xlabel("distance bin (lower edge, km)")
    ax_eps.set_ylabel("% contribution")
    ax_eps.set_title("distance x epsilon")
    ax_eps.legend(title="epsilon", fontsize=7, ncol=2)
    mode, flag = modal_bin(mean), closure_flag(mean)
    fig.suptitle(
        f"{mean.model} {site.name} ({site.code}) VS30={mean.vs30:g}  {mean.imt} {mean.poe:.0%} in 50 yr  IML={mean.iml:.3g} g  "
        f"closure={mean.closure:.3f}{flag}\nmodal bin: {mode.trt}, M{mode.mag:.2f}, {mode.dist:g} km, eps {mode.eps:.2f}",
        fontsize=10,
        color="firebrick" if flag else "black",
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def disagg_plot_name(model: str, site: Site, vs30: float, imt: str, poe: float) -> str:
    return f"disagg/{model}/{site.id}/{model}-{site.id}-vs{vs30:g}-{imt}-poe{poe * 100:g}.png"
