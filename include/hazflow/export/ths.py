"""toshi-hazard-store 2.x parquet datasets of hazflow's results, so that NSHM's readers (THS's
`pyarrow_dataset` helpers, the web tools) consume them as they consume THS's own:

- disaggregation aggregates (one row per site, VS30, IMT, PoE, statistic), partitioned hive-style
  by `bins_digest`, `vs30` and `nloc_0`;
- disaggregation realizations (one row per leaf x GMM branch), partitioned the same way;
- aggregated hazard curves (one row per site, VS30, IMT, statistic), partitioned by `vs30` and
  `nloc_0` (the dataset `hazflow.plan.ths.ThsHazardCurves` reads).

Column names and types are THS's (`dataset_schema.py` of toshi-hazard-store 2.x): labels as
dictionary<int8, string>, `vs30` int32, values list<float32>. `disagg_bins` is a map from axis
name to bin labels (region names for TRT, bin centres as strings otherwise) in the order of
`disagg_values`, which is flat in C order. `bins_digest` identifies bins that can be combined:
sha256 of the axes and their labels, first 16 hex digits. `probability` is THS's ProbabilityEnum
name (`_10_PCT_IN_50YRS`). `sources_digest` and `gmms_digest` of a realization are sha256[:16] of
hazflow's leaf and GMM branch ids (not nzshm-model's registry digests), `rlz` is `leaf:gmm`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hazflow.model.sites import cell
from hazflow.report.mre import centres
from hazflow.store import DisaggAggregate, DisaggRealization, HazardAggregate

DISAGG_PARTITIONS = ("bins_digest", "vs30", "nloc_0")
HAZARD_PARTITIONS = ("vs30", "nloc_0")
DISAGG_KEY = ("hazard_model_id", "nloc_001", "vs30", "imt", "target_aggr", "probability")  # a file per target
HAZARD_KEY = ("hazard_model_id", "nloc_001", "vs30", "imt")


def _label() -> Any:
    import pyarrow as pa

    return pa.dictionary(pa.int8(), pa.string())


def disagg_aggregate_schema() -> Any:
    """THS 2.x's disaggregation aggregate schema."""
    import pyarrow as pa

    label = _label()
    return pa.schema(
        [("compatible_calc_id", pa.string()), ("hazard_model_id", label), ("bins_digest", label), ("nloc_001", pa.string()),
         ("nloc_0", pa.string()), ("vs30", pa.int32()), ("imt", label), ("target_aggr", label), ("probability", label),
         ("imtl", pa.float32()), ("aggr", label), ("disagg_bins", pa.map_(pa.string(), pa.list_(pa.string()))),
         ("disagg_values", pa.list_(pa.float32()))]
    )  # fmt: skip


def disagg_realization_schema() -> Any:
    """THS 2.x's disaggregation realization schema."""
    import pyarrow as pa

    label = _label()
    return pa.schema(
        [("compatible_calc_id", pa.string()), ("hazard_model_id", label), ("producer_digest", label), ("config_digest", label),
         ("calculation_id", pa.string()), ("bins_digest", label), ("nloc_001", pa.string()), ("nloc_0", pa.string()),
         ("vs30", pa.int32()), ("imt", label), ("target_aggr", label), ("probability", label), ("imtl", pa.float32()),
         ("rlz", label), ("sources_digest", label), ("gmms_digest", label),
         ("disagg_bins", pa.map_(pa.string(), pa.list_(pa.string()))), ("disagg_values", pa.list_(pa.float32()))]
    )  # fmt: skip


def hazard_aggregate_schema() -> Any:
    """THS 2.x's aggregated hazard curve schema."""
    import pyarrow as pa

    label = _label()
    return pa.schema(
        [("compatible_calc_id", pa.string()), ("hazard_model_id", label), ("nloc_001", pa.string()), ("nloc_0", pa.string()),
         ("imt", label), ("vs30", pa.int32()), ("aggr", label), ("values", pa.list_(pa.float32()))]
    )  # fmt: skip


def disagg_bins(axes: Sequence[str], trts: Sequence[str], edges: Mapping[str, np.ndarray]) -> dict[str, list[str]]:
    """{axis: labels} in the order of the values: region names for TRT, bin centres otherwise."""
    return {axis: list(trts) if axis == "TRT" else [f"{c:g}" for c in centres(edges[axis])] for axis in axes}


def bins_digest(bins: Mapping[str, Sequence[str]]) -> str:
    """Which disaggregations can be combined: sha256 of the axes and labels, 16 hex digits."""
    return hashlib.sha256(json.dumps(dict(bins), sort_keys=True).encode()).hexdigest()[:16]


def probability_name(poe: float, years: int = 50) -> str:
    """THS's ProbabilityEnum name of a PoE in 50 years: 0.1 -> `_10_PCT_IN_50YRS`."""
    return f"_{poe * 100:g}_PCT_IN_{years}YRS".replace(".", "_")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compatible_calc_id(settings_digest: str, oq_version: str) -> str:
    """Results from the same OpenQuake version and calculation settings are compatible."""
    return f"hazflow-oq{oq_version}-{settings_digest}"


def disagg_aggregate_rows(aggregates: Sequence[DisaggAggregate], calc_id: str, target_aggr: str = "mean") -> list[dict[str, Any]]:
    rows = []
    for a in aggregates:
        bins = disagg_bins(a.axes, a.trts, a.bin_edges)
        rows.append(
            {"compatible_calc_id": calc_id, "hazard_model_id": a.model, "bins_digest": bins_digest(bins), "nloc_001": a.site,
             "nloc_0": cell(a.site, 1.0), "vs30": int(round(a.vs30)), "imt": a.imt, "target_aggr": target_aggr,
             "probability": probability_name(a.poe), "imtl": a.iml, "aggr": a.agg, "disagg_bins": list(bins.items()),
             "disagg_values": np.asarray(a.values, dtype=np.float32).ravel(order="C")}
        )  # fmt: skip
    return rows


def disagg_realization_rows(realizations: Sequence[DisaggRealization]) -> list[dict[str, Any]]:
    """One row per leaf x GMM branch, its values on its own region's TRT bin (as stored)."""
    rows = []
    for r in realizations:
        bins = disagg_bins(r.axes, r.trts, r.bin_edges)
        rows.append(
            {"compatible_calc_id": compatible_calc_id(r.settings_digest, r.oq_version), "hazard_model_id": r.model,
             "producer_digest": _digest(f"openquake {r.oq_version}"), "config_digest": r.settings_digest,
             "calculation_id": r.job_key, "bins_digest": bins_digest(bins), "nloc_001": r.site, "nloc_0": cell(r.site, 1.0),
             "vs30": int(round(r.vs30)), "imt": r.imt, "target_aggr": r.target_stat, "probability": probability_name(r.poe),
             "imtl": r.iml, "rlz": f"{r.leaf}:{r.gmm}", "sources_digest": _digest(r.leaf), "gmms_digest": _digest(r.gmm),
             "disagg_bins": list(bins.items()), "disagg_values": np.asarray(r.values, dtype=np.float32).ravel(order="C")}
        )  # fmt: skip
    return rows


def hazard_aggregate_rows(aggregates: Sequence[HazardAggregate], calc_id: str) -> list[dict[str, Any]]:
    return [
        {"compatible_calc_id": calc_id, "hazard_model_id": a.model, "nloc_001": a.site, "nloc_0": cell(a.site, 1.0),
         "imt": a.imt, "vs30": int(round(a.vs30)), "aggr": a.agg, "values": np.asarray(a.values, dtype=np.float32)}
        for a in aggregates
    ]  # fmt: skip


def write_dataset(
    rows: Sequence[Mapping[str, Any]], schema: Any, folder: Path, partitions: Sequence[str], key: Sequence[str]
) -> list[Path]:
    """Write `rows` as a hive-partitioned parquet dataset under `folder`, one file per value of the
    `key` columns (named by their digest). A rerun, or another export holding the same rows,
    rewrites the same files: never a duplicate row. Returns the files written."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    partitioning = ds.partitioning(pa.schema([schema.field(p) for p in partitions]), flavor="hive")
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_digest(json.dumps([str(row[k]) for k in key])), []).append(row)
    written: list[Path] = []
    for name, members in groups.items():
        ds.write_dataset(
            pa.Table.from_pylist(members, schema=schema),
            str(folder),
            format="parquet",
            partitioning=partitioning,
            basename_template=f"{name}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
            file_visitor=lambda f: written.append(Path(f.path)),
        )
    return sorted(written)


def read_dataset(folder: Path | str, schema: Any) -> Any:
    """A dataset written here (or by THS) as one pyarrow table with exactly THS's `schema`: hive
    partition values are read back as the schema's types, columns in the schema's order."""
    import pyarrow.dataset as ds

    partitioning = ds.HivePartitioning.discover(infer_dictionary=True)
    table = ds.dataset(str(folder), format="parquet", partitioning=partitioning).to_table()
    return table.select(schema.names).cast(schema)
