"""Retry behaviour shared by every hazflow task.

Bad requests and data-integrity errors fail at once (retrying cannot fix them); transient errors
(a busy store, throttling, a lost worker) are retried with exponential backoff; anything else gets
the task's ordinary retries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception="hazflow.exceptions.BadRequest", action=RetryAction.FAIL, reason="bad request: fix the input"),
        RetryRule(exception="hazflow.exceptions.DataIntegrityError", action=RetryAction.FAIL, reason="data integrity"),
        RetryRule(exception="hazflow.exceptions.TransientError", action=RetryAction.RETRY, reason="transient"),
    ],
)

DEFAULT_ARGS = {
    "owner": "hazflow",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,  # a multiplier since Airflow 3.3 (True would mean constant delay)
    "max_retry_delay": timedelta(minutes=10),
    "retry_policy": RETRY_POLICY,
}

# What every hazflow DAG shares: triggered by hand or by another DAG, never catching up.
DAG_DEFAULTS = {
    "schedule": None,
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "default_args": DEFAULT_ARGS,
    "max_active_runs": 4,
}
