"""The summaries steps return (XCom values, command-line JSON): counts of what ran, what was
stored and what a scientist reads first. Nothing here prints; callers log or show them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hazflow.exceptions import DataIntegrityError
from hazflow.store import DisaggAggregate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModalBin:
    """The bin with the largest mean contribution: its TRT and the centres of its Mag, Dist (km) and Eps bins."""

    trt: str
    mag: float
    dist: float
    eps: float

    def describe(self) -> str:
        """`Active Shallow Crust M7.10 2.5 km eps 0.25`"""
        return f"{self.trt} M{self.mag:.2f} {self.dist:g} km eps {self.eps:.2f}"


def modal_bin(mean: DisaggAggregate) -> ModalBin:
    """The modal TRT-Mag-Dist-Eps bin of a mean disaggregation (values shaped (TRT, Mag, Dist, Eps))."""
    index = np.unravel_index(int(np.argmax(mean.values)), mean.values.shape)
    mag, dist, eps = (
        float(mean.bin_edges[axis][i] + mean.bin_edges[axis][i + 1]) / 2
        for axis, i in zip(("Mag", "Dist", "Eps"), index[1:], strict=True)
    )
    return ModalBin(mean.trts[index[0]], mag, dist, eps)


def summarise_outcomes(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by state of jobs run and ingested (`Outcome.to_dict()` plus `openquake_ran`); the
    jobs OpenQuake computed in this DAG run (not reused), the passes that did it, their seconds and
    HDF5 bytes."""
    outcomes = list(outcomes)
    states = Counter(o["state"] for o in outcomes)
    ran = [o for o in outcomes if o["openquake_ran"]]
    return {
        "jobs": len(outcomes),
        "states": dict(sorted(states.items())),
        "openquake_runs": len(ran),
        "openquake_passes": len({o.get("pass_key") or o["job_key"] for o in ran}),
        "reused": len(outcomes) - len(ran),
        "oq_seconds": round(sum(o["oq_seconds"] for o in ran), 1),
        "hdf5_bytes": sum(o["hdf5_bytes"] for o in ran),
        "rows_ingested": sum(o["rows"] for o in outcomes if not o["skipped"]),
    }


def summarise_hazard_aggregation(batches: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Targets, statistics and plots of every batch (`HazardBatchResult.to_dict()`)."""
    return {
        "targets": sum(b["targets"] for b in batches),
        "statistics": sum(b["statistics"] for b in batches),
        "plots": [p for b in batches for p in b["plots"]],
    }


def summarise_disagg_aggregation(
    batches: Sequence[Sequence[Mapping[str, Any]]],
    closure_tolerance: float,
    fail_on_closure: bool,
    exported: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Per target label: closure, modal bin, summary (mean and modal M-R-eps, fault systems' shares), with
    the method and level (`DisaggTargetResult.to_dict()`),
    and the targets whose closure is outside 1 +- `closure_tolerance`; with `fail_on_closure`, a
    `DataIntegrityError` naming them (raised after every target was aggregated, stored and plotted)."""
    results = [r for batch in batches for r in batch]
    outside = [r["label"] for r in results if not r.get("closure_ok", True)]
    if outside:
        logger.warning("closure outside 1 +- %g: %s", closure_tolerance, ", ".join(outside))
    if outside and fail_on_closure:
        shown = ", ".join(f"{r['label']} ({r['closure']:.4f})" for r in results if r["label"] in outside)
        raise DataIntegrityError(
            f"{len(outside)} of {len(results)} target(s) have a closure outside 1 +- {closure_tolerance:g}: {shown}; "
            "their statistics and plots are stored and flagged"
        )
    return {
        "targets": len(results),
        "closure_tolerance": closure_tolerance,
        "closure_outside": outside,
        "closure": {r["label"]: r["closure"] for r in results},
        "modal": {r["label"]: r["modal"] for r in results},
        "iml": {r["label"]: r["iml"] for r in results},
        "method": {r["label"]: r["method"] for r in results},
        "summary": {r["label"]: r.get("summary", "") for r in results},
        "mean_mre": {r["label"]: r.get("mean_mre", "") for r in results},
        "plots": [p for r in results for p in r.get("plots") or [r["plot"]]],
        "exports": _exports(exported),
    }


def _exports(manifest: Mapping[str, Any] | None) -> dict[str, Any]:
    """Where the export task kept its files and how many of each kind (`ExportManifest.to_dict()`)."""
    if not manifest or not manifest.get("folder"):
        return {}
    return {"folder": manifest["folder"]} | {k: len(manifest[k]) for k in ("json", "csv", "parquet")}
