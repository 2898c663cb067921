"""Requests, request types, queues and routing rules as the API reads and writes them.

Relations go in by natural key: the type and system by slug, people by email, queues by slug, users by
username. Answers to a type's form go in ``fields``; their errors come back at ``["body", "fields", <name>]``.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from ninja import Field, Schema

from gatehouse.core.api.schemas import Email, InputSchema, label, patch_schema, web_url
from gatehouse.desk.models import Channel, Priority, Status, Tier
from gatehouse.directory.api.schemas import PersonBrief, TeamBrief


class UserBrief(Schema):
    id: int
    username: str
    name: str

    @staticmethod
    def resolve_name(obj) -> str:
        return obj.get_full_name() or obj.username


class TypeBrief(Schema):
    slug: str
    name: str


class SystemBrief(Schema):
    slug: str
    name: str
    label: str


class QueueBrief(Schema):
    slug: str
    name: str
    tier: int


class RuleBrief(Schema):
    id: int
    name: str


class RequestOut(Schema):
    id: int
    reference: str
    request_type: TypeBrief
    subject: str
    description: str
    fields: dict[str, Any]
    system: SystemBrief | None
    requester: PersonBrief
    channel: Channel
    queue: QueueBrief
    tier: Tier
    status: Status
    status_label: str
    priority: Priority
    labels: list[str]
    assignee: UserBrief | None
    watchers: list[PersonBrief]
    routing_rule: RuleBrief | None
    routing_note: str
    first_response_due: datetime.datetime | None
    first_responded_at: datetime.datetime | None
    first_response_state: str
    resolution_due: datetime.datetime | None
    resolution_state: str
    paused: bool
    resolved_at: datetime.datetime | None
    closed_at: datetime.datetime | None
    url: str | None = Field(None, description="The request's page in the web UI.")
    created: datetime.datetime
    last_updated: datetime.datetime

    @staticmethod
    def resolve_status_label(obj) -> str:
        return label(obj, "status")

    @staticmethod
    def resolve_watchers(obj) -> list:
        return list(obj.watchers.all())  # prefetched by the selector

    @staticmethod
    def resolve_paused(obj) -> bool:
        return obj.paused_at is not None

    @staticmethod
    def resolve_url(obj) -> str | None:
        return web_url(obj)


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    created: datetime.datetime


class CommentOut(Schema):
    id: int
    body: str
    internal: bool
    author: str
    channel: Channel
    created: datetime.datetime

    @staticmethod
    def resolve_internal(obj) -> bool:
        return obj.is_internal

    @staticmethod
    def resolve_author(obj) -> str:
        return str(obj.author_person or obj.author or "Gatehouse")


class EscalationOut(Schema):
    id: int
    kind: str
    from_tier: int
    to_tier: int
    from_queue: QueueBrief
    to_queue: QueueBrief
    reason: str
    by: UserBrief | None
    created: datetime.datetime


class RequestDetailOut(RequestOut):
    comments: list[CommentOut]
    escalations: list[EscalationOut]
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_comments(obj) -> list:
        return obj.api_comments

    @staticmethod
    def resolve_escalations(obj) -> list:
        return obj.api_escalations

    @staticmethod
    def resolve_attachments(obj) -> list:
        return obj.api_attachments


class RequestIn(InputSchema):
    request_type: str = Field(
        ..., min_length=1, max_length=100, description="The type's slug, e.g. access-request."
    )
    subject: str = Field(..., max_length=250)
    description: str = Field("", max_length=50_000)
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Answers to the type's form, by field name."
    )
    system: str | None = Field(None, max_length=100, description="The system's slug, if it is about one.")
    requester: Email | None = Field(None, description="Agents only: the email of the person it is for.")
    priority: Priority | None = None
    watchers: list[Email] = Field(
        default_factory=list, max_length=50, description="Emails of people to keep informed."
    )


class RequestPatch(InputSchema):
    subject: str | None = Field(None, max_length=250)
    description: str | None = Field(None, max_length=50_000)
    priority: Priority | None = None
    labels: list[str] | None = Field(None, max_length=30)
    request_type: str | None = Field(None, max_length=100)
    status: Status | None = None
    assignee: str | None = Field(None, max_length=150, description="A username; null to unassign.")
    watchers: list[Email] | None = Field(None, max_length=50, description="Replaces the watchers.")


class CommentIn(InputSchema):
    body: str = Field(..., min_length=1, max_length=50_000)
    internal: bool = Field(False, description="An internal note (agents only), never shown to the requester.")


class EscalateIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=5000)
    queue: str | None = Field(
        None, max_length=100, description="The queue's slug; default: the system owner team's."
    )


class RerouteIn(InputSchema):
    queue: str = Field(..., min_length=1, max_length=100)
    reason: str = Field(..., min_length=1, max_length=5000)


class AssignIn(InputSchema):
    assignee: str | None = Field(..., max_length=150, description="A username, or null to unassign.")


class RequestTypeOut(Schema):
    slug: str
    name: str
    description: str
    form_schema: list[dict[str, Any]]
    system_field: str
    default_priority: Priority
    sla_policy: str | None
    default_queue: str | None
    is_active: bool
    position: int

    @staticmethod
    def resolve_sla_policy(obj) -> str | None:
        return obj.sla_policy.slug if obj.sla_policy_id else None

    @staticmethod
    def resolve_default_queue(obj) -> str | None:
        return obj.default_queue.slug if obj.default_queue_id else None


class RequestTypeIn(InputSchema):
    slug: str = Field(..., min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    form_schema: list[Any] = Field(default_factory=list, max_length=50)
    system_field: str = Field("optional", description="required, optional or hidden")
    default_priority: Priority = Priority.NORMAL
    sla_policy: str | None = Field(None, max_length=100, description="The SLA policy's slug.")
    default_queue: str | None = Field(None, max_length=100, description="The queue's slug; null: triage.")
    is_active: bool = True
    position: int = Field(100, ge=0, le=32767)


RequestTypePatch = patch_schema(RequestTypeIn)


class QueueOut(Schema):
    slug: str
    name: str
    team: TeamBrief | None
    tier: Tier
    is_triage: bool
    round_robin: bool


class QueueIn(InputSchema):
    slug: str = Field(..., min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=200)
    team: str | None = Field(None, max_length=100, description="The team's slug.")
    tier: Tier = Tier.HELPDESK
    is_triage: bool = False
    round_robin: bool = False


QueuePatch = patch_schema(QueueIn)


class RoutingRuleOut(Schema):
    id: int
    name: str
    position: int
    is_active: bool
    condition: dict[str, Any]
    actions: dict[str, Any]


class RoutingRuleIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=200)
    position: int = Field(100, ge=0, le=2**31 - 1)
    is_active: bool = True
    condition: dict[str, Any] = Field(default_factory=dict, description="See gatehouse.core.conditions.")
    actions: dict[str, Any] = Field(..., description='{"queue", "priority", "labels", "assignee"}')


RoutingRulePatch = patch_schema(RoutingRuleIn)


# -- attachments and bulk changes --------------------------------------------------------------------------------


class AttachmentUploadOut(AttachmentOut):
    request_id: int
    download_url: str

    @staticmethod
    def resolve_download_url(obj) -> str:
        return f"/api/v1/desk/requests/{obj.request_id}/attachments/{obj.pk}"


class BulkIn(InputSchema):
    """The same change to many requests, all or nothing. Send only the changes you want; assignee null
    unassigns."""

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        ..., min_length=1, max_length=500, description="Request ids (the 123 of REQ-123)."
    )
    assignee: str | None = Field(None, max_length=150, description="A username; null to unassign.")
    status: Status | None = None
    priority: Priority | None = None
    queue: str | None = Field(None, min_length=1, max_length=100, description="A queue's slug.")


class BulkOut(Schema):
    changed: int
    ids: list[int]
