"""Choices of settings and request fields that the DAGs' Params offer at parse time, so importing
them loads nothing: how disaggregations are computed, and what an export can write."""

# How disaggregations are computed (`hazflow.openquake.engines`): the one-pass `hazardlib` engine, or
# `oq engine --run` per PoE. The deployment's default is HAZFLOW_DISAGG_ENGINE; a request may choose.
DISAGG_ENGINES: tuple[str, ...] = ("hazardlib", "oq")
DEFAULT_DISAGG_ENGINE = "hazardlib"

# What the `export` task can write (`hazflow.export`).
EXPORT_FORMATS: tuple[str, ...] = ("json", "csv", "parquet")
