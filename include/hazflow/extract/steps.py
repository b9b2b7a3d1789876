"""The extract as a whole: `extract_area` (the CLI: compute what is missing if asked, then write the
bundle under a folder) and `keep_area_bundle` (the DAG's `bundle` task: the bundle written to a
scratch folder and kept in the store under `extracts/<model>/`, S3 on aws)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hazflow.config import Config
from hazflow.extract.bundle import BundleManifest, write_bundle
from hazflow.extract.compute import compute_missing
from hazflow.extract.request import AreaRequest

logger = logging.getLogger(__name__)

STORE_PREFIX = "extracts"


def extract_area(params: Mapping[str, Any], config: Config, dest: Path) -> BundleManifest:
    """Validate, compute the missing hazard when `compute` is set (else refuse it), write the bundle under `dest`."""
    request = AreaRequest.parse(params)
    computed = compute_missing(params, config).to_dict() if request.compute else {}
    manifest = write_bundle(request, config.open_store(), dest)
    manifest.computed = computed
    return manifest


def bundle_store_name(request: AreaRequest) -> str:
    """Where the store keeps a request's bundle: `extracts/<model>/<name>` (and `<name>.zip`)."""
    return f"{STORE_PREFIX}/{request.model.name}/{request.name}"


def keep_area_bundle(params: Mapping[str, Any], config: Config) -> BundleManifest:
    """Write the bundle (every curve must be stored) and keep each file and the zip in the store;
    the manifest gives the store's locations. A rerun rewrites the same names."""
    request = AreaRequest.parse(params)
    store = config.open_store()
    prefix = bundle_store_name(request)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_bundle(request, store, Path(tmp))
        for rel in manifest.files:
            store.put_report(f"{prefix}/{rel}", Path(manifest.folder) / rel)
        store.put_report(f"{prefix}.zip", Path(manifest.zip))
    manifest.folder, manifest.zip = store.report_uri(prefix), store.report_uri(f"{prefix}.zip")
    logger.info("bundle %s kept at %s", request.name, manifest.zip)
    return manifest


def summarise_bundle(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the DAG's summary shows of a kept bundle: where it is and what it holds."""
    request = manifest["request"]
    return {
        "bundle": manifest["zip"], "folder": manifest["folder"], "name": manifest["name"], "sites": len(manifest["sites"]),
        "imts": request["imts"], "stat": request["stat"], "vs30": request["vs30"], "model": request["model"],
        "oq_version": sorted(manifest["provenance"].get("oq_version", {})),
    }  # fmt: skip
