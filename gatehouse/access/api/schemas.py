"""Entitlements, grants, bundles and lifecycle events as the API reads and writes them (part A of issue 4).

Relations go in by natural key: the system by slug, the entitlement owner by email, a bundle's entitlements as
"system-slug/entitlement-slug".
"""

from __future__ import annotations

import datetime

from ninja import Field, Schema

from gatehouse.access.models import ApprovalPolicy, Connector, GrantSource, LifecycleEvent, Privilege
from gatehouse.core.api.schemas import Email, InputSchema, patch_schema, web_url
from gatehouse.directory.api.schemas import PersonBrief

Slug = Field(max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")


class SystemRef(Schema):
    id: int
    slug: str
    name: str


class EntitlementBrief(Schema):
    id: int
    slug: str
    name: str
    system: SystemRef
    privilege: Privilege


class EntitlementOut(Schema):
    id: int
    system: SystemRef
    slug: str
    name: str
    description: str
    privilege: Privilege
    is_requestable: bool
    is_baseline: bool
    max_duration_days: int | None
    approval_policy: ApprovalPolicy
    owner: PersonBrief | None
    connector: Connector
    external_id: str
    external_role: str
    holder_count: int | None = Field(None, description="People holding it now (lists and reads).")
    web_url: str | None

    @staticmethod
    def resolve_web_url(obj) -> str | None:
        return web_url(obj)


class EntitlementIn(InputSchema):
    system: str = Field(max_length=100, description="The system's slug.")
    slug: str = Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10000)
    privilege: Privilege = Privilege.STANDARD
    is_requestable: bool = True
    is_baseline: bool = False
    max_duration_days: int | None = Field(None, ge=1, le=3650)
    approval_policy: ApprovalPolicy = ApprovalPolicy.DEFAULT
    owner: Email | None = Field(None, description="The entitlement owner's email.")
    connector: Connector = Connector.NONE
    external_id: str = Field("", max_length=300)
    external_role: str = Field("", max_length=50)


class EntitlementChange(InputSchema):
    slug: str = Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10000)
    privilege: Privilege = Privilege.STANDARD
    is_requestable: bool = True
    is_baseline: bool = False
    max_duration_days: int | None = Field(None, ge=1, le=3650)
    approval_policy: ApprovalPolicy = ApprovalPolicy.DEFAULT
    owner: Email | None = None
    connector: Connector = Connector.NONE
    external_id: str = Field("", max_length=300)
    external_role: str = Field("", max_length=50)


EntitlementPatch = patch_schema(EntitlementChange, "EntitlementPatch")


class GrantOut(Schema):
    id: int
    person: PersonBrief
    entitlement: EntitlementBrief
    source: GrantSource
    started_at: datetime.datetime
    ends_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    ended_by: str | None
    end_reason: str
    do_not_renew: bool
    last_used_at: datetime.datetime | None
    active: bool

    @staticmethod
    def resolve_ended_by(obj) -> str | None:
        return obj.ended_by.get_username() if obj.ended_by_id else None

    @staticmethod
    def resolve_active(obj) -> bool:
        return obj.ended_at is None


class GrantEnd(InputSchema):
    reason: str = Field(min_length=1, max_length=300, description="Why the access ends.")


class BundleOut(Schema):
    id: int
    slug: str
    name: str
    department: str
    title: str
    entitlements: list[EntitlementBrief]

    @staticmethod
    def resolve_entitlements(obj) -> list:
        return list(obj.entitlements.all())


class BundleIn(InputSchema):
    slug: str = Slug
    name: str = Field(min_length=1, max_length=200)
    department: str = Field("", max_length=200)
    title: str = Field("", max_length=200)
    entitlements: list[str] = Field(
        default_factory=list, max_length=500, description='"system-slug/entitlement-slug" each.'
    )


BundlePatch = patch_schema(BundleIn, "BundlePatch")


class LifecycleEventOut(Schema):
    id: int
    person: PersonBrief
    kind: LifecycleEvent.Kind
    details: dict
    effective_at: datetime.datetime
    completed_at: datetime.datetime | None
    task_count: int = 0
    open_count: int = 0
    overdue_count: int = 0
