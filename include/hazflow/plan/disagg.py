"""Disaggregation planning: a request expanded into OpenQuake runs, their keys and batches.

A request asks for *jobs*: leaf x site x VS30 x IMT x PoE (NSHM: 49 x 35 x 1 x 5 x 7 = 60,025).
The IMTs of one leaf/site/VS30/PoE share one OpenQuake *run* (their levels in `iml_disagg`), so
NSHM is 12,005 runs. Each run's key hashes its leaf's part once and its target's part once, so
planning a million jobs takes seconds. Runs the ledger has as finished are skipped (unless
forced); the rest are cut into at most `batch_cap` contiguous batches, each a sensible amount of
work for one worker task. The plan is kept in the store under a content-derived id; Airflow's
XComs carry only that id and batch numbers.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from hazflow.config import Config
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.logic_tree import HazardModel, load_model
from hazflow.model.sites import Site
from hazflow.plan.batches import DEFAULT_BATCH_CAP, batch_bounds, batch_label
from hazflow.plan.fields import validate_batch_cap
from hazflow.plan.imtl import levels_at_poes
from hazflow.plan.jobs import JobSpec, canonical, disagg_job, job_key, leaf_hasher, run_label, target_part
from hazflow.plan.request import DisaggRequest
from hazflow.store import Store
from hazflow.store.records import FINISHED_STATES

logger = logging.getLogger(__name__)

# One batch is one worker task (an ECS task on an M5 in production). NSHM's request for one VS30
# makes batches of 24 runs under the default cap; 64 runs (320 NSHM jobs at the published 1-4 min
# each) is the most one task should hold, or a retry of it costs hours.
MAX_RUNS_PER_BATCH = 64


@dataclass(frozen=True)
class Group:
    """One (site, VS30, PoE): the runs of every leaf here share its IMTs' levels."""

    site: Site
    vs30: float
    poe: float
    imls: tuple[float, ...] | None  # in the request's IMT order; None when planned without levels


class HazardCurves(Protocol):
    """Where aggregated hazard curves come from: a `Store`, or a toshi-hazard-store dataset (`hazflow.plan.ths`)."""

    def get_hazard_aggregates(
        self, model: str, site: str, vs30: float, imt: str | None = None, agg: str | None = None
    ) -> list[Any]: ...


def read_groups(store: HazardCurves | None, request: DisaggRequest) -> list[Group]:
    """Groups in (VS30, site, PoE) order with their levels, one read per (site, VS30).

    Without a source the groups carry no levels (a plan of the shape of the work only).
    """
    groups = []
    for vs30 in request.vs30s:
        for site in request.sites:
            levels = _levels(store, request, site, vs30) if store is not None else None
            for p, poe in enumerate(request.poes):
                imls = tuple(float(levels[i][p]) for i in range(len(request.imts))) if levels else None
                groups.append(Group(site, vs30, poe, imls))
    return groups


def _levels(store: HazardCurves, request: DisaggRequest, site: Site, vs30: float) -> list[np.ndarray]:
    """For each IMT, the level (g) of each PoE (shape (n_poes,)), read off the model's aggregated mean hazard curve."""
    model = request.model.name
    means = {a.imt: a for a in store.get_hazard_aggregates(model, site.code, vs30, agg="mean")}
    out = []
    for imt in request.imts:
        curve = means.get(imt)
        if curve is None:
            raise BadRequest(
                "imts",
                f"no aggregated mean hazard curve of {model} for {site.id} vs30={vs30:g} {imt}: run hazard_aggregation first",
            )
        what = f"mean {imt} curve at {site.id} vs30={vs30:g}"
        out.append(levels_at_poes(curve.levels, curve.values, request.poes, what=what))
    return out


@dataclass(frozen=True)
class DisaggPlan:
    """The runs a request needs that are not yet done, in batches; JSON-able for the store."""

    plan_id: str
    request: dict[str, Any]  # DisaggRequest.to_conf()
    oq_version: str
    force: bool
    groups: tuple[Group, ...]
    runs: tuple[tuple[int, int], ...]  # (leaf index, group index) of each run to do
    keys: tuple[str, ...]  # the job key of each run to do ("" when planned without levels)
    batches: tuple[tuple[int, int], ...]  # [start, stop) into `runs`
    jobs: int  # leaf x site x VS30 x IMT x PoE of the whole request
    total_runs: int
    skipped: int  # runs the ledger already has as finished

    def batch_runs(self, batch: int) -> range:
        start, stop = self.batches[batch]
        return range(start, stop)

    def run_label(self, run: int) -> str:
        leaf, group = self.runs[run]
        g = self.groups[group]
        return run_label(g.site.id, g.vs30, self.request["imts"], g.poe, self.request["leaves"][leaf])

    def batch_label(self, batch: int) -> str:
        """`WLG vs30=400 PGA,SA(0.5) 10%/50yr CRU-1 (+23 more)`: how the UI names a mapped batch."""
        runs = self.batch_runs(batch)
        return batch_label(self.run_label(runs.start), len(runs))

    def specs(self, batch: int, model: HazardModel | None = None) -> list[JobSpec]:
        """The job specs of one batch, rebuilt from the plan and checked against the planned keys."""
        model = model or load_model(self.request["model"])
        leaves = [model.leaf(i, "leaves") for i in self.request["leaves"]]
        out = []
        for run in self.batch_runs(batch):
            leaf, group = self.runs[run]
            g = self.groups[group]
            if g.imls is None:
                raise DataIntegrityError(f"plan {self.plan_id} was made without levels: it cannot be run")
            spec = disagg_job(
                model, leaves[leaf], g.vs30, g.site, g.poe, dict(zip(self.request["imts"], g.imls, strict=True)), self.oq_version
            )
            if spec.key != self.keys[run]:
                raise DataIntegrityError(
                    f"{spec.label}: key {spec.key} differs from the planned {self.keys[run]} (did the model change since planning?)"
                )
            out.append(spec)
        return out

    def to_document(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "kind": "disagg",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "request": self.request,
            "oq_version": self.oq_version,
            "force": self.force,
            "sites": [vars(s) for s in {g.site.code: g.site for g in self.groups}.values()],
            "groups": [[g.site.code, g.vs30, g.poe, None if g.imls is None else list(g.imls)] for g in self.groups],
            "runs": [list(r) for r in self.runs],
            "keys": list(self.keys),
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
            groups=tuple(Group(sites[c], float(v), float(p), None if i is None else tuple(i)) for c, v, p, i in doc["groups"]),
            runs=tuple((int(a), int(b)) for a, b in doc["runs"]),
            keys=tuple(doc["keys"]),
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
    max_runs_per_batch: int = MAX_RUNS_PER_BATCH,
    curves: HazardCurves | None = None,
) -> DisaggPlan:
    """Levels (from `curves`, by default the store's aggregated curves), keys, skips and batches for
    `request`. With `store=None`: the shape of the work only (no levels, hence no keys and nothing
    skipped), e.g. to see NSHM's production plan here."""
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
    batches = _batches(len(todo), batch_cap, max_runs_per_batch, request)
    todo_keys = [keys[i] for i in todo]
    identity = {
        "request": request.to_conf(), "oq": oq_version, "force": force, "cap": batch_cap,
        "levels": store is not None, "keys": todo_keys,
    }  # fmt: skip
    plan_id = "disagg-" + hashlib.sha256(canonical(identity)).hexdigest()[:16]
    return DisaggPlan(
        plan_id=plan_id,
        request=request.to_conf(),
        oq_version=oq_version,
        force=force,
        groups=tuple(groups),
        runs=tuple(runs[i] for i in todo),
        keys=tuple(todo_keys),
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
            disagg_job(model, leaf, g0.vs30, g0.site, g0.poe, dict(zip(imts, g0.imls or (), strict=True)), oq_version).leaf_part()
        )
        for leaf in request.leaves
    ]
    keys: list[str] = []
    for g in groups:
        target = canonical(target_part(g.vs30, (g.site,), imts, g.poe, g.imls or ()))
        keys.extend(job_key(h, target) for h in hashers)
    return keys


def _batches(n: int, cap: int, max_runs: int, request: DisaggRequest) -> list[tuple[int, int]]:
    """At most `cap` contiguous near-equal batches, refused (with how to split) past `max_runs` runs each."""
    bounds = batch_bounds(n, cap)
    if bounds and max(stop - start for start, stop in bounds) > max_runs:
        raise BadRequest("batch_cap", _split_advice(n, cap, max_runs, request))
    return bounds


def _split_advice(n: int, cap: int, max_runs: int, request: DisaggRequest) -> str:
    fits = cap * max_runs
    head = (
        f"{n:,} OpenQuake runs to do ({request.jobs:,} jobs) do not fit one DAG run: {cap} batches of at most "
        f"{max_runs} runs hold {fits:,}."
    )
    if len(request.vs30s) > 1 and math.ceil(n / len(request.vs30s)) <= fits:
        return f"{head} Split it: one DAG run per VS30 ({len(request.vs30s)} runs of about {n // len(request.vs30s):,} OpenQuake runs)."
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

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchRef:
        return cls(str(data["plan_id"]), int(data["batch"]), str(data["label"]), int(data["runs"]))


@dataclass(frozen=True)
class PlannedRequest:
    """What planning a disaggregation request returns: the kept plan's id, its batches, its counts,
    and the conf that starts `disagg_aggregation` for exactly this realization set."""

    plan_id: str
    batches: tuple[BatchRef, ...]
    aggregation_conf: dict[str, Any]
    jobs: int
    runs: int
    skipped: int

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self)) | {"batches": [b.to_dict() for b in self.batches]}


def plan_disagg_realizations(params: Mapping[str, Any], config: Config) -> PlannedRequest:
    """Validate a request (Params or command line), read each target's level, key every run, skip
    those done (unless `force`), cut the rest into at most `batch_cap` batches and keep the plan in
    the store. With `runner` ecs the store must be one the containers reach; checked here, before
    any compute."""
    from hazflow.openquake.runner import engine_version

    request = DisaggRequest.parse(params, runnable=True)
    if params.get("runner") == "ecs":
        from hazflow.run.ecs import require_reachable_store

        require_reachable_store(config)
    store = config.open_store()
    curves = config.curves_source(request.model.settings.levels)
    force, cap = bool(params.get("force", False)), params.get("batch_cap", DEFAULT_BATCH_CAP)
    plan = plan_disagg(request, store, engine_version(config.oq_python), force=force, batch_cap=cap, curves=curves)
    store.put_plan(plan.plan_id, plan.to_document())
    refs = tuple(BatchRef(plan.plan_id, i, plan.batch_label(i), len(plan.batch_runs(i))) for i in range(len(plan.batches)))
    logger.info(
        "plan %s: %d jobs = %d OpenQuake runs; %d already done, %d to do in %d batch(es)",
        plan.plan_id, plan.jobs, plan.total_runs, plan.skipped, len(plan.keys), len(refs),
    )  # fmt: skip
    return PlannedRequest(plan.plan_id, refs, request.to_conf(), plan.jobs, plan.total_runs, plan.skipped)


def load_plan(plan_id: str, store: Store) -> DisaggPlan:
    """A kept plan, by id."""
    return DisaggPlan.from_document(store.get_plan(plan_id))
