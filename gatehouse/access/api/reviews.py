"""/api/v1/access/reviews: templates, campaigns, items, decisions, reassignment and the evidence export.

Thin over gatehouse.access.reviews and gatehouse.access.evidence. Admins, compliance analysts and auditors read
every campaign; reviewers read the campaigns they have items in and their own items. Compliance analysts and
admins start, close and reassign; auditors change nothing.
"""

import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from gatehouse.access import evidence, reviews
from gatehouse.access.models import (
    Entitlement,
    Privilege,
    Reviewer,
    ReviewItem,
    ReviewScope,
    ReviewTemplate,
    UndecidedRule,
)
from gatehouse.catalog.models import System
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import InputSchema, patch_schema, sent_fields
from gatehouse.users.models import User

router = Router(tags=["access reviews"])
MAX_ID = 2**63 - 1
Id = int


# --- schemas ------------------------------------------------------------------------------------------------


class TemplateOut(Schema):
    slug: str
    name: str
    scope: str
    tiers: list[int]
    compliance_scopes: list[str]
    systems: list[str]
    reviewer: str
    fallback_reviewer: str | None
    cadence_months: int
    due_business_days: int
    undecided_rule: str
    next_run_on: datetime.date | None
    is_active: bool

    @staticmethod
    def resolve_systems(obj) -> list[str]:
        return sorted(s.slug for s in obj.systems.all())

    @staticmethod
    def resolve_fallback_reviewer(obj) -> str | None:
        return obj.fallback_reviewer.username if obj.fallback_reviewer_id else None


class TemplateIn(InputSchema):
    slug: str = Field(..., min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=200)
    scope: Literal[tuple(ReviewScope.values)] = ReviewScope.ALL  # type: ignore[valid-type]
    tiers: list[int] = Field(default_factory=list, max_length=4)
    compliance_scopes: list[str] = Field(default_factory=list, max_length=20)
    systems: list[str] = Field(default_factory=list, max_length=1000, description="System slugs.")
    reviewer: Literal[tuple(Reviewer.values)] = Reviewer.SYSTEM_OWNER  # type: ignore[valid-type]
    fallback_reviewer: str | None = Field(None, max_length=150, description="A username.")
    cadence_months: int = Field(3, ge=1, le=60)
    due_business_days: int = Field(10, ge=1, le=100)
    undecided_rule: Literal[tuple(UndecidedRule.values)] = UndecidedRule.ESCALATE  # type: ignore[valid-type]
    next_run_on: datetime.date | None = None
    is_active: bool = True


TemplatePatch = patch_schema(TemplateIn)


class CampaignOut(Schema):
    id: int
    name: str
    template: str | None
    state: str
    definition: dict
    started_at: datetime.datetime
    due_at: datetime.datetime
    closed_at: datetime.datetime | None
    undecided_rule: str
    fallback_reviewer: str | None
    snapshot_source: str
    snapshot_taken_at: datetime.datetime | None
    snapshot_rows: int
    snapshot_sha256: str

    @staticmethod
    def resolve_template(obj) -> str | None:
        return obj.template.slug if obj.template_id else None

    @staticmethod
    def resolve_fallback_reviewer(obj) -> str | None:
        return obj.fallback_reviewer.username if obj.fallback_reviewer_id else None


class ReviewerProgress(Schema):
    reviewer: str | None
    decided: int
    undecided: int
    total: int


class CampaignDetailOut(CampaignOut):
    decided: int
    undecided: int
    progress: list[ReviewerProgress]


class StartIn(InputSchema):
    template: str = Field(..., min_length=1, max_length=100, description="The template's slug.")


class CloseOut(Schema):
    closed: bool
    applied_rule: str
    items: int = Field(..., description="Undecided items the rule decided, or escalated when still open.")
    campaign: CampaignOut


class ItemOut(Schema):
    id: int
    campaign: int
    grant: int
    system: str
    person_email: str
    person_name: str
    person_status: str
    manager_email: str
    entitlement: str
    privilege: str
    granted_at: datetime.datetime
    last_used_at: datetime.datetime | None = Field(
        None, description="The grant's, where the connector knows it."
    )
    reviewer: str | None
    decision: str
    reason: str
    modify_to: int | None
    decided_by: str | None
    decided_at: datetime.datetime | None

    @staticmethod
    def resolve_campaign(obj) -> int:
        return obj.campaign_id

    @staticmethod
    def resolve_grant(obj) -> int:
        return obj.grant_id

    @staticmethod
    def resolve_system(obj) -> str:
        return obj.system.slug

    @staticmethod
    def resolve_entitlement(obj) -> str:
        return obj.entitlement_name

    @staticmethod
    def resolve_last_used_at(obj):
        return obj.grant.last_used_at

    @staticmethod
    def resolve_reviewer(obj) -> str | None:
        return obj.reviewer.username if obj.reviewer_id else None

    @staticmethod
    def resolve_modify_to(obj) -> int | None:
        return obj.modify_to_id

    @staticmethod
    def resolve_decided_by(obj) -> str | None:
        return obj.decided_by.username if obj.decided_by_id else None


class ItemFilters(Schema):
    reviewer: str | None = Field(None, max_length=150, description="A username, `me` or `none`.")
    decision: Literal[tuple(ReviewItem.Decision.values)] | None = None  # type: ignore[valid-type]
    privilege: Literal[tuple(Privilege.values)] | None = None  # type: ignore[valid-type]
    system: str | None = Field(None, max_length=100, description="A system slug.")
    q: str | None = Field(None, max_length=100, description="Person email or name, or entitlement name.")


class DecideIn(InputSchema):
    decision: Literal["keep", "revoke", "modify"]
    reason: str = Field("", max_length=2000, description="Required to revoke.")
    modify_to: int | None = Field(None, ge=1, le=MAX_ID, description="The new entitlement's id (modify).")


class BulkDecideIn(InputSchema):
    items: list[int] = Field(..., min_length=1, max_length=reviews.MAX_BULK)
    decision: Literal["keep", "revoke"]
    reason: str = Field("", max_length=2000, description="Required to revoke.")


class ReassignIn(InputSchema):
    items: list[int] = Field(..., min_length=1, max_length=reviews.MAX_BULK)
    reviewer: str = Field(..., min_length=1, max_length=150, description="The new reviewer's username.")


class CountOut(Schema):
    count: int


# --- helpers --------------------------------------------------------------------------------------------------


def _user(username: str | None, field: str) -> User | None:
    if username is None:
        return None
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError({field: f"No user {username!r}."})
    return user


def _template_fields(data: dict) -> tuple[dict, list[System] | None]:
    systems = None
    if "systems" in data:
        slugs = data.pop("systems") or []
        found = {s.slug: s for s in System.objects.filter(slug__in=slugs)}
        missing = [s for s in slugs if s not in found]
        if missing:
            raise ValidationError({"systems": f"No system with slug {', '.join(missing[:10])}."})
        systems = [found[s] for s in dict.fromkeys(slugs)]
    if "fallback_reviewer" in data:
        data["fallback_reviewer"] = _user(data["fallback_reviewer"], "fallback_reviewer")
    return data, systems


def _unique_template(data: dict, exclude: int | None = None) -> None:
    errors = {}
    for field in ("slug", "name"):
        if (
            field in data
            and ReviewTemplate.objects.filter(**{field: data[field]}).exclude(pk=exclude).exists()
        ):
            errors[field] = f"A template with this {field} exists."
    if errors:
        raise ValidationError(errors)


def _ids_ok(ids: list[int]) -> list[int]:
    bad = [i for i in ids if not 0 < i <= MAX_ID]
    if bad:
        raise ValidationError({"items": "Item ids are positive whole numbers."})
    return ids


def _campaign_detail(user, pk: int):
    campaign = reviews.get_campaign(user, pk)
    if reviews.sees_all(user):
        progress = reviews.progress_by_reviewer(campaign)
    else:
        mine = reviews.visible_items(user, campaign)
        total = mine.count()
        undecided = mine.filter(decision=ReviewItem.Decision.PENDING).count()
        progress = [{"reviewer": user, "total": total, "undecided": undecided, "decided": total - undecided}]
    totals = reviews.totals(progress)
    campaign.decided = totals["decided"]
    campaign.undecided = totals["undecided"]
    campaign.progress = [
        {
            "reviewer": r["reviewer"].username if r["reviewer"] else None,
            "decided": r["decided"],
            "undecided": r["undecided"],
            "total": r["total"],
        }
        for r in progress
    ]
    return campaign


def _filter_items(request, qs, filters: ItemFilters):
    user = request.user
    if filters.reviewer == "me":
        qs = qs.filter(reviewer=user.pk)
    elif filters.reviewer == "none":
        qs = qs.filter(reviewer__isnull=True)
    elif filters.reviewer:
        qs = qs.filter(reviewer__username=filters.reviewer)
    if filters.decision:
        qs = qs.filter(decision=filters.decision)
    if filters.privilege:
        qs = qs.filter(privilege=filters.privilege)
    if filters.system:
        qs = qs.filter(system__slug=filters.system)
    if filters.q:
        q = filters.q.replace("\x00", "")
        qs = qs.filter(
            Q(person_email__icontains=q) | Q(person_name__icontains=q) | Q(entitlement_name__icontains=q)
        )
    return qs


# --- templates ----------------------------------------------------------------------------------------------


@router.get("/templates", response=list[TemplateOut], summary="List review templates")
@paginate(LimitOffsetPagination)
def list_templates(request: HttpRequest):
    return reviews.visible_templates(request.user).order_by("name")


@router.get("/templates/{slug}", response=TemplateOut, summary="Read a review template")
def get_template(request: HttpRequest, slug: str):
    return reviews.get_template(request.user, slug)


@router.post("/templates", response={201: TemplateOut}, summary="Create a review template")
def create_template(request: HttpRequest, payload: TemplateIn):
    from gatehouse.core.permissions import require

    require(request.user, "access.add_reviewtemplate")
    data, systems = _template_fields(sent_fields(payload))
    _unique_template(data)
    template = reviews.create_template(actor=request.user, systems=systems or [], **data)
    return Status(201, reviews.get_template(request.user, template.slug))


@router.patch("/templates/{slug}", response=TemplateOut, summary="Change a review template")
def update_template(request: HttpRequest, slug: str, payload: TemplatePatch):
    template = reviews.get_template(request.user, slug)
    from gatehouse.core.permissions import require

    require(request.user, "access.change_reviewtemplate", template)
    data, systems = _template_fields(sent_fields(payload))
    for field in ("slug", "name", "scope", "reviewer", "undecided_rule", "tiers", "compliance_scopes"):
        if field in data and data[field] is None:
            raise ValidationError({field: "Must not be null."})
    for field in ("cadence_months", "due_business_days", "is_active"):
        if field in data and data[field] is None:
            raise ValidationError({field: "Must not be null."})
    _unique_template(data, exclude=template.pk)
    template = reviews.update_template(template, actor=request.user, systems=systems, **data)
    return reviews.get_template(request.user, template.slug)


# --- campaigns ----------------------------------------------------------------------------------------------


@router.get("/campaigns", response=list[CampaignOut], summary="List review campaigns")
@paginate(LimitOffsetPagination)
def list_campaigns(request: HttpRequest, state: Literal["open", "closed"] | None = None):
    qs = reviews.visible_campaigns(request.user).order_by("-started_at", "-id")
    return qs.filter(state=state) if state else qs


@router.post("/campaigns", response={201: CampaignDetailOut}, summary="Start a review campaign now")
def start_campaign(request: HttpRequest, payload: StartIn):
    """Snapshots the template's population, assigns reviewers and sets the due date (admins, compliance
    analysts). The template's next scheduled run does not move."""
    from gatehouse.core.permissions import require

    require(request.user, reviews.PERM_RUN)
    template = ReviewTemplate.objects.filter(slug=payload.template).first()
    if template is None:
        raise ValidationError({"template": f"No review template {payload.template!r}."})
    campaign = reviews.start_campaign(template, actor=request.user)
    return Status(201, _campaign_detail(request.user, campaign.pk))


@router.get(
    "/campaigns/{campaign_id}", response=CampaignDetailOut, summary="Read a campaign and its progress"
)
def get_campaign(request: HttpRequest, campaign_id: int):
    return _campaign_detail(request.user, campaign_id)


@router.post("/campaigns/{campaign_id}/close", response=CloseOut, summary="Close a campaign")
def close_campaign(request: HttpRequest, campaign_id: int):
    """Applies the campaign's rule to undecided items: keep, revoke, or escalate (they go to the fallback
    reviewer and the campaign stays open: `closed` is false)."""
    campaign = reviews.get_campaign(request.user, campaign_id)
    result = reviews.close_campaign(campaign, actor=request.user)
    return {
        "closed": result.closed,
        "applied_rule": result.applied,
        "items": result.count,
        "campaign": reviews.get_campaign(request.user, campaign_id),
    }


@router.get(
    "/campaigns/{campaign_id}/evidence",
    response={200: None},
    summary="Download the evidence export",
    openapi_extra={
        "responses": {
            200: {
                "description": "The export (CSV or JSON) with its SHA-256; `gatehouse verify_review_export` checks it.",
                "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {}}},
            }
        }
    },
)
def download_evidence(request: HttpRequest, campaign_id: int, format: Literal["csv", "json"] = "csv"):
    """Admins, compliance analysts and auditors."""
    from django.core.exceptions import PermissionDenied

    if not reviews.sees_all(request.user):
        raise PermissionDenied("You do not have permission to read review evidence.")
    campaign = reviews.get_campaign(request.user, campaign_id)
    body = evidence.export(campaign, format)
    response = HttpResponse(
        body, content_type="text/csv; charset=utf-8" if format == "csv" else "application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{evidence.filename(campaign, format)}"'
    return response


@router.get("/campaigns/{campaign_id}/items", response=list[ItemOut], summary="List a campaign's items")
@paginate(LimitOffsetPagination)
def list_campaign_items(request: HttpRequest, campaign_id: int, filters: Query[ItemFilters]):
    """All items for admins, compliance analysts and auditors; your own items for a reviewer."""
    campaign = reviews.get_campaign(request.user, campaign_id)
    return _filter_items(request, reviews.item_list(request.user, campaign), filters)


@router.post("/campaigns/{campaign_id}/items/decide", response=CountOut, summary="Decide many items at once")
def bulk_decide(request: HttpRequest, campaign_id: int, payload: BulkDecideIn):
    """Keep or revoke the listed items (yours; admins any) with one reason; all or nothing."""
    campaign = reviews.get_campaign(request.user, campaign_id)
    ids = _ids_ok(payload.items)
    if reviews.visible_items(request.user, campaign).filter(pk__in=ids).count() != len(set(ids)):
        raise ValidationError({"items": "Every item must be one of this campaign's that you may see."})
    done = reviews.bulk_decide(ids, actor=request.user, decision=payload.decision, reason=payload.reason)
    return {"count": len(done)}


@router.post("/campaigns/{campaign_id}/items/reassign", response=CountOut, summary="Reassign items")
def reassign(request: HttpRequest, campaign_id: int, payload: ReassignIn):
    """Admins and compliance analysts give undecided items to another reviewer (never the access holder)."""
    campaign = reviews.get_campaign(request.user, campaign_id)
    from gatehouse.core.permissions import require

    require(request.user, reviews.PERM_MANAGE)
    ids = _ids_ok(payload.items)
    if campaign.items.filter(pk__in=ids).count() != len(set(ids)):
        raise ValidationError({"items": "Every item must be one of this campaign's."})
    reviewer = _user(payload.reviewer, "reviewer")
    return {"count": reviews.reassign(ids, actor=request.user, reviewer=reviewer)}


# --- items --------------------------------------------------------------------------------------------------


@router.get("/items", response=list[ItemOut], summary="List my review items")
@paginate(LimitOffsetPagination)
def my_items(request: HttpRequest, filters: Query[ItemFilters]):
    """The items assigned to you in open campaigns (`decision=pending` for what is left)."""
    qs = reviews.item_list(request.user).filter(reviewer=request.user.pk, campaign__state="open")
    filters.reviewer = None
    return _filter_items(request, qs, filters)


@router.get("/items/{item_id}", response=ItemOut, summary="Read a review item")
def get_item(request: HttpRequest, item_id: int):
    return reviews.get_item(request.user, item_id)


@router.post("/items/{item_id}/decide", response=ItemOut, summary="Decide a review item")
def decide(request: HttpRequest, item_id: int, payload: DecideIn):
    """keep, revoke (a reason is required) or modify (`modify_to`: an entitlement of the same system). Revoke and
    modify open fulfilment tasks. A decided item is not decided again (422)."""
    item = reviews.get_item(request.user, item_id)
    modify_to = None
    if payload.modify_to is not None:
        modify_to = Entitlement.objects.filter(pk=payload.modify_to).first()
        if modify_to is None:
            raise ValidationError({"modify_to": f"No entitlement {payload.modify_to}."})
    reviews.decide_item(
        item, actor=request.user, decision=payload.decision, reason=payload.reason, modify_to=modify_to
    )
    return reviews.get_item(request.user, item_id)
