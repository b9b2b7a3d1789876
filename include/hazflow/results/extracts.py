"""The Area extract view's numbers: the bundles `area_extract` kept in the store, each as its pointer
names it (the current version), with its map PNGs, its zip and its files as store report names, and
how many versions were written."""

from __future__ import annotations

import json
from typing import Any

from hazflow.extract.bundle import KEPT_POINTER, KEPT_PREFIX
from hazflow.store.base import Store


def kept_bundles(store: Store, model: str | None = None) -> list[dict[str, Any]]:
    """Every kept bundle (of one model, or of all), by model and name: `model`, `name`, `version`,
    `versions` (written so far), `zip`, `maps` (PNG) and `files` (store report names of the current
    version), and `uri` (where the store keeps its zip)."""
    names = store.reports(f"{KEPT_PREFIX}/{model}/" if model else f"{KEPT_PREFIX}/")
    bundles = []
    for pointer in sorted(n for n in names if n.endswith(f"/{KEPT_POINTER}")):
        prefix = pointer.removesuffix(f"/{KEPT_POINTER}")
        current = json.loads(store.read_report(pointer))
        folder = f"{prefix}/versions/{current['version']}"
        files = [f"{folder}/{rel}" for rel in current["files"]]
        versions = {n.split("/versions/", 1)[1].split("/", 1)[0] for n in names if n.startswith(f"{prefix}/versions/")}
        bundles.append({
            "model": prefix.split("/")[1],
            "name": current["name"],
            "version": current["version"],
            "versions": len(versions),
            "zip": f"{folder}/{current['name']}.zip",
            "uri": current["zip"],
            "maps": [f for f in files if f.endswith(".png")],
            "files": files,
        })  # fmt: skip
    return bundles
