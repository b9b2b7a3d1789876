"""The step of coverage_backfill: the coverage manifest against the ledger, and one
disagg_realizations request per gap found (`hazflow.plan.coverage`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hazflow.config import Config
from hazflow.plan.coverage import coverage_fill
from hazflow.steps import XCom, deployment


def fill(params: Mapping[str, Any], config: Config | None = None) -> tuple[list[XCom], list[XCom]]:
    """`gaps`: the mapped arguments of one `fill` (TriggerDagRunOperator) per request to start, and
    the gaps found."""
    found = coverage_fill(params["manifest"], params["max_runs"], deployment(config))
    fill = [{"conf": conf | {"runner": params["runner"]}, "wait_for_completion": bool(params["wait"])} for conf in found.confs]
    return fill, [gap.to_dict() for gap in found.gaps]
