"""How the quantiles of the composite rates are computed. Pure Python, no imports: the DAGs' Params
read these at parse time.

- `meet-in-the-middle`: exact, without enumerating the composites (`hazflow.aggregate.quantiles`);
  any tree whose independent blocks split into two sides of modest size (NSHM_v1.0.4: 108 and
  9,072 values for 979,776 composites).
- `enumeration`: exact, every composite's rate built and sorted, bin by bin (the reference).
- `sampling`: seeded weighted sampling of composites, with a convergence report on the mean; for
  trees that split into no two modest sides and are too large to enumerate.
- `auto` (the default): the first of these that applies.
"""

from __future__ import annotations

from hazflow.limits import Limits

QUANTILE_METHODS: tuple[str, ...] = ("auto", "meet-in-the-middle", "enumeration", "sampling")
DEFAULT_QUANTILE_METHOD = "auto"
# Composites drawn by `sampling`: at least enough for a 0.99 quantile to have support, at most what
# one worker holds (the draws are (samples, axes) integers; 1e9 was killed for memory after 80 s).
# MAX_SAMPLES is the default limit (the forms' maximum); a deployment sets its own (HAZFLOW_LIMIT_SAMPLES).
MIN_SAMPLES, MAX_SAMPLES = 100, Limits.samples
