"""Aggregated hazard curves from an existing toshi-hazard-store (2.x) parquet dataset.

NSHM users already have their hazard database as a hive-partitioned parquet dataset (partitions
`vs30` and `nloc_0`, the 1-degree cell; columns compatible_calc_id, hazard_model_id, nloc_001,
nloc_0, imt, vs30, aggr, values: 44 float32 levels; FIELD_NOTES.md). `ThsHazardCurves` reads it,
from a local folder or s3://, and answers the planner's one question: the aggregated curves of a
site at a VS30. Set `HAZFLOW_HAZARD_CURVES` to the dataset to plan disaggregations from it instead
of from hazflow's own `hazard_aggregation` results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from hazflow.exceptions import DataIntegrityError, StorageError
from hazflow.model.sites import cell
from hazflow.remote.uris import is_s3, split_s3
from hazflow.store.records import HazardAggregate


def nloc_0(site: str) -> str:
    """The 1-degree cell of a site code, as toshi-hazard-store partitions by it (`-41.0~175.0`)."""
    return cell(site, 1.0)


class ThsHazardCurves:
    """Read-only source of aggregated hazard curves (`get_hazard_aggregates`, as a `Store` has)."""

    def __init__(
        self, uri: str, levels: Sequence[float], endpoint_url: str | None = None, region: str = "ap-southeast-2"
    ) -> None:
        self.uri, self.levels = uri, np.asarray(levels, dtype=float)
        self.endpoint_url, self.region = endpoint_url, region

    def __repr__(self) -> str:
        return f"ThsHazardCurves({self.uri!r})"

    @cached_property
    def dataset(self) -> Any:
        import pyarrow.dataset as ds

        path, filesystem = self.uri, None
        if is_s3(self.uri):
            from pyarrow import fs

            scheme, _, host = (self.endpoint_url or "").partition("://")
            filesystem = fs.S3FileSystem(
                region=self.region,
                endpoint_override=host or None,
                scheme=scheme or "https",
            )  # credentials from the AWS SDK's default chain: variables (session token included), profile, role
            path = "/".join(split_s3(self.uri, key_required=False))
        try:
            return ds.dataset(path, format="parquet", partitioning="hive", filesystem=filesystem)
        except (OSError, ValueError) as e:
            raise StorageError(f"toshi-hazard-store dataset {self.uri} cannot be opened: {e}") from e

    def get_hazard_aggregates(
        self, model: str, site: str, vs30: float, imt: str | None = None, agg: str | None = None
    ) -> list[HazardAggregate]:
        """The curves of one site and VS30 (one filtered scan, pruned to one vs30/nloc_0 partition)."""
        import pyarrow.dataset as ds

        if not math.isclose(vs30, round(vs30)):
            return []  # the dataset keys VS30 as whole m/s
        condition = (
            (ds.field("vs30") == int(round(vs30)))
            & (ds.field("nloc_0") == nloc_0(site))
            & (ds.field("nloc_001") == site)
            & (ds.field("hazard_model_id") == model)
        )
        if imt is not None:
            condition &= ds.field("imt") == imt
        if agg is not None:
            condition &= ds.field("aggr") == agg
        columns = ["imt", "aggr", "values", "compatible_calc_id"]
        table = self.dataset.to_table(columns=columns, filter=condition).to_pydict()
        rows = []
        for i, (imt_i, agg_i, values) in enumerate(zip(table["imt"], table["aggr"], table["values"], strict=True)):
            if len(values) != len(self.levels):
                raise DataIntegrityError(
                    f"{self.uri}: {model} {site} vs30={vs30:g} {imt_i} {agg_i} has {len(values)} values, expected {len(self.levels)} levels"
                )
            provenance = json.dumps(
                {"source": "toshi-hazard-store", "dataset": self.uri, "compatible_calc_id": table["compatible_calc_id"][i]}
            )
            rows.append(
                HazardAggregate(model, site, float(vs30), imt_i, agg_i, self.levels, np.asarray(values, dtype=float), provenance)
            )
        return sorted(rows, key=lambda r: (r.imt, r.agg))
