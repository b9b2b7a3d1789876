"""Validators of single request fields: each returns the normalised value or raises `BadRequest`
naming the field and saying what was expected and what was found."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hazflow import limits
from hazflow.exceptions import BadRequest
from hazflow.model.logic_tree import HazardModel, Leaf
from hazflow.model.periods import check_sa_periods

_IMT = re.compile(r"^\s*(?:(PGA)|SA\(\s*(\d+(?:\.\d*)?|\.\d+)\s*\))\s*$", re.IGNORECASE)


def normalise_imt(text: str, field: str = "imts") -> str:
    """`PGA` or `SA(T)` with T > 0 s, written as OpenQuake and NSHM write it.

    >>> normalise_imt("SA(3)"), normalise_imt("pga")
    ('SA(3.0)', 'PGA')
    """
    match = _IMT.match(str(text))
    if not match:
        raise BadRequest(field, f"unknown IMT {text!r}: expected PGA or SA(period), e.g. SA(0.5)")
    if match.group(1):
        return "PGA"
    period = float(match.group(2))
    if period <= 0:
        raise BadRequest(field, f"unknown IMT {text!r}: the period must be > 0 s")
    return f"SA({period})"


def as_list(values: Any, field: str) -> list[Any]:
    """`values` as a list; a string, a mapping or a scalar is refused."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise BadRequest(field, f"expected a list, got {values!r}")
    return list(values)


def non_empty(values: Any, field: str) -> list[Any]:
    """`values` as a list; a string, a mapping, a scalar or an empty list is refused."""
    out = as_list(values, field)
    if not out:
        raise BadRequest(field, "the list is empty")
    return out


def unique(values: Sequence[Any], field: str) -> None:
    """Refuse repeated values, naming them."""
    seen: set[Any] = set()
    dupes: set[str] = set()
    for value in values:
        if value in seen:
            dupes.add(str(value))
        seen.add(value)
    if dupes:
        raise BadRequest(field, f"duplicate value(s): {', '.join(sorted(dupes))}")


def validate_imts(imts: Any, field: str = "imts", model: str | None = None) -> tuple[str, ...]:
    """Normalised IMTs, none twice, each SA period within the span `model`'s GMMs support."""
    out = tuple(normalise_imt(i, field) for i in non_empty(imts, field))
    unique(out, field)
    if model is not None:
        check_sa_periods(out, model, field)
    return out


def vs30_value(raw: Any, field: str = "vs30s", where: str = "", bounds: tuple[float, float] | None = None) -> float:
    """A VS30: whole m/s above 0, as NSHM and toshi-hazard-store key it (`400`, not `400.0001`, which
    the keys and the rendered site model would take for 400), within `bounds` (the model's range) when
    given. `where` prefixes the message (a line)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BadRequest(field, f"{where}VS30 must be a number in m/s, got {raw!r}") from None
    if isinstance(raw, bool) or not math.isfinite(value):
        raise BadRequest(field, f"{where}VS30 must be a finite number in m/s, got {raw!r}")
    if not value > 0:
        raise BadRequest(field, f"{where}VS30 must be > 0 m/s, got {raw!r}")
    if value != int(value):
        raise BadRequest(field, f"{where}VS30 is whole m/s (as NSHM and toshi-hazard-store key it), got {raw!r}")
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise BadRequest(
            field,
            f"{where}VS30 {value:g} m/s is outside the model's range, {bounds[0]:g} to {bounds[1]:g} m/s "
            "(HAZFLOW_VS30_RANGE sets another)",
        )
    return value


def validate_vs30s(vs30s: Any, field: str = "vs30s", bounds: tuple[float, float] | None = None) -> tuple[float, ...]:
    """Distinct VS30s, each whole m/s above 0 and within `bounds` (`vs30_value`)."""
    out = [vs30_value(raw, field, bounds=bounds) for raw in non_empty(vs30s, field)]
    unique(out, field)
    return tuple(out)


def validate_fractions(values: Any, field: str, what: str, open_interval: bool, allow_empty: bool = False) -> tuple[float, ...]:
    """Distinct numbers in (0, 1) (`open_interval`, e.g. PoEs) or in [0, 1] (e.g. quantiles)."""
    interval = "(0, 1)" if open_interval else "[0, 1]"
    raws = as_list(values, field) if allow_empty else non_empty(values, field)
    out = []
    for raw in raws:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise BadRequest(field, f"a {what} must be a number in {interval}, got {raw!r}") from None
        inside = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
        if not inside:
            raise BadRequest(field, f"a {what} must lie in {interval}, got {raw!r}")
        if float(f"{value:g}") != value:  # keys and file names write it with 6 significant digits
            raise BadRequest(field, f"a {what} has at most 6 significant digits (keys name it so), got {raw!r}")
        out.append(value)
    unique(out, field)
    return tuple(out)


def validate_poes(poes: Any, field: str = "poes") -> tuple[float, ...]:
    """Distinct probabilities of exceedance in 50 years, each in (0, 1)."""
    return validate_fractions(poes, field, "PoE", open_interval=True)


def validate_quantiles(quantiles: Any, field: str = "quantiles") -> tuple[float, ...]:
    """Distinct quantiles in [0, 1]; none at all is allowed (mean, std and cov only)."""
    return validate_fractions(quantiles, field, "quantile", open_interval=False, allow_empty=True)


def _all(values: Any) -> bool:
    return values is None or values == "all" or values == ["all"]


def validate_leaves(model: HazardModel, leaves: Any, field: str = "leaves") -> tuple[Leaf, ...]:
    """`None`, `"all"` or `["all"]` mean every leaf; otherwise leaf ids such as CRU-2."""
    if _all(leaves):
        return model.leaves
    ids = [str(x).strip() for x in non_empty(leaves, field)]
    unique(ids, field)
    return tuple(model.leaf(i, field) for i in ids)


def validate_gmms(model: HazardModel, gmms: Any, field: str = "gmms") -> tuple[str, ...] | None:
    """`None`, `"all"` or `["all"]` (None: every GMM branch); otherwise branch ids of the model."""
    if _all(gmms):
        return None
    ids = [str(x).strip() for x in non_empty(gmms, field)]
    unique(ids, field)
    known = {g.id for g in model.gmm_branches}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise BadRequest(field, f"unknown GMM branch id(s) {unknown} of {model.name}; known: {sorted(known)}")
    return tuple(ids)


def validate_choice(value: Any, field: str, choices: Sequence[str]) -> str:
    """One of `choices`."""
    if value not in choices:
        raise BadRequest(field, f"expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def validate_choices(value: Any, field: str, choices: Sequence[str]) -> tuple[str, ...]:
    """A list of distinct `choices`, possibly empty, in the order given."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BadRequest(field, f"expected a list of {', '.join(choices)}, got {value!r}")
    chosen = tuple(validate_choice(v, field, choices) for v in value)
    if len(set(chosen)) != len(chosen):
        raise BadRequest(field, f"repeated value in {list(value)}")
    return chosen


def validate_imls(value: Any, imts: Sequence[str], field: str = "imls") -> dict[str, tuple[float, ...]]:
    """IML mode: {IMT: level (g) or [levels]} with levels for exactly the request's `imts`; `{}` or
    None: PoE mode (no levels given)."""
    if value is None or value == {}:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(field, f"expected {{IMT: level in g, or a list of levels}}, got {value!r}")
    out: dict[str, tuple[float, ...]] = {}
    given: dict[str, str] = {}
    for raw_imt, raw in value.items():
        imt = normalise_imt(raw_imt, field)
        if imt in given:
            raise BadRequest(field, f"{imt} given twice (as {given[imt]!r} and {raw_imt!r}): give its levels once, as a list")
        given[imt] = str(raw_imt)
        levels = raw if isinstance(raw, (list, tuple)) else [raw]
        parsed = []
        for level in non_empty(levels, f"{field}.{imt}"):
            if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < float(level) < math.inf:
                raise BadRequest(field, f"{imt}: a level must be a number of g > 0, got {level!r}")
            parsed.append(float(level))
        unique(parsed, f"{field}.{imt}")
        out[imt] = tuple(parsed)
    if set(out) != set(imts):
        raise BadRequest(field, f"give levels for exactly the imts {list(imts)}, got them for {sorted(out)}")
    return {imt: out[imt] for imt in imts}


def validate_target_stat(value: Any, field: str = "target_stat") -> str:
    """`mean`, or a quantile in [0, 1] named as the aggregates are (0.5 -> "0.5")."""
    if value == "mean":
        return "mean"
    try:
        q = float(value)
    except (TypeError, ValueError):
        q = float("nan")
    if isinstance(value, bool) or not 0.0 <= q <= 1.0:
        raise BadRequest(field, f"expected mean or a quantile in [0, 1] such as 0.5, got {value!r}")
    return f"{q:g}"


def validate_tolerance(value: Any, field: str = "closure_tolerance") -> float:
    """A relative tolerance in (0, 1): 0.05 accepts a closure within 5 % of 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) < 1:
        raise BadRequest(field, f"expected a fraction in (0, 1) such as 0.05, got {value!r}")
    return float(value)


def validate_flag(value: Any, field: str) -> bool:
    """true or false (JSON booleans; no strings, so that "false" is not taken for true)."""
    if not isinstance(value, bool):
        raise BadRequest(field, f"expected true or false, got {value!r}")
    return value


def validate_count(value: Any, field: str, least: int = 1, most: int | None = None, what: str = "number") -> int:
    """A whole number in [least, most]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise BadRequest(field, f"expected a whole {what}, got {value!r}")
    if int(value) < least or (most is not None and int(value) > most):
        upper = f", {most}" if most is not None else ", ..."
        raise BadRequest(field, f"{value} is outside [{least}{upper}]")
    return int(value)


def validate_batch_cap(value: Any, field: str = "batch_cap") -> int:
    """A number of batches (mapped task instances) in [1, the deployment's map limit] (1,024 by default)."""
    most = limits.current().map_length
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value):
        if not 1 <= int(value) <= most:
            raise BadRequest(
                field,
                f"{value} batches is outside [1, {most}]: Airflow maps at most {most} "
                f"(core.max_map_length; {limits.ENV_PREFIX}MAP_LENGTH)",
            )
    return validate_count(value, field, 1, most, "number of batches")


# Fields a form offers as a pick list, each with a free-entry field `other_<name>` beside it (the
# Airflow form's multi-select takes only what it offers).
PICK_LIST_FIELDS: dict[str, Callable[[Any, str], tuple[Any, ...]]] = {
    "vs30s": validate_vs30s,
    "imts": validate_imts,
    "poes": validate_poes,
}


def with_other_entries(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` with each free entry `other_<name>` added to the picks `<name>` (`PICK_LIST_FIELDS`),
    each checked under its own field name; a value both picked and entered counts once.

    >>> with_other_entries({"poes": ["0.1"], "other_poes": ["0.25", "0.1"]})
    {'poes': [0.1, 0.25]}
    >>> with_other_entries({"imts": None, "other_imts": ["sa(0.75)"]})
    {'imts': ['SA(0.75)']}
    """
    out = dict(params)
    for name, validate in PICK_LIST_FIELDS.items():
        other = f"other_{name}"
        entered = out.pop(other, None)
        if entered in (None, [], (), ""):
            continue
        added = validate(entered, other)
        picked = validate(out[name], name) if out.get(name) not in (None, [], ()) else ()
        out[name] = list(dict.fromkeys((*picked, *added)))
    return out
