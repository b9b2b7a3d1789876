"""Plots a hazard scientist looks at, as PNG files (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hazflow.exceptions import BadRequest
from hazflow.model.sites import Site
from hazflow.plan.imtl import annual_poe, level_at_poe
from hazflow.report.mre import MreSummary
from hazflow.report.summary import modal_bin
from hazflow.report.target_summary import DisaggSummary
from hazflow.store import DisaggAggregate, HazardAggregate

TARGET_POES: tuple[float, ...] = (0.1, 0.02)


def _save(fig: Any, path: Path) -> Path:
    """Lay out, write as PNG at `path` (its folder made) and close a figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


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
    return _save(fig, path)


def hazard_plot_name(model: str, site: Site, vs30: float, imt: str) -> str:
    return f"hazard/{model}/{site.id}/{model}-{site.id}-vs{vs30:g}-{imt}.png"


def closure_flag(mean: DisaggAggregate) -> str:
    """What the title adds when the closure was judged outside its tolerance (from the provenance)."""
    prov = json.loads(mean.provenance or "{}")
    if prov.get("closure_ok", True):
        return ""
    return f" OUTSIDE 1 +- {prov['closure_tolerance']:g}"


def plot_disaggregation(
    mean: DisaggAggregate, site: Site, path: Path, summary: MreSummary | None = None, eps_name: str = "epsilon"
) -> Path:
    """Magnitude-distance contributions (% of the total) as a heat map, epsilon as stacked colours
    per distance bin, and the target, level, closure, modal bin (and the summary's mean M, R and
    eps) in the title."""
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
    ax_eps.set_title(f"distance x {eps_name}")
    ax_eps.legend(title=eps_name, fontsize=7, ncol=2)
    mode, flag = modal_bin(mean), closure_flag(mean)
    fig.suptitle(
        f"{mean.model} {site.name} ({site.code}) VS30={mean.vs30:g}  {mean.imt} {mean.poe:.0%} in 50 yr  IML={mean.iml:.3g} g  "
        f"closure={mean.closure:.3f}{flag}\nmodal bin: {mode.trt}, M{mode.mag:.2f}, {mode.dist:g} km, eps {mode.eps:.2f}"
        + (f";  mean M{summary.mean_mag:.2f}, R {summary.mean_dist:.1f} km, eps {summary.mean_eps:.2f}" if summary else ""),
        fontsize=10,
        color="firebrick" if flag else "black",
    )
    return _save(fig, path)


def disagg_plot_name(model: str, site: Site, vs30: float, imt: str, poe: float) -> str:
    return f"disagg/{model}/{site.id}/{model}-{site.id}-vs{vs30:g}-{imt}-poe{poe * 100:g}.png"


def _visible_range(weights: np.ndarray, keep: float = 0.999) -> tuple[int, int]:
    """(first, last + 1) indices of the shortest prefix-and-suffix trimmed range holding `keep` of the total."""
    c = np.cumsum(weights) / weights.sum()
    first = int(np.searchsorted(c, (1.0 - keep) / 2))
    last = int(np.searchsorted(c, 1.0 - (1.0 - keep) / 2)) + 1
    return first, max(last, first + 1)


def plot_mre_bars(mean: DisaggAggregate, summary: MreSummary, site: Site, path: Path, eps_name: str = "epsilon") -> Path:
    """The M-R-eps 3-D bar chart of disaggregation papers and the USGS tools: a column per
    magnitude-distance bin, its height the % contribution, stacked by epsilon bin (blue negative,
    red positive). Bins beyond the 99.9 % range of magnitude and distance, and columns under 0.2 %
    of the tallest, are left out; an epsilon slice under 0.2 % of the tallest column is drawn in
    the colour of the slice above it (so heights stay exact)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = mean.values.sum(axis=0)  # (Mag, Dist, Eps)
    share = 100.0 * rates / rates.sum()
    mag_e, dist_e, eps_e = mean.bin_edges["Mag"], mean.bin_edges["Dist"], mean.bin_edges["Eps"]
    m0, m1 = _visible_range(share.sum(axis=(1, 2)))
    d0, d1 = _visible_range(share.sum(axis=(0, 2)))
    fig = plt.figure(figsize=(9, 7), dpi=110)
    ax = fig.add_subplot(projection="3d")
    colours = plt.cm.coolwarm(np.linspace(0, 1, len(eps_e) - 1))
    columns = share.sum(axis=2)
    smallest = 0.002 * columns.max()  # a slice thinner than this is drawn with the slice below it
    slices: list[tuple[int, int, float, float, np.ndarray]] = []  # (dist, mag, bottom, height, colour)
    for i, j in zip(*np.nonzero(columns[m0:m1, d0:d1] >= smallest), strict=True):
        bottom, pending, first = 0.0, 0.0, len(slices)
        for k in np.flatnonzero(share[m0 + i, d0 + j] > 0):
            pending += float(share[m0 + i, d0 + j, k])
            if pending >= smallest:
                slices.append((int(j), int(i), bottom, pending, colours[k]))
                bottom, pending = bottom + pending, 0.0
        if pending > 0 and len(slices) > first:  # the last slices, too thin alone: onto the column's top slice
            x, y, z, h, c = slices[-1]
            slices[-1] = (x, y, z, h + pending, c)
    xs, ys, zs, heights, cs = zip(*slices, strict=True)
    ax.bar3d(xs, ys, zs, 0.8, 0.8, heights, color=cs, shade=True, linewidth=0)
    ax.set_xticks(np.arange(d1 - d0 + 1)[:: max(1, (d1 - d0) // 8)])
    ax.set_xticklabels([f"{dist_e[d0 + t]:g}" for t in ax.get_xticks().astype(int)], fontsize=7)
    ax.set_yticks(np.arange(m1 - m0 + 1)[:: max(1, (m1 - m0) // 8)])
    ax.set_yticklabels([f"{mag_e[m0 + t]:.1f}" for t in ax.get_yticks().astype(int)], fontsize=7)
    ax.set_xlabel("rupture distance (km, bin edges)")
    ax.set_ylabel("magnitude (bin edges)")
    ax.set_zlabel("% contribution")
    ax.view_init(elev=30, azim=-60)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[k]) for k in range(0, len(eps_e) - 1, 2)]
    ax.legend(handles, [f"{eps_e[k]:g}..{eps_e[k + 1]:g}" for k in range(0, len(eps_e) - 1, 2)], title=eps_name,
              fontsize=7, loc="upper left", ncol=2)  # fmt: skip
    mr = summary.modal_mr
    ax.set_title(
        f"{mean.model} {site.name} ({site.code}) VS30={mean.vs30:g}  {mean.imt} {mean.poe:.0%} in 50 yr  IML={mean.iml:.3g} g\n"
        f"mean M{summary.mean_mag:.2f}  R {summary.mean_dist:.1f} km  eps {summary.mean_eps:.2f};  "
        f"modal M{mr['mag']:.2f} {mr['dist']:g} km ({mr['percent']:.1f} %)",
        fontsize=9,
    )
    return _save(fig, path)


def plot_contributions(summary: DisaggSummary, path: Path, top_leaves: int = 12) -> Path:
    """Left: each fault system's share of the mean rate (bar) and of each composite branch's rate
    (10-90 % whisker, median dot). Right: the leaves (source branches) with the largest share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c, mre, site = summary.contributions, summary.mre, summary.site
    names = sorted(c.by_fault_system, key=lambda n: c.by_fault_system[n].percent_of_mean)
    fig, (ax, ax_leaf) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110, gridspec_kw={"width_ratios": [1, 1.2]})
    y = np.arange(len(names))
    shares = [c.by_fault_system[n] for n in names]
    ax.barh(y, [s.percent_of_mean for s in shares], color="C0", alpha=0.6, label="share of the mean rate")
    low = [s.percentiles.get("0.1", np.nan) for s in shares]
    mid = [s.percentiles.get("0.5", np.nan) for s in shares]
    high = [s.percentiles.get("0.9", np.nan) for s in shares]
    ax.hlines(y, low, high, color="k", lw=2, label="10-90 % over composite branches")
    ax.plot(mid, y, "o", color="k", ms=5, label="median")
    ax.set_yticks(y, names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the target's rate")
    ax.set_title(f"fault systems ({c.method} of {c.composites:,} composite branches)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    leaves = sorted(c.by_leaf.items(), key=lambda kv: kv[1])[-top_leaves:]
    colour_of = {fs: f"C{i + 1}" for i, fs in enumerate(sorted(c.by_fault_system))}  # C0: the fault-system bars
    colours = [colour_of.get(c.leaf_fault_system.get(leaf, ""), "C1") for leaf, _ in leaves]
    ax_leaf.barh(np.arange(len(leaves)), [v for _, v in leaves], color=colours)
    shown = dict.fromkeys(c.leaf_fault_system.get(leaf, "") for leaf, _ in leaves)
    ax_leaf.legend(
        [plt.Rectangle((0, 0), 1, 1, color=colour_of[fs]) for fs in shown if fs in colour_of],
        [fs for fs in shown if fs in colour_of],
        fontsize=7,
        loc="lower right",
        title="fault system",
    )
    ax_leaf.set_yticks(np.arange(len(leaves)), [k for k, _ in leaves], fontsize=7)
    ax_leaf.set_xlabel("% of the mean rate")
    ax_leaf.set_title(f"source branches (leaves): the {len(leaves)} largest of {len(c.by_leaf)}", fontsize=9)
    ax_leaf.grid(True, axis="x", alpha=0.3)
    fig.suptitle(
        f"{summary.model} {site.name} ({site.code}) VS30={summary.vs30:g}  {summary.imt} {summary.poe:.0%} in 50 yr  "
        f"IML={summary.iml:.3g} g\nmean M{mre.mean_mag:.2f}  R {mre.mean_dist:.1f} km  eps {mre.mean_eps:.2f}",
        fontsize=10,
    )
    return _save(fig, path)


KIND_COLOURS = {"fault": "C3", "background": "C2", "source": "C1", "rest": "0.6"}


def plot_contributors(summary: DisaggSummary, path: Path, top: int = 15) -> Path:
    """Which sources and faults drive the target: the `top` largest contributors' share of the mean rate
    (bar, coloured by kind) and of each composite branch's rate (10-90 % whisker, median dot), each
    labelled with its mean M, R and epsilon, where it is, and the rest of the table in one bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table, site, mre = summary.contributors, summary.site, summary.mre
    if table is None:
        raise ValueError(f"{summary.name}: no contributors to plot")
    named = [row for row in table.rows if row.kind != "rest"]
    shown = named[:top]
    others = sum(row.percent for row in named[top:]) + sum(row.percent for row in table.rows if row.kind == "rest")
    rows = list(reversed(shown))
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(rows) + 2.2), dpi=110)
    y = np.arange(len(rows))
    ax.barh(y, [r.percent for r in rows], color=[KIND_COLOURS.get(r.kind, "C0") for r in rows], alpha=0.75)
    ax.hlines(
        y, [r.percentiles.get("0.1", np.nan) for r in rows], [r.percentiles.get("0.9", np.nan) for r in rows], color="k", lw=2
    )
    ax.plot([r.percentiles.get("0.5", np.nan) for r in rows], y, "o", color="k", ms=4)
    for i, r in enumerate(rows):
        where = f", {r.azimuth:.0f} deg" if r.azimuth is not None else ""
        ax.text(101, i, f"M{r.m:.2f}  R {r.r:.1f} km  eps {r.eps:.2f}{where}", va="center", fontsize=7)
    ax.set_yticks(y, [f"{r.name} ({r.kind})" for r in rows], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the target's rate (bar: of the mean; whisker: 10-90 % over composite branches, dot: median)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(
        f"{summary.model} {site.name} ({site.code}) VS30={summary.vs30:g}  {summary.imt} {summary.poe:.0%} in 50 yr  "
        f"IML={summary.iml:.3g} g  mean M{mre.mean_mag:.2f} R {mre.mean_dist:.1f} km\n"
        f"the {len(shown)} largest of {len(named)} sources and faults; the others and the rest: {others:.1f} %",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.3, right=0.78)
    return _save(fig, path)


def disagg_plot_names(model: str, site: Site, vs30: float, imt: str, poe: float) -> dict[str, str]:
    """Report names of a target's plots: M-R heat map with eps, M-R-eps bars, contributions over the
    logic tree and, where the runs recorded them, its contributors (sources and faults)."""
    stem = disagg_plot_name(model, site, vs30, imt, poe).removesuffix(".png")
    return {
        "mr": f"{stem}.png",
        "mre": f"{stem}-mre.png",
        "contributions": f"{stem}-contributions.png",
        "contributors": f"{stem}-contributors.png",
    }


def plot_area_map(
    imt: str,
    points: Sequence[tuple[float, float]],
    levels: np.ndarray,
    outline: Sequence[tuple[float, float]],
    title: str,
    path: Path,
    poes: Sequence[float] = TARGET_POES,
) -> Path:
    """The hazard map of an extract: each site's level (g) at each PoE in 50 years (one panel per PoE).

    `points` are the sites' (lon, lat); `levels` (n_sites, n_poes) in g, NaN where the curve does
    not reach the PoE (drawn as grey crosses); `outline` the area's boundary as (lon, lat)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lon, lat = np.asarray(points, dtype=float).T
    ring = np.asarray(outline, dtype=float)
    fig, axes = plt.subplots(1, len(poes), figsize=(5.2 * len(poes), 4.8), dpi=110, squeeze=False)
    for ax, column, poe in zip(axes[0], np.asarray(levels, dtype=float).T, poes, strict=True):
        ax.plot(ring[:, 0], ring[:, 1], color="0.3", lw=1)
        known = np.isfinite(column)
        if known.any():
            dots = ax.scatter(lon[known], lat[known], c=column[known], cmap="viridis", s=60, edgecolors="k", linewidths=0.3)
            fig.colorbar(dots, ax=ax, label=f"{imt} (g)")
        if (~known).any():
            ax.scatter(lon[~known], lat[~known], marker="x", color="0.6", label="beyond the curve")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"{poe:.0%} in 50 years", fontsize=10)
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.set_aspect(1 / np.cos(np.radians(np.mean(lat))))  # degrees of longitude shrink with latitude
        ax.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
