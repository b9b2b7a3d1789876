"""Exports of aggregated results in the formats hazard scientists' tools read: per-target JSON
(`target_json`), OpenQuake's disaggregation CSV layout (`oq_csv`) and toshi-hazard-store 2.x
parquet datasets (`ths`); `request` writes them all for a request. docs/exports.md is the reference; the formats are `hazflow.choices.EXPORT_FORMATS`."""
