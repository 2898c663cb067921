"""Who is acting, through what, and for which request: read by the audit trail.

Middleware (web and API), the command base class and the job wrapper set it, so services never need a
request object and jobs and commands are never missed.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any


class Source:
    WEB = "web"
    API = "api"
    CLI = "cli"
    IMPORT = "import"
    JOB = "job"
    SYSTEM = "system"
    CHAT = "chat"  # the desk's inbound Slack slash command and buttons

    CHOICES = [
        (WEB, "Web"),
        (API, "API"),
        (CLI, "CLI"),
        (IMPORT, "Import"),
        (JOB, "Job"),
        (SYSTEM, "System"),
        (CHAT, "Chat"),
    ]


@dataclass(frozen=True)
class ChangeContext:
    source: str = Source.SYSTEM
    request_id: str = ""
    actor: Any = None  # a users.User, or None for the system itself
    actor_label: str = "system"  # who the system is acting for, e.g. "cli:alice" when actor is None
    audit_enabled: bool = True


_current: contextvars.ContextVar[ChangeContext] = contextvars.ContextVar("gatehouse_change_context")


def current() -> ChangeContext:
    return _current.get(ChangeContext())


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def change_context(**changes: Any) -> Iterator[ChangeContext]:
    """Run a block with some fields of the change context replaced."""
    ctx = replace(current(), **changes)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_actor(actor: Any) -> None:
    """Set the actor for the rest of the current request or job.

    Used where a block cannot wrap the work (API token auth runs before the endpoint); the enclosing
    change_context of the request middleware restores the previous value when the request ends.
    """
    _current.set(replace(current(), actor=actor))
