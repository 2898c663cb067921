"""/api/v1/access/tasks (fulfilment tasks) and /api/v1/access/grant-actions (renew, do-not-renew): part C.

Thin over gatehouse.access.fulfilment and gatehouse.access.expiry. Errors: 401 without a token, 403 when the
caller may not, 404 for what the caller cannot see, 422 naming the field (evidence, days, state).
"""

import datetime

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from gatehouse.access import expiry, fulfilment
from gatehouse.access.models import FulfilmentTask
from gatehouse.access.task_views import TaskFilterSet
from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import InputSchema, web_url

router = Router(tags=["access tasks"])
grant_actions_router = Router(tags=["access tasks"])
MAX_ID = 2**63 - 1
TaskQuery = query_schema(TaskFilterSet)


class TaskOut(Schema):
    id: int
    kind: str
    reason: str
    state: str
    person: str = Field(description="The person's email.")
    person_name: str
    system: str = Field(description="The system's slug.")
    entitlement_id: int
    entitlement: str
    connector: str
    grant_id: int | None
    request_item_id: int | None
    review_item_id: int | None
    lifecycle_event_id: int | None
    due_at: datetime.datetime | None
    overdue: bool
    done_at: datetime.datetime | None
    done_by: str | None
    evidence: str
    connector_result: str
    attempts: int
    security_flag: bool
    created: datetime.datetime
    web_url: str | None

    @staticmethod
    def resolve_person(obj) -> str:
        return obj.person.email

    @staticmethod
    def resolve_person_name(obj) -> str:
        return obj.person.name

    @staticmethod
    def resolve_system(obj) -> str:
        return obj.entitlement.system.slug

    @staticmethod
    def resolve_entitlement(obj) -> str:
        return obj.entitlement.name

    @staticmethod
    def resolve_connector(obj) -> str:
        return obj.entitlement.connector

    @staticmethod
    def resolve_overdue(obj) -> bool:
        return fulfilment.is_overdue(obj)

    @staticmethod
    def resolve_done_by(obj) -> str | None:
        return obj.done_by.username if obj.done_by_id else None

    @staticmethod
    def resolve_web_url(obj) -> str | None:
        return web_url(obj)


class CompleteIn(InputSchema):
    evidence: str = Field(max_length=fulfilment.EVIDENCE_MAX, description="What was done (required).")


class RenewIn(InputSchema):
    days: int = Field(
        ge=1, le=expiry.MAX_RENEW_DAYS, description="Days to add to the end (capped by the entitlement)."
    )


class DoNotRenewIn(InputSchema):
    value: bool = True


class GrantActionOut(Schema):
    id: int
    ends_at: datetime.datetime | None
    do_not_renew: bool


def _task(request, pk: int) -> FulfilmentTask:
    if not 0 < pk <= MAX_ID:
        raise Http404
    return fulfilment.get_task(request.user, pk)  # DoesNotExist -> 404


@router.get("", response=list[TaskOut], summary="List fulfilment tasks")
@paginate(LimitOffsetPagination)
def list_tasks(request: HttpRequest, filters: Query[TaskQuery]):
    """The caller's queue: every task for admins, auditors and security engineers; else their systems' tasks.
    Filters: state, reason, kind, system (slug), overdue, q."""
    return apply_filters(
        TaskFilterSet, request.GET, fulfilment.task_list(request.user).order_by("-id"), request
    )


@router.get("/security", response=list[TaskOut], summary="List admin-level grants flagged for security")
@paginate(LimitOffsetPagination)
def list_security(request: HttpRequest):
    return fulfilment.security_flagged(request.user).order_by("-id")


@router.get("/{int:pk}", response=TaskOut, summary="Read a fulfilment task")
def get_task(request: HttpRequest, pk: int):
    return _task(request, pk)


@router.post("/{int:pk}/complete", response=TaskOut, summary="Mark a task done by hand, with evidence")
def complete_task(request: HttpRequest, pk: int, payload: CompleteIn):
    task = _task(request, pk)
    fulfilment.complete_task(task, actor=request.user, evidence=payload.evidence)
    return _task(request, pk)


@router.post("/{int:pk}/retry", response=TaskOut, summary="Run the connector again for a failed task")
def retry_task(request: HttpRequest, pk: int):
    task = _task(request, pk)
    fulfilment.retry_task(task, actor=request.user)
    return _task(request, pk)


def _grant(request, pk: int):
    from gatehouse.access import grants

    if not 0 < pk <= MAX_ID:
        raise Http404
    return grants.get_grant(request.user, pk)


@grant_actions_router.post("/{int:pk}/renew", response=GrantActionOut, summary="Renew a time-bound grant")
def renew(request: HttpRequest, pk: int, payload: RenewIn):
    return expiry.renew_grant(_grant(request, pk), actor=request.user, days=payload.days)


@grant_actions_router.post(
    "/{int:pk}/do-not-renew", response=GrantActionOut, summary="Mark a grant do-not-renew"
)
def do_not_renew(request: HttpRequest, pk: int, payload: DoNotRenewIn):
    return expiry.set_do_not_renew(_grant(request, pk), actor=request.user, value=payload.value)
