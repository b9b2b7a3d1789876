"""Disaggregation planning: a request expanded into runs, passes, their keys and batches.

A request asks for *jobs*: leaf x site x VS30 x IMT x PoE (NSHM: 49 x 35 x 1 x 5 x 7 = 60,025).
The IMTs of one leaf/site/VS30/PoE form one *run*, the ledger's unit with its own key (NSHM: 12,005).
Runs are computed in *passes* (`hazflow.plan.passes`): with the `hazardlib` engine, every PoE and IMT
of a leaf x VS30 x site group in one OpenQuake process (NSHM: 49 x 7 = 343 processes); with `oq`,
one `oq engine --run` per run. Each run's key hashes its leaf's part once and its target's part
once, so planning a million jobs takes seconds. Runs the ledger has as finished are skipped (unless
forced); the passes of the rest are cut into at most `batch_cap` contiguous batches, each a sensible
amount of work for one worker task. The plan is kept in the store under a content-derived id;
Airflow's XComs carry only that id and batch numbers.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.logic_tree import HazardModel, load_model
from hazflow.model.sites import Site
from hazflow.openquake.engines import SITES_PER_PASS
from hazflow.openquake.spec import DisaggPass, JobSpec, canonical, job_key, leaf_hasher, run_label, target_part
from hazflow.plan.batches import DEFAULT_BATCH_CAP, batch_bounds, batch_label
from hazflow.plan.fields import validate_batch_cap
from hazflow.plan.imtl import levels_at_poes, poe_of_level
from hazflow.plan.jobs import disagg_job
from hazflow.plan.request import DisaggRequest, with_request_settings
from hazflow.store import Store
from hazflow.store.records import FINISHED_STATES

logger = logging.getLogger(__name__)

# One batch is one worker task (an ECS task on an M5 in production), which runs its passes several
# at a time. 64 OpenQuake processes (64 `oq engine` runs, 320 NSHM jobs at the published 1-4 min each)
# is the most one task should hold, or a retry of it costs hours.
MAX_PASSES_PER_BATCH = 64
# What planning reads besides the request: how many batches at most, and whether to redo finished runs.
PLAN_OPTIONS: tuple[str, ...] = ("batch_cap", "force")


@dataclass(frozen=True)
class Group:
    """One (site, VS30, PoE): the runs of every leaf here share its IMTs' levels. In IML mode one
    (site, VS30, IMT, level): `imts` holds that IMT, `poe` the PoE that names the target."""

    site: Site
    vs30: float
    poe: float
    imls: tuple[float, ...] | None  # in the IMT order of `imts` (or the request's); None when planned without levels
    imts: tuple[str, ...] | None = None  # IML mode: the group's one IMT; None: every IMT of the request

    def imts_of(self, request_imts: Sequence[str]) -> tuple[str, ...]:
        return self.imts or tuple(request_imts)


class HazardCurves(Protocol):
    """Where aggregated hazard curves come from: a `Store`, or a toshi-hazard-store dataset (`hazflow.plan.ths`)."""

    def get_hazard_aggregates(
        self, model: str, site: str, vs30: float, imt: str | None = None, agg: str | None = None
    ) -> list[Any]: ...


def read_groups(store: HazardCurves | None, request: DisaggRequest) -> list[Group]:
    """Groups in (VS30, site, PoE) order with their levels, one read per (site, VS30).

    Without a source the groups carry no levels (a plan of the shape of the work only).
    """
    if request.imls:
        return _iml_groups(store, request)
    groups = []
    for vs30 in request.vs30s:
        for site in request.sites:
            levels = _levels(store, request, site, vs30) if store is not None else None
            for p, poe in enumerate(request.poes):
                imls = tuple(float(levels[i][p]) for i in range(len(request.imts))) if levels else None
                groups.append(Group(site, vs30, poe, imls))
    return groups


def _iml_groups(store: HazardCurves | None, request: DisaggRequest) -> list[Group]:
    """IML mode: a group per (VS30, site, IMT, level given), named by the PoE in 50 years the
    aggregated mean curve gives the level (0 when planned without curves: the shape only)."""
    groups = []
    for vs30 in request.vs30s:
        for site in request.sites:
            means = (
                {a.imt: a for a in store.get_hazard_aggregates(request.model.name, site.code, vs30, agg="mean")} if store else {}
            )
            for imt, levels in request.imls.items():
                if store is not None and imt not in means:
                    raise BadRequest(
                        "imls",
                        f"no aggregated mean hazard curve of {request.model.name} for {site.id} vs30={vs30:g} {imt} to name "
                        "the levels' targets by: run hazard_aggregation first",
                    )
                named: dict[float, float] = {}  # PoE name -> the level it names
                for level in levels:
                    what = f"mean {imt} curve at {site.id} vs30={vs30:g}"
                    poe = poe_of_level(means[imt].levels, means[imt].values, level, what=what) if store is not None else 0.0
                    if store is not None and poe in named:  # one target name, two levels: rows would overwrite
                        raise BadRequest(
                            "imls",
                            f"{imt} levels {named[poe]:g} and {level:g} g both read as PoE {poe:g} in 50 years on the {what} "
                            "(the name of their target): give levels further apart",
                        )
                    named[poe] = level
                    groups.append(Group(site, vs30, poe, (level,) if store is not None else None, (imt,)))
    return groups


def _levels(store: HazardCurves, request: DisaggRequest, site: Site, vs30: float) -> list[np.ndarray]:
    """For each IMT, the level (g) of each PoE (shape (n_poes,)), read off the model's aggregated hazard
    curve of the request's `target_stat` (the mean by default, as NSHM's `target_aggr`)."""
    model, stat = request.model.name, request.target_stat
    curves = {a.imt: a for a in store.get_hazard_aggregates(model, site.code, vs30, agg=stat)}
    out = []
    for imt in request.imts:
        curve = curves.get(imt)
        if curve is None:
            if stat == "mean":
                raise BadRequest(
                    "imts",
                    f"no aggregated mean hazard curve of {model} for {site.id} vs30={vs30:g} {imt}: run hazard_aggregation first",
                )
            held = sorted({a.agg for a in store.get_hazard_aggregates(model, site.code, vs30, imt)})
            raise BadRequest(
                "target_stat",
                f"no aggregated {stat} hazard curve of {model} for {site.id} vs30={vs30:g} {imt} (stored: {', '.join(held) or 'none'}); "
                f"aggregate with that quantile first",
            )
        what = f"{stat} {imt} curve at {site.id} vs30={vs30:g}"
        out.append(levels_at_poes(curve.levels, curve.values, request.poes, what=what))
    return out


@dataclass(frozen=True)
class DisaggPlan:
    """The runs a request needs that are not yet done, in passes and batches; JSON-able for the store."""

    plan_id: str
    request: dict[str, Any]  # DisaggRequest.to_conf()
    oq_version: str
    force: bool
    engine: str  # "hazardlib" or "oq"
    groups: tuple[Group, ...]
    runs: tuple[tuple[int, int], ...]  # (leaf index, group index) of each run to do
    keys: tuple[str, ...]  # the job key of each run to do ("" when planned without levels)
    passes: tuple[tuple[int, ...], ...]  # indices into `runs`: the runs each OpenQuake process computes
    batches: tuple[tuple[int, int], ...]  # [start, stop) into `passes`
    jobs: int  # leaf x site x VS30 x IMT x PoE of the whole request
    total_runs: int
    skipped: int  # runs the ledger already has as finished

    @property
    def contributors(self) -> bool:
        """Whether the runs record the rates by source and fault (a plan of before: no)."""
        return bool(self.request.get("contributors", False))

    def batch_passes(self, batch: int) -> range:
        start, stop = self.batches[batch]
        return range(start, stop)

    def batch_runs(self, batch: int) -> list[int]:
        """The runs of one batch, pass by pass."""
        return [run for p in self.batch_passes(batch) for run in self.passes[p]]

    def run_label(self, run: int) -> str:
        leaf, group = self.runs[run]
        g = self.groups[group]
        return run_label(g.site.id, g.vs30, g.imts_of(self.request["imts"]), g.poe, self.request["leaves"][leaf])

    def pass_label(self, p: int) -> str:
        """`WLG,CHC vs30=400 PGA,SA(0.5) 10%,2%/50yr CRU-1`; a one-run pass is named as its run."""
        runs = self.passes[p]
        if len(runs) == 1:
            return self.run_label(runs[0])
        groups = [self.groups[self.runs[r][1]] for r in runs]
        sites = ",".join(dict.fromkeys(g.site.id for g in groups))
        poes = ",".join(f"{poe * 100:g}%" for poe in dict.fromkeys(g.poe for g in groups))
        leaf = self.request["leaves"][self.runs[runs[0]][0]]
        imts = ",".join(dict.fromkeys(imt for g in groups for imt in g.imts_of(self.request["imts"])))
        return f"{sites} vs30={groups[0].vs30:g} {imts} {poes}/50yr {leaf}"

    def batch_label(self, batch: int) -> str:
        """`WLG vs30=400 PGA,SA(0.5) 10%,2%/50yr CRU-1 (+23 more)`: how the UI names a mapped batch."""
        passes = self.batch_passes(batch)
        return batch_label(self.pass_label(passes.start), len(passes))

    def passes_of(self, batch: int, model: HazardModel | None = None) -> list[DisaggPass]:
        """The passes of one batch, their job specs rebuilt from the plan and checked against the planned keys."""
        model = with_request_settings(model or load_model(self.request["model"]), self.request)
        leaves = [model.leaf(i, "leaves") for i in self.request["leaves"]]
        out = []
        for p in self.batch_passes(batch):
            specs = []
            for run in self.passes[p]:
                leaf, group = self.runs[run]
                g = self.groups[group]
                if g.imls is None:
                    raise DataIntegrityError(f"plan {self.plan_id} was made without levels: it cannot be run")
                imls = dict(zip(g.imts_of(self.request["imts"]), g.imls, strict=True))
                stat = str(self.request.get("target_stat", "mean"))
                spec = disagg_job(
                    model, leaves[leaf], g.vs30, g.site, g.poe, imls, self.oq_version, self.engine, stat, self.contributors
                )
                if spec.key != self.keys[run]:
                    raise DataIntegrityError(
                        f"{spec.label}: key {spec.key} differs from the planned {self.keys[run]} (did the model change since planning?)"
                    )
                specs.append(spec)
            out.append(DisaggPass(tuple(specs)))
        return out

    def specs(self, batch: int, model: HazardModel | None = None) -> list[JobSpec]:
        """The job specs of one batch (every run of its passes)."""
        return [job for p in self.passes_of(batch, model) for job in p.jobs]

    def to_document(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "kind": "disagg",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "request": self.request,
            "oq_version": self.oq_version,
            "force": self.force,
            "engine": self.engine,
            "sites": [vars(s) for s in {g.site.code: g.site for g in self.groups}.values()],
            "groups": [
                [g.site.code, g.vs30, g.poe, None if g.imls is None else list(g.imls)] + ([list(g.imts)] if g.imts else [])
                for g in self.groups
            ],
            "runs": [list(r) for r in self.runs],
            "keys": list(self.keys),
            "passes": [list(p) for p in self.passes],
            "batches": [list(b) for b in self.batches],
            "jobs": self.jobs,
            "total_runs": self.total_runs,
            "skipped": self.skipped,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> DisaggPlan:
        sites = {site.code: site for site in (Site(**s) for s in doc["sites"])}
        return cls(
            plan_id=doc["plan_id"],
            request=doc["request"],
            oq_version=doc["oq_version"],
            force=bool(doc["force"]),
            engine=str(doc["engine"]),
            groups=tuple(
                Group(sites[c], float(v), float(p), None if i is None else tuple(i), tuple(rest[0]) if rest else None)
                for c, v, p, i, *rest in doc["groups"]
            ),
            runs=tuple((int(a), int(b)) for a, b in doc["runs"]),
            keys=tuple(doc["keys"]),
            passes=tuple(tuple(int(r) for r in p) for p in doc["passes"]),
            batches=tuple((int(a), int(b)) for a, b in doc["batches"]),
            jobs=int(doc["jobs"]),
            total_runs=int(doc["total_runs"]),
            skipped=int(doc["skipped"]),
        )


def plan_disagg(
    request: DisaggRequest,
    store: Store | None,
    oq_version: str,
    force: bool = False,
    batch_cap: int = DEFAULT_BATCH_CAP,
    max_passes_per_batch: int = MAX_PASSES_PER_BATCH,
    curves: HazardCurves | None = None,
    sites_per_pass: int = SITES_PER_PASS,
    min_passes_per_batch: int = 1,
) -> DisaggPlan:
    """Levels (from `curves`, by default the store's aggregated curves), keys, skips, passes and
    batches for `request`. With `store=None`: the shape of the work only (no levels, hence no keys
    and nothing skipped), e.g. to see NSHM's production plan here.

    Batches hold at least `min_passes_per_batch` passes where there are enough (a worker running
    that many at once, e.g. an ECS task on an 8-vCPU M5), otherwise one pass per mapped instance."""
    batch_cap = validate_batch_cap(batch_cap)
    groups = read_groups(None if store is None else (curves or store), request)
    n_leaves = len(request.leaves)
    runs = [(leaf, group) for group in range(len(groups)) for leaf in range(n_leaves)]
    if store is None:
        keys = [""] * len(runs)
        todo = list(range(len(runs)))
    else:
        keys = _keys(request, groups, oq_version)
        states = {} if force else store.ledger_states(keys)
        todo = [i for i, key in enumerate(keys) if states.get(key) not in FINISHED_STATES]
    passes = _passes([runs[i] for i in todo], groups, request, sites_per_pass)
    count = min(batch_cap, math.ceil(len(passes) / max(1, min_passes_per_batch)))
    batches = _batches(len(passes), count, max_passes_per_batch, request)
    todo_keys = [keys[i] for i in todo]
    identity = {
        "request": request.to_conf(), "oq": oq_version, "force": force, "cap": batch_cap,
        "levels": store is not None, "keys": todo_keys, "passes": passes, "batches": batches,
    }  # fmt: skip
    plan_id = "disagg-" + hashlib.sha256(canonical(identity)).hexdigest()[:16]
    return DisaggPlan(
        plan_id=plan_id,
        request=request.to_conf(),
        oq_version=oq_version,
        force=force,
        engine=request.disagg_engine,
        groups=tuple(groups),
        runs=tuple(runs[i] for i in todo),
        keys=tuple(todo_keys),
        passes=tuple(tuple(p) for p in passes),
        batches=tuple(batches),
        jobs=request.jobs,
        total_runs=len(runs),
        skipped=len(runs) - len(todo),
    )


def _keys(request: DisaggRequest, groups: list[Group], oq_version: str) -> list[str]:
    """Every run's key in (group, leaf) order: each leaf's part and each group's part serialised once."""
    model, imts = request.model, request.imts
    g0 = groups[0]
    hashers = [
        leaf_hasher(
            disagg_job(
                model,
                leaf,
                g0.vs30,
                g0.site,
                g0.poe,
                dict(zip(g0.imts_of(imts), g0.imls or (), strict=True)),
                oq_version,
                request.disagg_engine,
                request.target_stat,
                request.contributors,
            ).leaf_part()
        )
        for leaf in request.leaves
    ]
    keys: list[str] = []
    for g in groups:
        target = canonical(target_part(g.vs30, (g.site,), g.imts_of(imts), g.poe, g.imls or (), request.target_stat))
        keys.extend(job_key(h, target) for h in hashers)
    return keys


def _passes(runs: list[tuple[int, int]], groups: list[Group], request: DisaggRequest, sites_per_pass: int) -> list[list[int]]:
    """The runs (indices into `runs`) of each pass: with `hazardlib`, one leaf x VS30 x group of
    `sites_per_pass` sites (by position in the request), every PoE (IML mode: every level of one IMT,
    as a pass shares one IMT set); with `oq`, one run each. Ordered by VS30, site group and leaf, so
    that a batch holds neighbouring passes."""
    if request.disagg_engine == "oq":
        return [[i] for i in range(len(runs))]
    site_position = {site.code: i for i, site in enumerate(request.sites)}
    vs30_position = {vs30: i for i, vs30 in enumerate(request.vs30s)}
    imt_position = {imt: i for i, imt in enumerate(request.imts)}
    by_pass: dict[tuple[int, int, int, int], list[int]] = {}
    for i, (leaf, group) in enumerate(runs):
        g = groups[group]
        imt = imt_position[g.imts[0]] if g.imts else 0
        by_pass.setdefault((vs30_position[g.vs30], site_position[g.site.code] // sites_per_pass, leaf, imt), []).append(i)
    return [by_pass[k] for k in sorted(by_pass)]


def _batches(n: int, count: int, max_passes: int, request: DisaggRequest) -> list[tuple[int, int]]:
    """`count` contiguous near-equal batches of `n` passes, refused (with how to split) past `max_passes` each."""
    bounds = batch_bounds(n, max(1, count))
    if bounds and max(stop - start for start, stop in bounds) > max_passes:
        raise BadRequest("batch_cap", _split_advice(n, count, max_passes, request))
    return bounds


def _split_advice(n: int, cap: int, max_passes: int, request: DisaggRequest) -> str:
    fits = cap * max_passes
    head = (
        f"{n:,} OpenQuake processes to do ({request.jobs:,} jobs, engine {request.disagg_engine}) do not fit one DAG run: "
        f"{cap} batches of at most {max_passes} hold {fits:,}."
    )
    if len(request.vs30s) > 1 and math.ceil(n / len(request.vs30s)) <= fits:
        return (
            f"{head} Split it: one DAG run per VS30 ({len(request.vs30s)} runs of about {n // len(request.vs30s):,} processes)."
        )
    parts = math.ceil(n / fits)
    if len(request.sites) >= parts:
        return f"{head} Split it: the sites into {parts} groups, one DAG run each, per VS30."
    return f"{head} Split it into {parts} DAG runs by leaves (the `leaves` field), per VS30 and site group."


@dataclass(frozen=True)
class BatchRef:
    """One batch of a kept plan, as one mapped `run`/`ingest` instance receives it (an XCom)."""

    plan_id: str
    batch: int
    label: str
    runs: int
    passes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchRef:
        return cls(str(data["plan_id"]), int(data["batch"]), str(data["label"]), int(data["runs"]), int(data["passes"]))


def load_plan(plan_id: str, store: Store) -> DisaggPlan:
    """A kept plan, by id."""
    return DisaggPlan.from_document(store.get_plan(plan_id))
