"""Background and scheduled work: every job runs with source "job" so its changes are audited as such."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from huey.contrib.djhuey import db_periodic_task, db_task

from gatehouse.core import context
from gatehouse.core.context import Source


def _in_job_context(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def run(*args, **kwargs):
        with context.change_context(
            source=Source.JOB, request_id=context.new_request_id(), actor=None, actor_label=f"job:{name}"
        ):
            return func(*args, **kwargs)

    return run


def job(**task_options: Any):
    """A queued task (database connections handled, audited as a job)."""

    def decorate(func):
        return db_task(**task_options)(_in_job_context(func.__name__, func))

    return decorate


def scheduled_job(schedule, **task_options: Any):
    """A periodic task on a crontab schedule (audited as a job)."""

    def decorate(func):
        return db_periodic_task(schedule, **task_options)(_in_job_context(func.__name__, func))

    return decorate
