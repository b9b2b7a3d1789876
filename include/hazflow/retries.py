"""How long a task waits before retrying a transient error: the deployment's first delay
(`HAZFLOW_RETRY_DELAY`, seconds), doubled at each further retry up to `MAX_RETRY_DELAY_S`.

Read when the DAGs are parsed, so pure Python: no imports beyond the exceptions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from hazflow.exceptions import BadRequest

RETRY_DELAY_ENV = "HAZFLOW_RETRY_DELAY"
DEFAULT_RETRY_DELAY_S = 30.0
MAX_RETRY_DELAY_S = 600.0  # the backoff's ceiling: a throttled AWS API recovers within minutes


def first_retry_delay_s(env: Mapping[str, str] | None = None) -> float:
    """The first retry's delay (s) this deployment sets, or 30 s; a value that is not a number in
    (0, 600] is refused naming the variable."""
    env = os.environ if env is None else env
    raw = env.get(RETRY_DELAY_ENV, "").strip()
    if not raw:
        return DEFAULT_RETRY_DELAY_S
    try:
        seconds = float(raw)
    except ValueError:
        raise BadRequest(RETRY_DELAY_ENV, f"not a number of seconds: {raw!r}") from None
    if not 0 < seconds <= MAX_RETRY_DELAY_S:
        raise BadRequest(RETRY_DELAY_ENV, f"must be > 0 and <= {MAX_RETRY_DELAY_S:.0f} seconds, got {raw}")
    return seconds
