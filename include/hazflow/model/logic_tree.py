"""Logic trees of a seismic hazard model, in nzshm-model's own terms.

A *leaf* is one branch of one fault system of the source logic tree (NSHM_v1.0.4 has 49): the
sources of one OpenQuake job. A *GMM branch* is one ground-motion model of one tectonic region.
A *component realization* is a leaf x one GMM branch of the leaf's region. NSHM versions come from
nzshm-model; DEMO is defined in the same JSON format in include/hazflow-data/models/demo and goes through the
same code path.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hazflow.config import Config
from hazflow.exceptions import BadRequest
from hazflow.model.nshm import NSHM_VS30_RANGE
from hazflow.model.settings import CalcSettings

if TYPE_CHECKING:
    from hazflow.model.archives import SourceArchive

LOCAL_MODELS = ("DEMO",)  # hazflow's own models, folders of the deployment's models_dir


@dataclass(frozen=True)
class GmmBranch:
    """One ground-motion model (with its arguments) of one tectonic region."""

    trt: str
    gsim_name: str
    gsim_args: tuple[tuple[str, Any], ...]
    weight: float

    @property
    def id(self) -> str:
        """Readable, stable id, as nzshm-model's branch registry writes it: `Stafford2022(mu_branch=Upper)`."""
        args = ", ".join(f"{k}={v}" for k, v in self.gsim_args)
        return f"{self.gsim_name}({args})"

    @property
    def uncertainty(self) -> str:
        """The `uncertaintyModel` text of an OpenQuake GMM logic tree."""
        lines = [f"[{self.gsim_name}]"] + [f"{k} = {_toml_value(v)}" for k, v in self.gsim_args]
        return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def gmm_identity(uncertainty: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """Parse OpenQuake's uncertainty text (`[Name]\\nkey = value`) to (name, sorted args).

    OpenQuake does not keep the branch ids of the logic-tree file, so this is how a realization's
    GMM is recognised. Numbers compare as floats.
    """
    text = uncertainty.strip()
    if not text.startswith("["):
        text = f"[{text}]"
    parsed = tomllib.loads(text)
    if len(parsed) != 1:
        raise ValueError(f"expected one GMM in {uncertainty!r}")
    ((name, args),) = parsed.items()
    norm = tuple(sorted((k, float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in args.items()))
    return name, norm


@dataclass(frozen=True)
class Leaf:
    """One source-logic-tree branch of one fault system: one OpenQuake job's sources."""

    id: str  # e.g. "CRU-2": fault system short name and 1-based position
    fault_system: str
    position: int
    weight: float
    trt: str
    sources: tuple[str, ...]  # NRML files (DEMO) or toshi ids of NRML archives (NSHM)
    tag: str  # the branch's attribute values, as nzshm-model prints them
    source_kinds: tuple[str, ...] = ()  # per source, nzshm-model's type: "inversion" or "distributed"


@dataclass(frozen=True)
class SourceGroup:
    """Fault systems whose leaves are chosen together, with the allowed choices and their weights.

    An uncorrelated fault system is a group of one whose choices are its leaves. Correlated fault
    systems (NSHM_v1.0.4 ties each HIK branch to one PUY branch) form one group whose choices are
    the correlations: 9 for HIK+PUY instead of 27 pairs.
    """

    fault_systems: tuple[str, ...]
    choices: tuple[tuple[str, ...], ...]  # leaf ids, one per fault system, per choice
    weights: tuple[float, ...]


@dataclass(frozen=True)
class HazardModel:
    """A model's leaves, GMM branches, source-tree groups and calculation settings."""

    name: str
    title: str
    leaves: tuple[Leaf, ...]
    gmm_branches: tuple[GmmBranch, ...]
    settings: CalcSettings
    source_dir: Path | None  # where the NRML files are (DEMO); None for archives by toshi id
    source_groups: tuple[SourceGroup, ...] = ()
    archived: bool = False  # sources are toshi ids of NRML archives (hazflow.model.archives)
    vs30_range: tuple[float, float] = NSHM_VS30_RANGE  # m/s, a request's VS30s lie within (Config.vs30_range)
    # (source id pattern, contributor name, kind): how the model names its sources in a contributors
    # table (`hazflow.aggregate.contributors`); DEMO's `contributors.json`
    contributor_rules: tuple[tuple[str, str, str], ...] = ()

    @property
    def fault_systems(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(leaf.fault_system for leaf in self.leaves))

    @property
    def trts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.trt for g in self.gmm_branches))

    def leaf(self, leaf_id: str, field: str = "leaves") -> Leaf:
        for leaf in self.leaves:
            if leaf.id == leaf_id:
                return leaf
        raise BadRequest(field, f"unknown leaf {leaf_id!r} of model {self.name}; leaves are {', '.join(self.leaf_ids)}")

    @property
    def leaf_ids(self) -> tuple[str, ...]:
        return tuple(leaf.id for leaf in self.leaves)

    def gmms_for(self, trt: str) -> tuple[GmmBranch, ...]:
        found = tuple(g for g in self.gmm_branches if g.trt == trt)
        if not found:
            raise BadRequest("model", f"model {self.name} has no GMM branch for tectonic region {trt!r}")
        return found

    def source_archives(self, leaf: Leaf) -> list[SourceArchive]:
        """The checked, unpacked archives of an archived model's leaf (`hazflow.model.archives`);
        `ArchiveError` naming the leaf, the toshi id and every place looked when one cannot be had."""
        from hazflow.model.archives import resolver

        if not self.archived:
            raise BadRequest("model", f"the sources of {self.name} are files, not archives")
        kinds = leaf.source_kinds or ("",) * len(leaf.sources)
        found = resolver()
        return [found.resolve(toshi_id, kind, leaf.id) for toshi_id, kind in zip(leaf.sources, kinds, strict=True)]

    def source_paths(self, leaf: Leaf) -> list[Path]:
        """The NRML files of a leaf: the model's files, or the NRML members of its archives; a clear
        error where they cannot be had."""
        if self.archived:
            return [a.folder / name for a in self.source_archives(leaf) for name in a.nrml_files]
        if self.source_dir is None:
            raise BadRequest("model", f"the source files of {self.name} (leaf {leaf.id}) are not available here")
        paths = [self.source_dir / s for s in leaf.sources]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise BadRequest("model", f"source file(s) of leaf {leaf.id} not found: {missing}")
        return paths


def model_names() -> list[str]:
    import nzshm_model

    return sorted(LOCAL_MODELS) + list(nzshm_model.all_model_versions())


def load_model(name: str) -> HazardModel:
    """Load a model by name: DEMO (`demo/` of the deployment's `Config.models_dir`, by default
    include/hazflow-data/models) or an nzshm-model version such as NSHM_v1.0.4."""
    config = Config.from_env()
    model = _load_model(name, config.models_dir if name in LOCAL_MODELS else None)
    return replace(model, vs30_range=config.vs30_range) if config.vs30_range else model


@lru_cache(maxsize=8)
def _load_model(name: str, models_dir: Path | None) -> HazardModel:
    import nzshm_model
    from nzshm_model.logic_tree import GMCMLogicTree, SourceLogicTree

    if models_dir is not None:
        folder = models_dir / name.lower()
        slt = SourceLogicTree.from_json(folder / "source_logic_tree.json")
        gmcm = GMCMLogicTree.from_json(folder / "gmcm_logic_tree.json")
        settings_file = folder / "calc_settings.json"
        overrides = json.loads(settings_file.read_text()) if settings_file.exists() else {}
        settings = CalcSettings.from_dict(overrides)
        rules_file = folder / "contributors.json"
        rules = json.loads(rules_file.read_text())["contributors"] if rules_file.exists() else []
        model = _build(name, slt.title, slt, gmcm, settings, folder)
        return replace(model, contributor_rules=tuple((r["sources"], r["name"], r["kind"]) for r in rules))
    if name not in nzshm_model.all_model_versions():
        raise BadRequest("model", f"unknown model {name!r}; known models: {', '.join(model_names())}")
    nshm = nzshm_model.get_model_version(name)
    settings = CalcSettings.from_hazard_config(nshm.hazard_config, name)
    return _build(name, nshm.title, nshm.source_logic_tree, nshm.gmm_logic_tree, settings, None, archived=True)


def _build(
    name: str, title: str, slt: Any, gmcm: Any, settings: CalcSettings, source_dir: Path | None, archived: bool = False
) -> HazardModel:
    leaves = []
    for branch_set in slt.branch_sets:
        for position, branch in enumerate(branch_set.branches, start=1):
            if len(branch.tectonic_region_types) != 1:
                raise BadRequest("model", f"{name} {branch_set.short_name}: a leaf must have exactly one tectonic region")
            leaves.append(
                Leaf(
                    id=f"{branch_set.short_name}-{position}",
                    fault_system=branch_set.short_name,
                    position=position,
                    weight=float(branch.weight),
                    trt=branch.tectonic_region_types[0],
                    sources=tuple(s.nrml_id for s in branch.sources),
                    tag=str(branch.values),
                    source_kinds=tuple(str(getattr(s, "type", "")) for s in branch.sources),
                )
            )
    gmms = tuple(
        GmmBranch(b.tectonic_region_type, b.gsim_name, tuple(b.gsim_args.items()), float(b.weight))
        for branch_set in gmcm.branch_sets
        for b in branch_set.branches
    )
    return HazardModel(name, title, tuple(leaves), gmms, settings, source_dir, _source_groups(name, slt), archived)


def _source_groups(name: str, slt: Any) -> tuple[SourceGroup, ...]:
    """Groups of the source tree: one per set of correlated fault systems, one per other fault system."""
    leaf_of: list[tuple[Any, str, str]] = [
        (branch, bs.short_name, f"{bs.short_name}-{i}") for bs in slt.branch_sets for i, branch in enumerate(bs.branches, start=1)
    ]

    def find(branch: Any) -> tuple[str, str]:
        for candidate, fault_system, leaf_id in leaf_of:  # nzshm-model's correlations hold equal, not identical, branches
            if candidate == branch:
                return fault_system, leaf_id
        raise BadRequest("model", f"{name}: a correlated branch is not in the source logic tree")

    correlated: dict[tuple[str, ...], tuple[list[tuple[str, ...]], list[float]]] = {}
    for corr in slt.correlations.correlation_groups:
        pairs = sorted(find(b) for b in [corr.primary_branch, *corr.associated_branches])
        key = tuple(fs for fs, _ in pairs)
        choices, weights = correlated.setdefault(key, ([], []))
        choices.append(tuple(leaf for _, leaf in pairs))
        weights.append(float(corr.weight))
    in_groups = {fs for key in correlated for fs in key}
    groups = [SourceGroup(key, tuple(c), tuple(w)) for key, (c, w) in correlated.items()]
    for bs in slt.branch_sets:
        if bs.short_name not in in_groups:
            ids = tuple((f"{bs.short_name}-{i}",) for i in range(1, len(bs.branches) + 1))
            groups.append(SourceGroup((bs.short_name,), ids, tuple(float(b.weight) for b in bs.branches)))
    order = [bs.short_name for bs in slt.branch_sets]
    return tuple(sorted(groups, key=lambda g: min(order.index(fs) for fs in g.fault_systems)))
