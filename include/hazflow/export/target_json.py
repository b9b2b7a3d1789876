"""One aggregated disaggregation target as a JSON document (schema `hazflow.disagg-target/1`,
documented in docs/exports.md): the stored summary plus every statistic's bins.

Values are flat lists in C order over `axes` (TRT, Mag, Dist, Eps; `shape` gives the lengths),
probabilities over the investigation time (`std` as a rate per year, `cov` unitless), as stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from hazflow.exceptions import DataIntegrityError
from hazflow.report.target_summary import DisaggSummary
from hazflow.store import DisaggAggregate

SCHEMA = "hazflow.disagg-target/1"


def target_document(summary: DisaggSummary, aggregates: Sequence[DisaggAggregate]) -> dict[str, Any]:
    """The summary's fields, plus `bins` (axes, shape, TRT names, edges) and `values` by statistic."""
    if not aggregates:
        raise DataIntegrityError(f"{summary.name}: no aggregated statistics to export")
    first = aggregates[0]
    for a in aggregates:
        if a.values.shape != first.values.shape or a.trts != first.trts:
            raise DataIntegrityError(f"{summary.name}: statistic {a.agg} has other bins than {first.agg}")
    provenance = json.loads(first.provenance or "{}")
    return summary.to_dict() | {
        "schema": SCHEMA,
        "closure": first.closure,
        "provenance": provenance,
        "bins": {
            "axes": list(first.axes),
            "shape": list(first.values.shape),
            "trts": list(first.trts),
            "edges": {axis: np.asarray(e, dtype=float).tolist() for axis, e in first.bin_edges.items()},
        },
        "values": {a.agg: np.asarray(a.values, dtype=float).ravel(order="C").tolist() for a in aggregates},
    }


def values_of(document: dict[str, Any], agg: str) -> np.ndarray:
    """A statistic's values back as an array shaped like the bins (the inverse of `target_document`)."""
    return np.asarray(document["values"][agg], dtype=float).reshape(document["bins"]["shape"])
