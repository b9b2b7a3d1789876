"""The steps of disagg_aggregation: stored disaggregation realizations of a target (site, VS30, IMT,
PoE) aggregated over the logic tree by bin (`hazflow.aggregate`), with a closure check, stored,
summarised, plotted and exported.

`plan`, `aggregate_batch`, `export` and `summarise` are what the DAG's tasks and `python -m hazflow
aggregate-disagg` / `export` call, with the same Params; each returns its XCom value.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hazflow.aggregate.contributions import component_rates, contributions
from hazflow.aggregate.contributors import contributor_table
from hazflow.aggregate.disagg import AXES, closure, closure_ok, common_edges, component_matrix
from hazflow.aggregate.engine import Aggregate, aggregate
from hazflow.aggregate.inputs import in_tree_order, provenance, require_all
from hazflow.aggregate.methods import DEFAULT_QUANTILE_METHOD
from hazflow.aggregate.tree import CompositeTree
from hazflow.config import Config
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.export.request import keep_export
from hazflow.model.logic_tree import HazardModel
from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.model.sites import Site
from hazflow.openquake.spec import target_label
from hazflow.plan.batches import batch_label as label_of_batch
from hazflow.plan.batches import split
from hazflow.plan.imtl import annual_poe
from hazflow.plan.request import DEFAULT_CLOSURE_TOLERANCE, DisaggAggregationRequest
from hazflow.report.mre import summarise_mre
from hazflow.report.summary import summarise_disagg_aggregation
from hazflow.report.target_summary import DisaggSummary, put_summary
from hazflow.steps import XCom, deployment
from hazflow.store import DisaggAggregate, Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DisaggTarget:
    """One (site, VS30, IMT, PoE) disaggregation target."""

    site: Site
    vs30: float
    imt: str
    poe: float

    @property
    def label(self) -> str:
        return target_label(self.site.id, self.vs30, self.imt, self.poe)

    def to_dict(self) -> dict[str, Any]:
        return {"site": vars(self.site), "vs30": self.vs30, "imt": self.imt, "poe": self.poe}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DisaggTarget:
        return cls(Site(**data["site"]), float(data["vs30"]), str(data["imt"]), float(data["poe"]))


@dataclass(frozen=True)
class DisaggTargetResult:
    """What aggregating one target stored and what a scientist reads first: level, closure, modal bin."""

    label: str
    iml: float  # g
    closure: float  # disaggregated / target annual PoE, 4 decimals
    method: str  # how the quantiles were computed
    modal: str  # the modal TRT-Mag-Dist-Eps bin
    plot: str  # where the plot is kept
    closure_ok: bool = True  # |closure - 1| <= the request's closure_tolerance
    summary: str = ""  # mean and modal M-R-eps, fault systems' shares (`DisaggSummary.describe`)
    plots: list[str] = field(default_factory=list)  # every plot kept: M-R, M-R-eps bars, contributions
    mean_mre: str = ""  # "M7.36 R23.0 km eps 0.60": the contribution-weighted means

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def required_targets(
    store: Store,
    model: HazardModel,
    tree: CompositeTree,
    sites: Sequence[Site],
    vs30s: Sequence[float],
    imts: Sequence[str],
    poes: Sequence[float],
    target_stat: str = "mean",
    imls: Mapping[str, Sequence[float]] | None = None,
) -> list[DisaggTarget]:
    """The (site, VS30, IMT, PoE) targets; fails before any compute, listing every missing realization
    (and, for targets read off a quantile curve, every missing mean curve their closure needs).
    IML mode (`imls`: levels per IMT): each level's target is named by the PoE the mean curve gives
    it, as the planner named it (`plan.imtl.poe_of_level`)."""
    if imls:
        targets = [
            DisaggTarget(s, v, imt, poe) for v in vs30s for s in sites for imt, poe in iml_target_poes(store, model, s, v, imls)
        ]
    else:
        targets = [DisaggTarget(s, v, i, p) for s in sites for v in vs30s for i in imts for p in poes]

    def check(t: DisaggTarget) -> Callable[[], object]:
        rows = store.get_disagg_realizations(model.name, t.site.code, t.vs30, t.imt, t.poe)

        def checked() -> object:
            iml, _ = component_matrix(model, tree, rows, t.label, target_stat)
            return closure_reference(store, model, t.site, t.vs30, t.imt, iml, target_stat)

        return checked

    require_all(((t.label, check(t)) for t in targets), "Run the disaggregations first.")
    return targets


def iml_target_poes(
    store: Store, model: HazardModel, site: Site, vs30: float, imls: Mapping[str, Sequence[float]]
) -> list[tuple[str, float]]:
    """(IMT, PoE in 50 years) naming each level's target at a site: read off the aggregated mean curve."""
    from hazflow.plan.imtl import poe_of_level

    means = {a.imt: a for a in store.get_hazard_aggregates(model.name, site.code, vs30, agg="mean")}
    out: list[tuple[str, float]] = []
    for imt, levels in imls.items():
        if imt not in means:
            raise BadRequest(
                "imls", f"no aggregated mean hazard curve for {target_label(site.id, vs30, imt)} to name the levels' targets by"
            )
        what = f"mean {imt} curve at {site.id} vs30={vs30:g}"
        out.extend((imt, poe_of_level(means[imt].levels, means[imt].values, level, what=what)) for level in levels)
    return out


def closure_reference(
    store: Store, model: HazardModel, site: Site, vs30: float, imt: str, iml: float, target_stat: str
) -> float | None:
    """What a closure divides by. At a level read off the mean curve, the target's annual PoE (None).
    At a level read off another statistic (a quantile), the mean disaggregation holds the *mean*
    hazard at that level, not the target PoE: the mean curve's annual PoE at the level."""
    if target_stat == "mean":
        return None
    from hazflow.plan.imtl import annual_poe_at_level

    curves = store.get_hazard_aggregates(model.name, site.code, vs30, imt, agg="mean")
    if not curves:
        raise DataIntegrityError(
            f"{target_label(site.id, vs30, imt)}: no aggregated mean hazard curve to judge the closure of a {target_stat} target by"
        )
    return annual_poe_at_level(curves[0].levels, curves[0].values, iml)


def aggregate_disagg(
    store: Store,
    model: HazardModel,
    tree: CompositeTree,
    site: Site,
    vs30: float,
    imt: str,
    poe: float,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    n_samples: int = 10_000,
    seed: int = 42,
    closure_tolerance: float = DEFAULT_CLOSURE_TOLERANCE,
    method: str = DEFAULT_QUANTILE_METHOD,
    target_stat: str = "mean",
) -> tuple[list[DisaggAggregate], Aggregate, DisaggSummary]:
    """Compute, check closure and store the statistics of one disaggregation target, and its summary
    (M-R-eps of the mean, split over the logic tree); the closure, the tolerance it was judged by
    and the verdict go into every statistic's provenance."""
    target = f"{model.name} {target_label(site.id, vs30, imt, poe)}"
    rows = store.get_disagg_realizations(model.name, site.code, vs30, imt, poe)
    iml, probs = component_matrix(model, tree, rows, target, target_stat)
    reference = closure_reference(store, model, site, vs30, imt, iml, target_stat)
    result = aggregate(
        tree, probs, model.settings.investigation_time, tuple(quantiles), n_samples=n_samples, seed=seed, method=method
    )
    closed = closure(result.stats["mean"], poe, model.settings.investigation_time, reference)
    shape = (len(model.trts), -1, *[len(e) - 1 for e in list(common_edges(model.settings).values())[1:]])
    ok = closure_ok(closed, closure_tolerance)
    if not ok:
        logger.warning("%s: closure %.4f is outside 1 +- %g", target, closed, closure_tolerance)
    prov = provenance(
        tree, rows, result, seed=seed if result.method == "sampling" else None, closure_tolerance=closure_tolerance, closure_ok=ok,
        target_stat=target_stat, closure_reference_annual_poe=reference if reference is not None else annual_poe(poe),
    )  # fmt: skip
    out = [
        DisaggAggregate(
            model.name,
            site.code,
            float(vs30),
            imt,
            float(poe),
            name,
            iml,
            AXES,
            model.trts,
            common_edges(model.settings),
            values.reshape(shape),
            closed,
            prov,
        )  # fmt: skip
        for name, values in result.stats.items()
    ]
    store.put_disagg_aggregates(out)
    mean = next(row for row in out if row.agg == "mean")
    summary = DisaggSummary(
        model.name,
        site,
        float(vs30),
        imt,
        float(poe),
        iml,
        target_stat,
        result.method,
        model.settings.epsilon_star,
        summarise_mre(mean, model.settings.investigation_time, reference=reference),
        contributions(tree, component_rates(probs, model.settings.investigation_time), seed=seed),
        contributor_table(model, tree, in_tree_order(tree, rows, target), site, seed=seed),
    )
    with tempfile.TemporaryDirectory() as tmp:
        put_summary(store, summary, Path(tmp))
    return out, result, summary


def plan_disagg_aggregation(params: Mapping[str, Any], config: Config) -> list[list[DisaggTarget]]:
    """Validate the request, check every needed realization is stored (listing what is missing, before
    any compute), and batch the targets for mapping."""
    r = DisaggAggregationRequest.parse(params, runnable=False)
    targets = required_targets(config.open_store(), r.model, r.tree(), r.sites, r.vs30s, r.imts, r.poes, r.target_stat, r.imls)
    logger.info("disaggregation aggregation of %s: %d target(s), every realization stored", r.model.name, len(targets))
    return split(targets)


def aggregate_disagg_batch(
    params: Mapping[str, Any], targets: Sequence[DisaggTarget], config: Config
) -> list[DisaggTargetResult]:
    """Aggregate each target of a batch, store it with its closure and summary, and keep its plots."""
    from hazflow.report.plots import (
        disagg_plot_names,
        plot_contributions,
        plot_contributors,
        plot_disaggregation,
        plot_mre_bars,
    )
    from hazflow.report.summary import modal_bin

    r = DisaggAggregationRequest.parse(params, runnable=False)
    store, tree = config.open_store(), r.tree()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in targets:
            rows, result, summary = aggregate_disagg(
                store,
                r.model,
                tree,
                t.site,
                t.vs30,
                t.imt,
                t.poe,
                r.quantiles,
                r.samples,
                closure_tolerance=r.closure_tolerance,
                method=r.quantile_method,
                target_stat=r.target_stat,
            )
            mean = next(row for row in rows if row.agg == "mean")
            names = disagg_plot_names(r.model.name, t.site, t.vs30, t.imt, t.poe)
            eps_name = "epsilon*" if summary.epsilon_star else "epsilon"
            pngs = {
                "mr": plot_disaggregation(mean, t.site, Path(tmp) / "mr.png", summary.mre, eps_name),
                "mre": plot_mre_bars(mean, summary.mre, t.site, Path(tmp) / "mre.png", eps_name),
                "contributions": plot_contributions(summary, Path(tmp) / "contributions.png"),
            }
            if summary.contributors is not None:
                pngs["contributors"] = plot_contributors(summary, Path(tmp) / "contributors.png")
            where = {kind: store.put_report(names[kind], png) for kind, png in pngs.items()}
            ok = closure_ok(mean.closure, r.closure_tolerance)
            modal = modal_bin(mean).describe()
            m = summary.mre
            done = DisaggTargetResult(
                t.label,
                mean.iml,
                round(mean.closure, 4),
                result.method,
                modal,
                where["mr"],
                ok,
                summary.describe(),
                list(where.values()),
                f"M{m.mean_mag:.2f} R{m.mean_dist:.1f} km eps {m.mean_eps:.2f}",
            )
            logger.info(
                "%s: IML %.4g g, closure %.4f, modal bin %s\n  %s", t.label, done.iml, done.closure, done.modal, done.summary
            )
            results.append(done)
    return results


# --- the DAG's tasks and the CLI: XCom values ---
def plan(params: Mapping[str, Any], config: Config | None = None) -> list[list[XCom]]:
    """`plan`: the targets in batches (one mapped `aggregate` each), every realization checked stored."""
    return [[t.to_dict() for t in batch] for batch in plan_disagg_aggregation(params, deployment(config))]


def batch_label(batch: list[XCom]) -> str:
    """What the UI shows for a batch: its first target, and how many more."""
    return label_of_batch(DisaggTarget.from_dict(batch[0]).label, len(batch))


def aggregate_batch(batch: list[XCom], params: Mapping[str, Any], config: Config | None = None) -> list[XCom]:
    """`aggregate`: every target of the batch, stored with its closure and summary, and plotted."""
    targets = [DisaggTarget.from_dict(t) for t in batch]
    return [r.to_dict() for r in aggregate_disagg_batch(params, targets, deployment(config))]


def export(params: Mapping[str, Any], config: Config | None = None) -> XCom:
    """`export`: the request's aggregated targets in the formats it asks for, kept in the store."""
    return keep_export(params, deployment(config)).to_dict()


def summarise(batches: list[list[XCom]], params: Mapping[str, Any], exported: XCom | None = None) -> XCom:
    """`summary`: closure, modal bin and summary per target; raises with `fail_on_closure` when a
    closure is outside the request's tolerance (after everything was stored)."""
    r = DisaggAggregationRequest.parse(params, runnable=False)
    return summarise_disagg_aggregation(batches, r.closure_tolerance, r.fail_on_closure, exported)
