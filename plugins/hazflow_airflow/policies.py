"""Retry behaviour shared by every hazflow task.

Bad requests, data-integrity errors, permanent storage errors and deployment errors fail at once (retrying cannot fix
them); transient errors (a busy store, AWS throttling and 5xx, lost connections, timeouts, items a
batch write could not land) are retried with exponential backoff; anything else (an OpenQuake
failure) gets the task's ordinary retries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from hazflow.retries import MAX_RETRY_DELAY_S, first_retry_delay_s

RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception="hazflow.exceptions.BadRequest", action=RetryAction.FAIL, reason="bad request: fix the input"),
        RetryRule(exception="hazflow.exceptions.DataIntegrityError", action=RetryAction.FAIL, reason="data integrity"),
        # AWS errors arrive wrapped by hazflow.remote.errors: permanent ones (validation, access denied, a
        # missing table or bucket) as StorageError; throttling, 5xx, lost connections, timeouts and the
        # batch writer's IncompleteWriteError as TransientError.
        RetryRule(exception="hazflow.exceptions.StorageError", action=RetryAction.FAIL, reason="permanent storage error"),
        # ECS errors arrive classified by hazflow.run.ecs: a missing cluster or task definition, access
        # denied or bad parameters as DeploymentError; throttling, capacity still scaling out and a host
        # that went away as TransientError.
        RetryRule(exception="hazflow.exceptions.DeploymentError", action=RetryAction.FAIL, reason="deployment: fix the settings"),
        RetryRule(exception="hazflow.exceptions.TransientError", action=RetryAction.RETRY, reason="transient"),
    ],
)

DEFAULT_ARGS = {
    "owner": "hazflow",
    "retries": 3,
    "retry_delay": timedelta(seconds=first_retry_delay_s()),  # HAZFLOW_RETRY_DELAY, 30 s by default
    "retry_exponential_backoff": 2.0,  # a multiplier since Airflow 3.3 (True would mean constant delay)
    "max_retry_delay": timedelta(seconds=MAX_RETRY_DELAY_S),
    "retry_policy": RETRY_POLICY,
}

# What every hazflow DAG shares: triggered by hand or by another DAG, never catching up.
DAG_DEFAULTS = {
    "schedule": None,
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "default_args": DEFAULT_ARGS,
    "max_active_runs": 4,
    # No schedule: these DAGs run only when started (from the UI, the API, or by another DAG through
    # `hazflow_airflow.chain.start_next` or coverage_backfill), so they are unpaused from creation: a run
    # started from the UI flows on to the end, instead of leaving the run it starts queued behind a pause
    # (the UI's "Unpause on trigger" unpauses only the DAG triggered). coverage_backfill, scheduled, stays paused.
    "is_paused_upon_creation": False,
}
