"""Hazard-realization planning: one classical OpenQuake job per leaf x VS30, the request's sites together."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from hazflow.config import Config
from hazflow.plan.jobs import JobSpec
from hazflow.plan.request import HazardRequest

logger = logging.getLogger(__name__)


def plan_hazard(params: Mapping[str, Any], config: Config) -> list[JobSpec]:
    """Validate a request (Params or command line) before any compute; every job spec in leaf x VS30
    order. Jobs already done are planned too: running one the ledger has is a no-op."""
    from hazflow.openquake.runner import engine_version

    request = HazardRequest.parse(params, runnable=True)
    specs = request.jobs(engine_version(config.oq_python))
    logger.info("hazard request of %s: %d OpenQuake job(s) (leaf x VS30)", request.model.name, len(specs))
    return specs


def summarise_hazard_request(params: Mapping[str, Any], outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """hazard_realizations' summary: the counts of `summarise_outcomes`, and `aggregation_conf`, the
    hazard_aggregation request of exactly this realization set (model, sites, VS30s, IMTs, leaves)."""
    from hazflow.report.summary import summarise_outcomes

    conf = HazardRequest.parse(params, runnable=False).to_conf()
    return summarise_outcomes(outcomes) | {"aggregation_conf": conf}
