"""/api/v1/audit/events: the audit trail, read-only, for roles that may read it."""

from django.http import HttpRequest
from ninja import Query, Router
from ninja.pagination import paginate

from gatehouse.audit.api.schemas import AuditEventOut
from gatehouse.audit.filtersets import AuditEventFilterSet
from gatehouse.audit.selectors import visible_events
from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.permissions import require

router = Router(tags=["audit"])

AuditEventQuery = query_schema(AuditEventFilterSet)


@router.get("/events", response=list[AuditEventOut], summary="List audit events, newest first")
@paginate(LimitOffsetPagination)
def list_events(request: HttpRequest, filters: Query[AuditEventQuery]):
    """Needs a role that reads the audit trail (admin, auditor, compliance analyst, security engineer)."""
    # An empty list would hide the refusal; callers without the right get a 403 instead.
    require(request.user, "audit.view_auditevent")
    return apply_filters(AuditEventFilterSet, request.GET, visible_events(request.user), request)
