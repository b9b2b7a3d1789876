"""Constants the DAG files need at parse time, kept here so parsing imports no domain module."""

from __future__ import annotations

# Same as hazflow.aggregate.stats.DEFAULT_QUANTILES (a test keeps them equal).
QUANTILES: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995)
