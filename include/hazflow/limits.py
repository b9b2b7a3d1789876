"""The limits a request is held to before any OpenQuake run, store write or large allocation: one
place, documented (docs/LIMITS.md), each settable by the deployment as `HAZFLOW_LIMIT_<NAME>`.

A refusal names the field, the value and the limit, and says how to split the request. Pure Python,
no imports beyond the exceptions: the request parsers read these on every floor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from hazflow.exceptions import BadRequest

ENV_PREFIX = "HAZFLOW_LIMIT_"


@dataclass(frozen=True)
class Limits:
    """Each limit's default is what a 2-core worker and Airflow's defaults bear; raise them together
    with the machines (and `map_length` with the api-server's `core.max_map_length`)."""

    request_sites: int = 10_000  # sites of one hazard or disaggregation request (NSHM's 0.1 degree grid: 3,741)
    extract_sites: int = 50_000  # the most `max_sites` may be, and candidate sites offered an exposure
    grid_candidates: int = 1_000_000  # grid points in an area's box, counted before any point is made
    polygon_vertices: int = 10_000  # vertices of an area's polygon, all rings
    samples: int = 1_000_000  # composite branches sampled for quantiles (memory: samples x bins x 8 bytes)
    enumeration_budget: int = 2**26  # composite branches x bins enumerated at most, whatever method is named
    # OpenQuake jobs one request stands for: leaf x site x VS30 x IMT x PoE targets of a disaggregation
    # (NSHM's whole campaign, 18 VS30s: 1,080,450), leaf x VS30 classical jobs of a hazard request
    jobs: int = 1_500_000
    map_length: int = 1_024  # mapped task instances; must not exceed the api-server's core.max_map_length

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """The defaults, each overridden by `HAZFLOW_LIMIT_<NAME>` (a whole number >= 1)."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name not in env:
                continue
            text = env[name].strip().replace("_", "")
            try:
                value = int(text)
            except ValueError:
                raise BadRequest(name, f"expected a whole number, got {env[name]!r}") from None
            if value < 1:
                raise BadRequest(name, f"must be >= 1, got {value}")
            values[f.name] = value
        return cls(**values)


def current() -> Limits:
    """The limits of this process's deployment (its environment)."""
    return Limits.from_env()


def refuse(field: str, what: str, value: int, limit_name: str, limit: int, split: str) -> BadRequest:
    """The refusal of a request over a limit: the field, the value, the limit (and its setting), and
    how to split the request."""
    return BadRequest(field, f"{value:,} {what} is over the limit of {limit:,} ({ENV_PREFIX}{limit_name.upper()}): {split}")
