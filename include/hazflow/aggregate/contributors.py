"""Which sources and faults drive a target, over the whole logic tree: the contributors table.

Each component realization (leaf x GMM branch) stores its rates by source and fault at the target
(`DisaggRealization.contributors`, recorded in the one-pass disaggregation by
`hazflow.openquake.by_source`). Here the names the pass gave (OpenQuake's source ids, `source@parent`
for the ruptures of a multi-fault source) become *contributors* with a key that is stable across
leaves (`contributor_of`), and their rates are aggregated as the fault systems' are
(`hazflow.aggregate.contributions`):
- `percent`: a contributor's part of the mean rate, exact (the mean is linear in component rates),
  so the table's percents add to 100;
- its spread: the distribution of its share r_c(c) / R(c) over the composite branches (mean and
  quantiles), enumerated or sampled by the same rule and seed as `by_fault_system`;
- its rate-weighted mean magnitude, rupture distance (`rrup`, km) and epsilon;
- the lon/lat of its closest rupture point (of the leaf where it weighs most) and the azimuth to it
  from the site.

How a name becomes a contributor, first rule that applies:
1. the model's own declaration (`HazardModel.contributor_rules`, DEMO's `contributors.json`: source ids
   by pattern, so DEMO's three Wellington-fault branch sources are one "Wellington fault");
2. `source@parent`: the parent fault (kind `fault`); `source@off_rupids`, ruptures of a leaf whose
   sections carry no parent names, is the source itself (kind `source`) with a warning;
3. distributed seismicity (point, multi-point and area sources, as the pass recognised them) of an
   archived (NSHM) model: one background per fault system, `<fault system> background`;
4. otherwise the source id itself, of the kind the pass gave it.
"The rest" (the sources below the pass's floor, `CONTRIBUTORS_FLOOR`) is a row of its own, last.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from hazflow.aggregate.contributions import DEFAULT_SHARE_QUANTILES, composites_considered, on_composites_rows
from hazflow.aggregate.engine import marginal_weights
from hazflow.aggregate.stats import weighted_quantiles
from hazflow.aggregate.tree import CompositeTree
from hazflow.model.logic_tree import HazardModel
from hazflow.model.sites import Site
from hazflow.store.records import DisaggRealization

REST = "the rest"
OFF_TAG = "off_rupids"


@dataclass(frozen=True)
class Contributor:
    """One row of a target's contributors table."""

    name: str
    kind: str  # fault, background, source or rest
    fault_systems: tuple[str, ...]
    rate: float  # its part of the mean rate (per year)
    percent: float  # 100 * rate / mean total: exact, the table's add to 100
    mean_percent: float  # the weighted mean over composite branches of its share, in %
    percentiles: dict[str, float]  # quantile ("0.1") -> its share at that quantile, in %
    m: float | None  # rate-weighted mean magnitude (None without a rate: the rest at 0 %)
    r: float | None  # rate-weighted mean rupture distance (rrup), km
    eps: float | None  # rate-weighted mean epsilon (bin centres)
    lon: float | None = None  # its closest rupture point, where it has a geometry
    lat: float | None = None
    azimuth: float | None = None  # degrees clockwise from north, from the site to (lon, lat)


@dataclass(frozen=True)
class ContributorTable:
    """A target's contributors, largest first and the rest last, and how they were computed."""

    rows: tuple[Contributor, ...]
    total_rate: float  # the sum of the rows' rates: the mean rate by source
    method: str  # the spread: "enumeration" or "sampling" of composite branches
    composites: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(row) | {"fault_systems": list(row.fault_systems)} for row in self.rows]

    @classmethod
    def from_dict(cls, rows: Sequence[Mapping[str, Any]], notes: Mapping[str, Any]) -> ContributorTable | None:
        """The table a summary document holds (`to_list` and its notes); None for an empty list."""
        if not rows:
            return None
        return cls(
            tuple(Contributor(**{**row, "fault_systems": tuple(row["fault_systems"])}) for row in rows),
            float(notes["total_rate"]),
            str(notes["spread"]),
            int(notes["composites"]),
            tuple(notes.get("warnings", ())),
        )


def contributor_of(model: HazardModel, fault_system: str, name: str, kind: str) -> tuple[str, str]:
    """The stable (name, kind) of the pass's label `name` (of `kind`) in a leaf of `fault_system`
    (the module's rules)."""
    source, _, tag = name.partition("@")
    for pattern, declared, declared_kind in model.contributor_rules:
        if fnmatchcase(source, pattern):
            return declared, declared_kind
    if kind == "rest" or name == REST:
        return REST, "rest"
    if tag:
        return (source, "source") if tag == OFF_TAG else (tag, "fault")
    if kind == "background" and model.archived:
        return f"{fault_system} background", "background"
    return name, kind


def azimuth(site: Site, lon: float, lat: float) -> float:
    """The initial great-circle bearing (degrees from north, 0-360) from the site to (lon, lat)."""
    p1, p2, dl = math.radians(site.lat), math.radians(lat), math.radians(lon - site.lon)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def contributor_table(
    model: HazardModel,
    tree: CompositeTree,
    rows: Sequence[DisaggRealization],
    site: Site,
    quantiles: Sequence[float] = DEFAULT_SHARE_QUANTILES,
    n_samples: int = 100_000,
    seed: int = 42,
    budget: int | None = None,
) -> ContributorTable | None:
    """The contributors of one target from its component realizations `rows` (in the tree's component
    order); None when no realization with a rate recorded contributors."""
    if len(rows) != len(tree.components):
        raise ValueError(f"{len(rows)} realizations for {len(tree.components)} components")
    fault_system = {leaf.id: leaf.fault_system for leaf in model.leaves}
    names: dict[str, int] = {}
    kinds: list[str] = []
    systems: list[set[str]] = []
    known: dict[tuple[str, str, str], int] = {}  # (fault system, the pass's name, kind) -> contributor
    members: list[tuple[int, np.ndarray]] = []  # (component, each of its rows' contributor)
    warnings: list[str] = []
    for k, row in enumerate(rows):
        recorded = row.contributors
        if not len(recorded):
            continue
        fs = fault_system[row.leaf]
        index = np.empty(len(recorded), dtype=np.int64)
        for i, (raw, raw_kind) in enumerate(zip(recorded["name"].tolist(), recorded["kind"].tolist(), strict=True)):
            c = known.get((fs, raw, raw_kind))
            if c is None:
                name, kind = contributor_of(model, fs, raw, raw_kind)
                if kind == "source" and raw.endswith("@" + OFF_TAG):
                    note = f"{row.leaf}: its ruptures carry no section or fault names: contributions by source only"
                    warnings += [] if note in warnings else [note]
                if name not in names:
                    names[name] = len(names)
                    kinds.append(kind)
                    systems.append(set())
                c = known[fs, raw, raw_kind] = names[name]
                systems[c].add(fs)
            index[i] = c
        members.append((k, index))
    if not names:
        return None
    if REST not in names:  # the table ends with the rest, at 0 % where no realization had sources under the floor
        names[REST] = len(names)
        kinds.append("rest")
        systems.append(set())
    missing = [f"{r.leaf} x {r.gmm}" for r in rows if not len(r.contributors) and r.values.sum() > 0]
    if missing:
        warnings.append(f"{len(missing)} realization(s) with a rate recorded no contributors ({', '.join(missing[:3])}...)")
    K, C = len(rows), len(names)
    rate, m, r, e = (np.zeros((K, C)) for _ in range(4))
    lon, lat = np.full((K, C), np.nan), np.full((K, C), np.nan)
    for k, index in members:
        part = rows[k].contributors
        rate[k] = np.bincount(index, weights=part["rate"], minlength=C)
        m[k], r[k], e[k] = (np.bincount(index, weights=part["rate"] * part[f], minlength=C) for f in ("mag", "rrup", "eps"))
        placed = ~np.isnan(part["lon"])
        nearest = np.lexsort((part["rrup"][placed], index[placed]))  # by contributor, nearest first
        first = nearest[np.r_[True, np.diff(index[placed][nearest]) != 0]] if placed.any() else nearest
        lon[k, index[placed][first]], lat[k, index[placed][first]] = part["lon"][placed][first], part["lat"][placed][first]

    weights = marginal_weights(tree)  # (K,)
    mean_rate = weights @ rate  # (C,)
    total = float(mean_rate.sum())
    method, count, spread = _spread(tree, rate, quantiles, n_samples, seed, budget)
    out = []
    for name, c in names.items():
        wr = weights * rate[:, c]
        where = int(np.argmax(np.where(np.isnan(lon[:, c]), -1.0, wr)))
        has_point = kinds[c] != "rest" and not np.isnan(lon[where, c])  # the rest is many places
        mean_share, pct = spread[c]
        out.append(
            Contributor(
                name=name,
                kind=kinds[c],
                fault_systems=tuple(sorted(systems[c])),
                rate=float(mean_rate[c]),
                percent=100.0 * float(mean_rate[c]) / total if total > 0 else float("nan"),
                mean_percent=mean_share,
                percentiles={f"{q:g}": float(v) for q, v in zip(quantiles, pct, strict=True)},
                m=_ratio(float(weights @ m[:, c]), float(wr.sum())),
                r=_ratio(float(weights @ r[:, c]), float(wr.sum())),
                eps=_ratio(float(weights @ e[:, c]), float(wr.sum())),
                lon=float(lon[where, c]) if has_point else None,
                lat=float(lat[where, c]) if has_point else None,
                azimuth=round(azimuth(site, float(lon[where, c]), float(lat[where, c])), 1) if has_point else None,
            )
        )
    out.sort(key=lambda row: (row.kind == "rest", -row.rate, row.name))
    return ContributorTable(tuple(out), total, method, count, tuple(warnings))


def _ratio(numerator: float, denominator: float) -> float | None:
    """A rate-weighted mean; None without a rate (JSON has no NaN)."""
    return float(numerator / denominator) if denominator > 0 else None


def _spread(
    tree: CompositeTree, rate: np.ndarray, quantiles: Sequence[float], n_samples: int, seed: int, budget: int | None
) -> tuple[str, int, list[tuple[float, np.ndarray]]]:
    """Each contributor's share of the composite branches' rate: (its weighted mean, its quantiles), in
    %, over every composite, or over `n_samples` drawn by weight where composites x contributors
    exceed the enumeration budget (the rule `contributions` applies to fault systems)."""
    terms = [(term.source_axis, term.gmm_axis, term.rows[i]) for term in tree.terms for i in range(len(term.fault_systems))]
    # the fault systems' rule, with a row per contributor: NSHM's tree (979,776 composites) enumerated
    # for its 4 fault systems, sampled for a table of 100 or more contributors
    method, picks, weights = composites_considered(tree, rate.shape[1], n_samples, seed, budget)
    count = len(weights)

    def on_tree(values: np.ndarray) -> np.ndarray:  # (K, B) component values -> (composites, B) sums
        shape = values.shape[1:]
        parts = [on_composites_rows(tree, values[rows], s, g, picks) for s, g, rows in terms if values[rows].any()]
        return np.sum(parts, axis=0) if parts else np.zeros((len(weights), *shape))

    whole = on_tree(rate.sum(axis=1)[:, None])[:, 0]
    live = whole > 0
    w = weights[live]
    scale = 100.0 / whole[live]
    qs = np.asarray(quantiles, dtype=float)
    out: list[tuple[float, np.ndarray]] = [(float("nan"), np.full(len(qs), np.nan))] * rate.shape[1]
    if not live.any():
        return method, count, out
    # contributors of the same fault systems (terms) together: one gather for all of them
    groups: dict[tuple[int, ...], list[int]] = {}
    for c in range(rate.shape[1]):
        groups.setdefault(tuple(i for i, (_, _, rows) in enumerate(terms) if rate[rows, c].any()), []).append(c)
    for members in groups.values():
        for chunk in range(0, len(members), 32):  # (composites x 32) at most at a time
            cs = members[chunk : chunk + 32]
            share = np.ascontiguousarray((on_tree(rate[:, cs])[live] * scale[:, None]).T)  # (contributors, live composites)
            means = share @ w / w.sum()
            pct = weighted_quantiles(share, w, qs)  # (Q, contributors)
            for j, c in enumerate(cs):
                out[c] = (float(means[j]), pct[:, j])
    return method, count, out
