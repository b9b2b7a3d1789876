"""Validation of what a user asks for, before any compute: every error names the field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hazflow.exceptions import BadRequest
from hazflow.jobs import JobSpec, hazard_job
from hazflow.model import HazardModel, Leaf, load_model
from hazflow.sites import Site, resolve_sites

_IMT = re.compile(r"^\s*(?:(PGA)|SA\(\s*(\d+(?:\.\d*)?|\.\d+)\s*\))\s*$", re.IGNORECASE)


def normalise_imt(text: str, field: str = "imts") -> str:
    """`PGA` or `SA(T)` with T > 0 s, written as OpenQuake and NSHM write it (`SA(3.0)`)."""
    match = _IMT.match(str(text))
    if not match:
        raise BadRequest(field, f"unknown IMT {text!r}: expected PGA or SA(period), e.g. SA(0.5)")
    if match.group(1):
        return "PGA"
    period = float(match.group(2))
    if period <= 0:
        raise BadRequest(field, f"unknown IMT {text!r}: the period must be > 0 s")
    return f"SA({period})"


def non_empty(values: Any, field: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise BadRequest(field, f"expected a list, got {values!r}")
    values = list(values)
    if not values:
        raise BadRequest(field, "the list is empty")
    return values


def _unique(values: Sequence[Any], field: str) -> None:
    seen: set[Any] = set()
    dupes = sorted({str(v) for v in values if v in seen or seen.add(v)})
    if dupes:
        raise BadRequest(field, f"duplicate value(s): {', '.join(dupes)}")


def validate_imts(imts: Any, field: str = "imts") -> tuple[str, ...]:
    out = [normalise_imt(i, field) for i in non_empty(imts, field)]
    _unique(out, field)
    return tuple(out)


def validate_vs30s(vs30s: Any, field: str = "vs30s") -> tuple[float, ...]:
    out = []
    for raw in non_empty(vs30s, field):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise BadRequest(field, f"VS30 must be a number in m/s, got {raw!r}") from None
        if not value > 0:
            raise BadRequest(field, f"VS30 must be > 0 m/s, got {raw!r}")
        out.append(value)
    _unique(out, field)
    return tuple(out)


def validate_fractions(values: Any, field: str, what: str, open_interval: bool, allow_empty: bool = False) -> tuple[float, ...]:
    """Distinct numbers in (0, 1) (`open_interval`, e.g. PoEs) or in [0, 1] (e.g. quantiles)."""
    interval = "(0, 1)" if open_interval else "[0, 1]"
    values = list(values) if allow_empty and not isinstance(values, (str, bytes)) else non_empty(values, field)
    out = []
    for raw in values:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise BadRequest(field, f"a {what} must be a number in {interval}, got {raw!r}") from None
        inside = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
        if not inside:
            raise BadRequest(field, f"a {what} must lie in {interval}, got {raw!r}")
        out.append(value)
    _unique(out, field)
    return tuple(out)


def validate_poes(poes: Any, field: str = "poes") -> tuple[float, ...]:
    """Distinct probabilities of exceedance in 50 years, each in (0, 1)."""
    return validate_fractions(poes, field, "PoE", open_interval=True)


def validate_leaves(model: HazardModel, leaves: Any, field: str = "leaves") -> tuple[Leaf, ...]:
    """`None`, `"all"` or `["all"]` mean every leaf; otherwise leaf ids such as CRU-2."""
    if leaves is None or leaves == "all" or leaves == ["all"]:
        return model.leaves
    ids = [str(x).strip() for x in non_empty(leaves, field)]
    _unique(ids, field)
    return tuple(model.leaf(i, field) for i in ids)


@dataclass(frozen=True)
class HazardRequest:
    """A validated request for hazard-curve realizations."""

    model: HazardModel
    sites: tuple[Site, ...]
    vs30s: tuple[float, ...]
    imts: tuple[str, ...]
    leaves: tuple[Leaf, ...]

    @classmethod
    def parse(cls, model: str, sites: Any, vs30s: Any, imts: Any, leaves: Any = None) -> HazardRequest:
        """Validate raw values (from a Params form, the command line or JSON)."""
        hazard_model = load_model(str(model))
        site_list = tuple(resolve_sites(non_empty(sites, "sites"), "sites"))
        request = cls(hazard_model, site_list, validate_vs30s(vs30s), validate_imts(imts), validate_leaves(hazard_model, leaves))
        for leaf in request.leaves:  # fail now, not after other leaves have run
            hazard_model.source_paths(leaf)
        return request

    def jobs(self, oq_version: str) -> list[JobSpec]:
        """One classical job per leaf x VS30."""
        return [
            hazard_job(self.model, leaf, vs30, self.sites, self.imts, oq_version) for leaf in self.leaves for vs30 in self.vs30s
        ]
