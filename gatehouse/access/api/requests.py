"""/api/v1/access/requests: access requests and their approval steps (issue 4, part B).

Thin over gatehouse.access.requests. People go in by email, entitlements by id. Errors: 401 without a token,
403 when the caller may not (the reason in ``detail``), 404 for what the caller cannot see, 409 when a step was
decided meanwhile (a double click, another approver, an expired request), 422 naming the field.
"""

import datetime
from typing import Annotated

import django_filters
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate

from gatehouse.access import requests as services
from gatehouse.access.models import AccessRequest, ApprovalStep, Entitlement
from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import Email, InputSchema, sent_fields, web_url
from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.directory.models import Person

router = Router(tags=["access requests"])
MAX_ID = 2**63 - 1


# ---------------------------------------------------------------------------------------------- schemas


class PersonRef(Schema):
    id: int
    email: str
    name: str


class EntitlementRef(Schema):
    id: int
    slug: str
    name: str
    system: str
    privilege: str

    @staticmethod
    def resolve_system(obj) -> str:
        return obj.system.slug


class StepOut(Schema):
    id: int
    position: int
    kind: str
    decision: str
    decided_by: str | None
    decided_at: datetime.datetime | None
    channel: str
    comment: str

    @staticmethod
    def resolve_decided_by(obj) -> str | None:
        return obj.decided_by.get_username() if obj.decided_by_id else None


class ItemOut(Schema):
    id: int
    subject: PersonRef
    entitlement: EntitlementRef
    state: str
    ends_at: datetime.datetime | None
    steps: list[StepOut]

    @staticmethod
    def resolve_steps(obj) -> list:
        return list(obj.steps.all())  # prefetched


class AccessRequestOut(Schema):
    id: int
    reference: str
    requested_by: PersonRef
    filed_by: str | None
    justification: str
    duration_days: int | None
    state: str
    closed_at: datetime.datetime | None
    desk_request: str | None = Field(
        None, description="The desk request (REQ-…) that carries its queue and SLA."
    )
    items: list[ItemOut]
    url: str | None = None
    created: datetime.datetime
    last_updated: datetime.datetime

    @staticmethod
    def resolve_reference(obj) -> str:
        return str(obj)

    @staticmethod
    def resolve_filed_by(obj) -> str | None:
        return obj.filed_by.get_username() if obj.filed_by_id else None

    @staticmethod
    def resolve_desk_request(obj) -> str | None:
        return obj.desk_request.reference if obj.desk_request_id else None

    @staticmethod
    def resolve_items(obj) -> list:
        return list(obj.items.all())  # prefetched

    @staticmethod
    def resolve_url(obj) -> str | None:
        return web_url(obj)


class AccessRequestIn(InputSchema):
    subjects: Annotated[list[Email], Field(max_length=services.MAX_SUBJECTS)] | None = Field(
        None, description="Emails of the people who need the access; omitted: yourself."
    )
    entitlements: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]],
        Field(min_length=1, max_length=services.MAX_ENTITLEMENTS),
    ]
    justification: str = Field(..., max_length=5000)
    duration_days: int | None = Field(None, ge=1, le=3650)


class DecisionIn(InputSchema):
    comment: str = Field("", max_length=5000, description="Required to reject.")


class WaitingStepOut(StepOut):
    access_request: int
    subject: PersonRef
    entitlement: EntitlementRef

    @staticmethod
    def resolve_access_request(obj) -> int:
        return obj.item.access_request_id

    @staticmethod
    def resolve_subject(obj):
        return obj.item.subject

    @staticmethod
    def resolve_entitlement(obj):
        return obj.item.entitlement


# ---------------------------------------------------------------------------------------------- filters


class AccessRequestApiFilterSet(SearchFilterSet):
    search_fields = ("justification",)
    state = django_filters.MultipleChoiceFilter(choices=AccessRequest.State.choices, label="State")
    subject = django_filters.CharFilter(method="filter_subject", label="Subject (email)")
    requested_by = django_filters.CharFilter(field_name="requested_by__email", label="Asked by (email)")
    system = django_filters.CharFilter(method="filter_system", label="System (slug)")
    entitlement = django_filters.NumberFilter(method="filter_entitlement", label="Entitlement (id)")

    class Meta:
        model = AccessRequest
        fields = ["q", "state", "subject", "requested_by", "system", "entitlement"]

    def filter_subject(self, queryset, name, value):
        return queryset.filter(
            pk__in=AccessRequest.objects.filter(items__subject__email=value.strip().lower()).values("pk")
        )

    def filter_system(self, queryset, name, value):
        return queryset.filter(
            pk__in=AccessRequest.objects.filter(items__entitlement__system__slug=value).values("pk")
        )

    def filter_entitlement(self, queryset, name, value):
        if not 0 < value <= MAX_ID:
            return queryset.none()
        return queryset.filter(
            pk__in=AccessRequest.objects.filter(items__entitlement=int(value)).values("pk")
        )


AccessRequestQuery = query_schema(AccessRequestApiFilterSet)


# ---------------------------------------------------------------------------------------------- endpoints


def _conflict(exc: services.AlreadyDecided):
    raise HttpError(409, exc.message) from exc


def _detail(user, pk: int):
    return services.get_request(user, pk)


@router.get("", response=list[AccessRequestOut], summary="List access requests")
@paginate(LimitOffsetPagination)
def list_access_requests(request: HttpRequest, filters: Query[AccessRequestQuery]):
    """The access requests you may see: yours, your reports', your systems' (all for admins and auditors).
    Filters: state, subject (email), requested_by (email), system (slug), entitlement (id), q (text)."""
    return apply_filters(AccessRequestApiFilterSet, request.GET, services.request_list(request.user), request)


@router.post("", response={201: AccessRequestOut}, summary="Ask for access")
def create_access_request(request: HttpRequest, payload: AccessRequestIn):
    """One item per subject and entitlement. Items that need no approval are approved at once."""
    data = sent_fields(payload)
    emails = list(dict.fromkeys(data.get("subjects") or []))
    if emails:
        found = {p.email: p for p in Person.objects.filter(email__in=emails)}
        missing = [e for e in emails if e not in found]
        if missing:
            raise ValidationError({"subjects": f"No person with email {', '.join(missing[:10])}."})
        people = [found[e] for e in emails]
    else:
        person = getattr(request.user, "person", None)
        if person is None:
            raise ValidationError({"subjects": "Your sign-in has no person: name the subjects by email."})
        people = [person]
    ids = list(dict.fromkeys(data["entitlements"]))
    found_ents = {e.pk: e for e in Entitlement.objects.select_related("system").filter(pk__in=ids)}
    unknown = [str(i) for i in ids if i not in found_ents]
    if unknown:
        raise ValidationError({"entitlements": f"No entitlement with id {', '.join(unknown[:10])}."})
    created = services.request_access(
        actor=request.user,
        subjects=people,
        entitlements=[found_ents[i] for i in ids],
        justification=data["justification"],
        duration_days=data.get("duration_days"),
        channel="api",
    )
    return Status(201, _detail(request.user, created.pk))


# Declared before "/{request_id}" so that path does not take "approvals" for an id.
@router.get("/approvals", response=list[WaitingStepOut], summary="Approval steps waiting for me")
@paginate(LimitOffsetPagination)
def my_approvals(request: HttpRequest):
    """The current steps you may decide: your reports' manager steps, your systems' owner steps (admins: all)."""
    return services.steps_waiting_for(request.user)


@router.post("/steps/{step_id}/approve", response=AccessRequestOut, summary="Approve a step")
def approve_step(request: HttpRequest, step_id: Annotated[int, Field(ge=1, le=MAX_ID)], payload: DecisionIn):
    step = services.get_step(request.user, step_id)
    try:
        services.decide(step, actor=request.user, approve=True, comment=payload.comment, channel="api")
    except services.AlreadyDecided as exc:
        _conflict(exc)
    return _detail(request.user, step.item.access_request_id)


@router.post("/steps/{step_id}/reject", response=AccessRequestOut, summary="Reject a step")
def reject_step(request: HttpRequest, step_id: Annotated[int, Field(ge=1, le=MAX_ID)], payload: DecisionIn):
    """A comment is required: the requester reads it."""
    step = services.get_step(request.user, step_id)
    try:
        services.decide(step, actor=request.user, approve=False, comment=payload.comment, channel="api")
    except services.AlreadyDecided as exc:
        _conflict(exc)
    return _detail(request.user, step.item.access_request_id)


@router.get("/{request_id}", response=AccessRequestOut, summary="Read an access request")
def get_access_request(request: HttpRequest, request_id: Annotated[int, Field(ge=1, le=MAX_ID)]):
    return _detail(request.user, request_id)


@router.post("/{request_id}/cancel", response=AccessRequestOut, summary="Cancel a pending access request")
def cancel_access_request(request: HttpRequest, request_id: Annotated[int, Field(ge=1, le=MAX_ID)]):
    access_request = services.get_request(request.user, request_id)
    try:
        services.cancel_request(access_request, actor=request.user)
    except services.AlreadyDecided as exc:
        _conflict(exc)
    return _detail(request.user, request_id)


__all__ = ["ApprovalStep", "router"]
