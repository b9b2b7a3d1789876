"""Hazard-realization planning: one classical OpenQuake job per leaf x VS30, the request's sites together."""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
