"""Export a disaggregation aggregation request's results: for every target its JSON document and
OpenQuake-layout CSV; the toshi-hazard-store datasets of its disaggregation aggregates and
realizations, and of the aggregated hazard curves of its sites, VS30s and IMTs (where stored).

`export_request` writes under a local folder (the CLI); `keep_export` also keeps every file in the
store under `exports/<model>/` (the DAG's `export` task; S3 on aws). Reruns rewrite the same files.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hazflow.choices import EXPORT_FORMATS as FORMATS
from hazflow.config import Config
from hazflow.exceptions import BadRequest, DataIntegrityError, StorageError
from hazflow.export import ths
from hazflow.export.contributors_csv import write_contributors_csv
from hazflow.export.oq_csv import write_disagg_csv
from hazflow.export.target_json import target_document
from hazflow.plan.request import DisaggAggregationRequest
from hazflow.report.target_summary import DisaggSummary, disagg_summary_name

logger = logging.getLogger(__name__)


@dataclass
class ExportManifest:
    """What an export wrote, relative to its folder (or where the store keeps it)."""

    folder: str
    json: list[str] = field(default_factory=list)
    csv: list[str] = field(default_factory=list)
    parquet: list[str] = field(default_factory=list)
    targets: int = 0
    hazard_curves: int = 0  # aggregated hazard curve rows in the THS dataset

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stem(summary_name: str) -> str:
    return summary_name.removesuffix("-summary.json").rpartition("/")[2]


def export_request(params: Mapping[str, Any], config: Config, folder: Path, formats: tuple[str, ...] = FORMATS) -> ExportManifest:
    """Write the exports of every target of the request under `folder`; every target must have
    been aggregated (checked first, naming the missing ones, before anything is written)."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise BadRequest("formats", f"unknown export format(s) {unknown}; choose from {list(FORMATS)}")
    r = DisaggAggregationRequest.parse(params, runnable=False)
    store = config.open_store()
    targets = [(s, v, i, p) for s in r.sites for v in r.vs30s for i in r.imts for p in r.poes]
    summaries, missing = [], []
    for site, vs30, imt, poe in targets:
        name = disagg_summary_name(r.model.name, site, vs30, imt, poe)
        try:
            summaries.append(DisaggSummary.from_dict(json.loads(store.read_report(name))))
        except StorageError:  # reported below, with every other missing target
            missing.append(f"{site.id} vs30={vs30:g} {imt} {poe:g}")
    if missing:
        raise DataIntegrityError(
            f"{len(missing)} of {len(targets)} target(s) not aggregated: {', '.join(missing[:10])}; run disagg_aggregation first"
        )
    manifest = ExportManifest(str(folder), targets=len(summaries))
    agg_rows, rlz_rows, curve_rows = [], [], []
    for s in summaries:
        aggregates = store.get_disagg_aggregates(r.model.name, s.site.code, s.vs30, s.imt, s.poe)
        stem = _stem(s.name)
        if "json" in formats:
            path = folder / "json" / s.site.id / f"{stem}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(target_document(s, aggregates)))
            manifest.json.append(str(path.relative_to(folder)))
        if "csv" in formats:
            path = write_disagg_csv(
                aggregates, s.site, folder / "csv" / s.site.id / f"{stem}.csv", r.model.settings.investigation_time
            )
            manifest.csv.append(str(path.relative_to(folder)))
            if s.contributors:
                path = write_contributors_csv(s.contributors, folder / "csv" / s.site.id / f"{stem}-contributors.csv")
                manifest.csv.append(str(path.relative_to(folder)))
        if "parquet" in formats:
            prov = json.loads(aggregates[0].provenance or "{}")
            calc_id = ths.compatible_calc_id(prov.get("settings_digest", ""), prov.get("oq_version", ""))
            agg_rows += ths.disagg_aggregate_rows(aggregates, calc_id, s.target_stat)
            rlz_rows += ths.disagg_realization_rows(
                store.get_disagg_realizations(r.model.name, s.site.code, s.vs30, s.imt, s.poe)
            )
    if "parquet" in formats:
        for site in r.sites:
            for vs30 in r.vs30s:
                for imt in r.imts:
                    curves = store.get_hazard_aggregates(r.model.name, site.code, vs30, imt)
                    if curves:
                        prov = json.loads(curves[0].provenance or "{}")
                        calc_id = ths.compatible_calc_id(prov.get("settings_digest", ""), prov.get("oq_version", ""))
                        curve_rows += ths.hazard_aggregate_rows(curves, calc_id)
        written = ths.write_dataset(agg_rows, ths.disagg_aggregate_schema(), folder / "ths" / "disagg_aggregates",
                                    ths.DISAGG_PARTITIONS, ths.DISAGG_KEY)  # fmt: skip
        written += ths.write_dataset(rlz_rows, ths.disagg_realization_schema(), folder / "ths" / "disagg_realizations",
                                     ths.DISAGG_PARTITIONS, ths.DISAGG_KEY)  # fmt: skip
        if curve_rows:
            written += ths.write_dataset(curve_rows, ths.hazard_aggregate_schema(), folder / "ths" / "hazard_aggregates",
                                         ths.HAZARD_PARTITIONS, ths.HAZARD_KEY)  # fmt: skip
        manifest.parquet = sorted(str(p.relative_to(folder)) for p in written)
        manifest.hazard_curves = len(curve_rows)
    logger.info(
        "exported %d target(s) to %s: %d JSON, %d CSV, %d parquet file(s), %d hazard curve(s)",
        manifest.targets, folder, len(manifest.json), len(manifest.csv), len(manifest.parquet), manifest.hazard_curves,
    )  # fmt: skip
    return manifest


def keep_export(params: Mapping[str, Any], config: Config) -> ExportManifest:
    """`export_request` of the request's `exports` formats into a scratch folder, then every file
    kept in the store under `exports/<model>/` (same relative paths); the manifest gives the
    store's names. No formats: nothing is written."""
    r = DisaggAggregationRequest.parse(params, runnable=False)
    store = config.open_store()
    if not r.exports:
        return ExportManifest("")
    with tempfile.TemporaryDirectory() as tmp:
        local = export_request(params, config, Path(tmp), r.exports)
        prefix = f"exports/{r.model.name}"
        kept = ExportManifest(store.report_uri(prefix), targets=local.targets, hazard_curves=local.hazard_curves)
        for kind in FORMATS:
            for rel in getattr(local, kind):
                store.put_report(f"{prefix}/{rel}", Path(tmp) / rel)
                getattr(kept, kind).append(f"{prefix}/{rel}")
    return kept
