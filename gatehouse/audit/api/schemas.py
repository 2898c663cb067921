"""Audit events as the API shows them: everything the chain holds, so a caller can re-check the hashes."""

from __future__ import annotations

import datetime
from typing import Any

from ninja import Field, Schema

from gatehouse.audit.models import AuditEvent
from gatehouse.core.api.schemas import label


class AuditEventOut(Schema):
    id: int
    timestamp: datetime.datetime
    actor_id: int | None = Field(description="The user who acted; null for the system itself.")
    actor_label: str = Field(description="The username, or who the system acted for (e.g. cli:alice).")
    source: str = Field(description="web, api, cli, import, job or system.")
    source_label: str
    action: AuditEvent.Action
    action_label: str
    object_type: str = Field(description="e.g. catalog.system")
    object_id: str
    object_repr: str
    changes: dict[str, Any] = Field(description="Field name to [before, after].")
    request_id: str
    prev_hash: str
    hash: str

    @staticmethod
    def resolve_source_label(obj: AuditEvent) -> str:
        return label(obj, "source")

    @staticmethod
    def resolve_action_label(obj: AuditEvent) -> str:
        return label(obj, "action")
