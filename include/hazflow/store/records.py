"""What the store holds: ledger entries, realizations (with provenance) and aggregates."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

LedgerState = Literal["ran", "done", "no_ruptures", "failed"]
# ran: OpenQuake finished and its artifacts are kept, not yet ingested;
# done / no_ruptures: ingested (no_ruptures: every source beyond the cut-off, stored as zeros);
# failed: the last attempt failed (see `error`).
FINISHED_STATES: frozenset[str] = frozenset({"done", "no_ruptures"})
RAN_STATES: frozenset[str] = frozenset({"ran", "done", "no_ruptures"})


@dataclass(frozen=True)
class LedgerEntry:
    """Per job key: its state, timings, sizes and provenance."""

    job_key: str
    kind: str
    model: str
    leaf: str
    vs30: float
    sites: tuple[str, ...]  # site codes
    imts: tuple[str, ...]
    state: LedgerState
    poe: float | None = None
    empty: bool = False  # OpenQuake found no ruptures close to the site(s)
    attempts: int = 0
    started_at: str = ""
    finished_at: str = ""
    oq_seconds: float = 0.0
    ingest_seconds: float = 0.0
    hdf5_bytes: int = 0
    rows: int = 0
    artifacts: str = ""  # folder (local) or URI prefix (s3) of calc.hdf5, oq.log and inputs
    oq_version: str = ""
    settings_digest: str = ""
    error: str = ""
    error_class: str = ""  # a failure's class as it crosses process boundaries (hazflow.exceptions.boundary_class)
    log_tail: str = ""  # a failed run's last lines of OpenQuake's log (oq.log), kept with the entry
    spec: str = ""  # the job spec as JSON
    engine: str = ""  # what computed it: "oq" (`oq engine --run`) or "hazardlib" (a one-pass disaggregation)
    artifact_key: str = ""  # where its files are kept: its pass's key ("": its own key)
    pass_jobs: int = 0  # jobs its OpenQuake process computed (1: alone); oq_seconds and hdf5_bytes are its share
    cpu_seconds: float = 0.0  # its share of the process's CPU seconds (user + system)
    max_rss_mb: float = 0.0  # the process's peak resident memory

    def to_json(self) -> str:
        """The entry as every backend keeps it."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> LedgerEntry:
        """An entry from `to_json`'s text; fields an older hazflow did not write take their defaults,
        fields this one no longer has are dropped."""
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        return cls(**data | {"sites": tuple(data["sites"]), "imts": tuple(data["imts"])})


@dataclass(frozen=True)
class HazardRealization:
    """One component realization's hazard curve: leaf x GMM branch at a site, VS30 and IMT.

    `values` are annual probabilities of exceedance of `levels` (g).
    """

    model: str
    leaf: str
    gmm: str  # GmmBranch.id
    site: str  # site code
    vs30: float
    imt: str
    levels: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    job_key: str = ""
    oq_version: str = ""
    settings_digest: str = ""


def contributor_rows(
    names: list[str],
    kinds: list[str],
    rate: np.ndarray,
    mag: np.ndarray,
    rrup: np.ndarray,
    eps: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> np.ndarray:
    """A realization's contributors at a target as one structured array: per source or fault (`name`
    as the pass labels it, "the rest" last; `kind` fault, background or rest) its rate (per year), its
    rate-weighted mean magnitude, rupture distance (km) and epsilon, and the lon/lat of its closest
    rupture point (NaN for the rest)."""
    width = max([1, *(len(n) for n in names)])
    dtype = np.dtype([("name", f"<U{width}"), ("kind", "<U10"), *((f, "<f8") for f in CONTRIBUTOR_FIELDS)])
    out = np.zeros(len(names), dtype)
    out["name"], out["kind"] = names, kinds
    for f, values in zip(CONTRIBUTOR_FIELDS, (rate, mag, rrup, eps, lon, lat), strict=True):
        out[f] = values
    return out


CONTRIBUTOR_FIELDS = ("rate", "mag", "rrup", "eps", "lon", "lat")
NO_CONTRIBUTORS = contributor_rows([], [], *(np.zeros(0),) * 6)


@dataclass(frozen=True)
class DisaggRealization:
    """One component realization's disaggregation at a target (site, VS30, IMT, PoE).

    `values` (shape of `axes`) are probabilities of exceeding `iml` within the investigation
    time, by bin; `bin_edges` holds the numeric axes' edges and `trts` the TRT bins.
    """

    model: str
    leaf: str
    gmm: str
    site: str
    vs30: float
    imt: str
    poe: float  # target PoE in 50 years
    iml: float
    axes: tuple[str, ...]
    trts: tuple[str, ...]
    bin_edges: dict[str, np.ndarray] = field(repr=False)
    values: np.ndarray = field(repr=False)
    job_key: str = ""
    oq_version: str = ""
    settings_digest: str = ""
    target_stat: str = "mean"  # the aggregated hazard curve statistic the level was read from
    # the rates by source and fault (`contributor_rows`), where the run recorded them; empty otherwise
    contributors: np.ndarray = field(default_factory=lambda: NO_CONTRIBUTORS, repr=False)


@dataclass(frozen=True)
class HazardAggregate:
    """A statistic (mean, a quantile, ...) of the model's hazard curve at a site, VS30 and IMT."""

    model: str
    site: str
    vs30: float
    imt: str
    agg: str  # "mean", "std", "cov", or a quantile such as "0.1"
    levels: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    provenance: str = ""  # JSON: realization set, settings digest, engine version


@dataclass(frozen=True)
class DisaggAggregate:
    """A statistic of the model's disaggregation at a target (site, VS30, IMT, PoE).

    `values` has the shape of `axes` (TRT, Mag, Dist, Eps over the model's regions); `closure` is
    the sum over bins of the mean, as a probability, divided by the target's annual PoE (1 = closed).
    """

    model: str
    site: str
    vs30: float
    imt: str
    poe: float
    agg: str
    iml: float
    axes: tuple[str, ...]
    trts: tuple[str, ...]
    bin_edges: dict[str, np.ndarray] = field(repr=False)
    values: np.ndarray = field(repr=False)
    closure: float = float("nan")
    provenance: str = ""
