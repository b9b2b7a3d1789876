"""Requests: what a user asks for (from a Params form, the command line, a manifest or JSON),
validated by one parser before any compute. Every error names the field at fault.

| request | fields (beyond model, sites, vs30s, imts, leaves) | serves |
| --- | --- | --- |
| `HazardRequest` | | hazard_realizations |
| `DisaggRequest` | poes, disagg_engine, epsilon_star, target_stat, contributors | disagg_realizations, coverage manifests |
| `HazardAggregationRequest` | gmms, quantiles | hazard_aggregation |
| `DisaggAggregationRequest` | gmms, quantiles, poes, samples, closure, exports, epsilon_star, target_stat | disagg_aggregation |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from hazflow import limits
from hazflow.aggregate.methods import DEFAULT_QUANTILE_METHOD, MIN_SAMPLES, QUANTILE_METHODS
from hazflow.choices import DEFAULT_DISAGG_ENGINE, DISAGG_ENGINES, EXPORT_FORMATS
from hazflow.exceptions import BadRequest
from hazflow.model.logic_tree import HazardModel, Leaf, load_model
from hazflow.model.nshm import DEFAULT_QUANTILES
from hazflow.model.sites import Site, resolve_sites
from hazflow.openquake.spec import JobSpec
from hazflow.plan.fields import (
    non_empty,
    validate_choice,
    validate_choices,
    validate_count,
    validate_flag,
    validate_gmms,
    validate_imls,
    validate_imts,
    validate_leaves,
    validate_poes,
    validate_quantiles,
    validate_target_stat,
    validate_tolerance,
    validate_vs30s,
    with_other_entries,
)
from hazflow.plan.jobs import hazard_job

if TYPE_CHECKING:
    from hazflow.aggregate.tree import CompositeTree

R = TypeVar("R", bound="Request")
DEFAULT_CLOSURE_TOLERANCE = 0.05  # a disaggregation whose closure is further than 5 % from 1 is flagged

# Each field's validator, in the order fields are checked (so the first error is always the same one).
PARSERS: dict[str, Callable[[Any, HazardModel], Any]] = {
    "sites": lambda value, model: _sites(value),
    "vs30s": lambda value, model: validate_vs30s(value, bounds=model.vs30_range),
    "imts": lambda value, model: validate_imts(value, model=model.name),
    "poes": lambda value, model: validate_poes(value),
    "leaves": lambda value, model: validate_leaves(model, value),
    "gmms": lambda value, model: validate_gmms(model, value),
    "quantiles": lambda value, model: validate_quantiles(value),
    "samples": lambda value, model: _samples(value),
    "quantile_method": lambda value, model: validate_choice(value, "quantile_method", QUANTILE_METHODS),
    "disagg_engine": lambda value, model: validate_choice(value, "disagg_engine", DISAGG_ENGINES),
    "closure_tolerance": lambda value, model: validate_tolerance(value),
    "fail_on_closure": lambda value, model: validate_flag(value, "fail_on_closure"),
    "exports": lambda value, model: validate_choices(value, "exports", EXPORT_FORMATS),
    "epsilon_star": lambda value, model: validate_flag(value, "epsilon_star"),
    "target_stat": lambda value, model: validate_target_stat(value),
}


def _sites(value: Any) -> tuple[Site, ...]:
    sites = tuple(resolve_sites(non_empty(value, "sites"), "sites"))
    if len(sites) > (most := limits.current().request_sites):
        raise limits.refuse("sites", "sites", len(sites), "request_sites", most, "split the sites over several requests")
    return sites


def _contributors(value: Any, engine: str) -> bool:
    """Whether runs record contributions by source and fault: by default where the engine can (the
    one-pass `hazardlib`); asked of `oq`, refused (its disaggregation has no per-source pass)."""
    if value is None:
        return engine == "hazardlib"
    wanted = validate_flag(value, "contributors")
    if wanted and engine != "hazardlib":
        raise BadRequest(
            "contributors",
            f"the {engine} engine cannot record contributions by source and fault: use disagg_engine hazardlib, "
            "or leave contributors off",
        )
    return wanted


def _samples(value: Any) -> int:
    samples = validate_count(value, "samples", MIN_SAMPLES, what="number of samples")
    if samples > (most := limits.current().samples):
        raise limits.refuse(
            "samples",
            "samples",
            samples,
            "samples",
            most,
            "sample fewer composites (the quantiles' error shrinks as 1/sqrt(samples))",
        )
    return samples


# Fields checked after the per-field parsers, against the others: the levels given directly (against
# `imts`, `poes`, `target_stat`) and whether runs record contributors (against `disagg_engine`).
CROSS_FIELDS: tuple[str, ...] = ("imls", "contributors")

# Fields a request may leave out.
DEFAULTS: dict[str, Any] = {
    "leaves": None, "gmms": None, "quantiles": DEFAULT_QUANTILES, "samples": 10_000, "disagg_engine": DEFAULT_DISAGG_ENGINE,
    "quantile_method": DEFAULT_QUANTILE_METHOD,
    "closure_tolerance": DEFAULT_CLOSURE_TOLERANCE, "fail_on_closure": False, "exports": EXPORT_FORMATS,
    "epsilon_star": False, "target_stat": "mean",
}  # fmt: skip
# Request fields that are calculation settings: they override the model's (`with_request_settings`),
# so they enter every job key and every result's settings digest.
SETTING_FIELDS: tuple[str, ...] = ("epsilon_star",)


def with_request_settings(model: HazardModel, params: Mapping[str, Any]) -> HazardModel:
    """`model` with the calculation settings a request sets (`SETTING_FIELDS`, already validated)."""
    overrides = {name: params[name] for name in SETTING_FIELDS if name in params and params[name] is not None}
    if not overrides or all(getattr(model.settings, k) == v for k, v in overrides.items()):
        return model
    return replace(model, settings=model.settings.with_overrides(**overrides))


@dataclass(frozen=True)
class Request:
    """What every request has: a model, sites, VS30s, IMTs and the leaves of the source tree."""

    model: HazardModel
    sites: tuple[Site, ...]
    vs30s: tuple[float, ...]
    imts: tuple[str, ...]
    leaves: tuple[Leaf, ...]

    @classmethod
    def parse(cls: type[R], params: Mapping[str, Any], runnable: bool = True) -> R:
        """Validate raw values (keys named as the fields; others are ignored).

        `runnable` also checks that every leaf's source files are here (needed to run OpenQuake,
        not to plan or aggregate)."""
        return parse_request(cls, params, runnable)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The fields this request reads from Params (what the command line offers for it)."""
        return tuple(f.name for f in fields(cls))

    def job_count(self) -> int:
        """OpenQuake jobs the request stands for (what `Limits.jobs` bounds): leaf x VS30 here."""
        return len(self.leaves) * len(self.vs30s)

    def to_conf(self) -> dict[str, Any]:
        """The request as DAG-run conf: what another DAG is started with, or a rerun."""
        conf: dict[str, Any] = {"model": self.model.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "sites":
                conf[f.name] = [s.id for s in value]
            elif f.name == "leaves":
                conf[f.name] = [leaf.id for leaf in value]
            elif f.name == "imls":
                conf[f.name] = {imt: list(levels) for imt, levels in value.items()}
            elif f.name != "model":
                conf[f.name] = list(value) if isinstance(value, tuple) else value
        return conf


def parse_request(cls: type[R], params: Mapping[str, Any], runnable: bool = True) -> R:
    """The one parser: `params` into a request of type `cls`, every field checked, in `PARSERS` order."""
    if params.get("model") in (None, ""):
        raise BadRequest("model", "missing: give DEMO or an nzshm-model version such as NSHM_v1.0.4")
    model = load_model(str(params["model"]))
    params = with_other_entries(params)  # a form's free entries (other_imts, ...) join its picks
    wanted = {f.name for f in fields(cls)} - {"model"}
    values: dict[str, Any] = {"model": model}
    iml_mode = "imls" in wanted and params.get("imls") not in (None, {})
    for name, parse in PARSERS.items():
        if name not in wanted:
            continue
        if name == "poes" and iml_mode:  # levels given directly: each target's PoE is read off the mean curve
            if params.get("poes") not in (None, [], ()):
                raise BadRequest("poes", "give poes or imls (levels per IMT), not both")
            values[name] = ()
            continue
        if name not in params and name not in DEFAULTS:
            raise BadRequest(name, "missing")
        values[name] = parse(params.get(name, DEFAULTS.get(name)), model)
    if "imls" in wanted:
        values["imls"] = validate_imls(params.get("imls"), values["imts"])
        if values["imls"] and values.get("target_stat", "mean") != "mean":
            raise BadRequest("target_stat", "levels given directly (imls) are not read off a curve: leave target_stat at mean")
    if "contributors" in wanted:
        values["contributors"] = _contributors(params.get("contributors"), values["disagg_engine"])
    values["model"] = with_request_settings(model, values)
    request = cls(**values)
    jobs = request.job_count()
    if jobs > (most := limits.current().jobs):
        raise limits.refuse(
            "vs30s" if len(request.vs30s) > 1 else "sites",
            "OpenQuake jobs",
            jobs,
            "jobs",
            most,
            "split the request by VS30, sites or leaves (each part its own run; done jobs are never repeated)",
        )
    if runnable:
        for leaf in request.leaves:  # a missing source file fails now, not after other leaves ran
            model.source_paths(leaf)
    return request


@dataclass(frozen=True)
class HazardRequest(Request):
    """Hazard-curve realizations: one classical OpenQuake run per leaf x VS30, the sites together."""

    def jobs(self, oq_version: str) -> list[JobSpec]:
        """One classical job per leaf x VS30."""
        return [
            hazard_job(self.model, leaf, vs30, self.sites, self.imts, oq_version) for leaf in self.leaves for vs30 in self.vs30s
        ]


@dataclass(frozen=True)
class DisaggRequest(Request):
    """Disaggregation realizations at each PoE (in 50 years) of every leaf x site x VS30 x IMT."""

    poes: tuple[float, ...]
    disagg_engine: str  # "hazardlib" (one pass per leaf x VS30 x site group) or "oq" (`oq engine --run` per run)
    epsilon_star: bool  # disaggregate by epsilon* (a calculation setting: in the key and the settings digest)
    target_stat: str  # the aggregated hazard curve statistic each level is read from: mean, or a quantile ("0.5")
    # IML mode: levels (g) per IMT given directly, instead of `poes` (then empty). Each (IMT, level) is
    # a target of its own, named by the PoE the aggregated mean curve gives the level (`plan.imtl.poe_of_level`).
    imls: dict[str, tuple[float, ...]]
    # the one-pass engine also records each target's rates by source and fault (default: on for it;
    # the `oq` engine cannot, and is refused)
    contributors: bool = False

    @property
    def jobs(self) -> int:
        """Leaf x site x VS30 x IMT x PoE (IML mode: x level of each IMT)."""
        targets = sum(len(levels) for levels in self.imls.values()) if self.imls else len(self.imts) * len(self.poes)
        return len(self.leaves) * len(self.sites) * len(self.vs30s) * targets

    def job_count(self) -> int:
        return self.jobs

    @property
    def runs(self) -> int:
        """OpenQuake runs: the IMTs of one leaf/site/VS30/PoE share one (IML mode: one per level)."""
        return self.jobs if self.imls else self.jobs // len(self.imts)


@dataclass(frozen=True)
class HazardAggregationRequest(Request):
    """Statistics of stored hazard curves over the logic tree, or over a subset of it (`leaves`, `gmms`)."""

    gmms: tuple[str, ...] | None  # None: every GMM branch
    quantiles: tuple[float, ...]
    quantile_method: str  # hazflow.aggregate.methods: auto, meet-in-the-middle, enumeration or sampling

    def tree(self) -> CompositeTree:
        """The composite branches of the request's subset (weights renormalised where it is one)."""
        from hazflow.aggregate.tree import build_tree

        return build_tree(self.model, [leaf.id for leaf in self.leaves], self.gmms)


@dataclass(frozen=True)
class DisaggAggregationRequest(HazardAggregationRequest):
    """Statistics of stored disaggregations by bin; `samples` composites when the tree is too large to enumerate."""

    poes: tuple[float, ...]
    samples: int
    closure_tolerance: float  # a target whose closure is further than this from 1 is flagged
    fail_on_closure: bool  # and then the run fails, naming the targets
    exports: tuple[str, ...]  # formats the `export` task writes (EXPORT_FORMATS); () for none
    epsilon_star: bool  # the realizations to aggregate were disaggregated by epsilon* (checked)
    target_stat: str  # and at levels read off this statistic of the hazard curve (checked)
    imls: dict[str, tuple[float, ...]]  # IML mode: the levels given directly (then `poes` is empty)
