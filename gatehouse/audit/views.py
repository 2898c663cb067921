"""Pages of the audit trail: the filtered list, one event, and a CSV export of the filtered events."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone

from gatehouse.audit.filtersets import AuditEventFilterSet
from gatehouse.audit.selectors import visible_events
from gatehouse.audit.tables import AuditEventTable
from gatehouse.core.views import ObjectDetailView, ObjectListView, check_permission

VIEW_AUDIT = "audit.view_auditevent"
CSV_COLUMNS = (
    "id",
    "timestamp",
    "actor",
    "source",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "request_id",
    "prev_hash",
    "hash",
)


class EventListView(ObjectListView):
    title = "Audit trail"
    template_name = "audit/event_list.html"
    permission = VIEW_AUDIT
    filterset_class = AuditEventFilterSet
    table_class = AuditEventTable
    empty_message = "No event matches these filters."

    def get_queryset(self, request):
        return visible_events(request.user)


class EventView(ObjectDetailView):
    template_name = "audit/event_detail.html"
    permission = VIEW_AUDIT

    def get_object(self, request, pk: int):
        return visible_events(request.user).get(pk=pk)

    def extra_context(self, request, event):
        events = visible_events(request.user)
        return {
            "previous": events.filter(pk__lt=event.pk).order_by("-pk").only("pk").first(),
            "next": events.filter(pk__gt=event.pk).order_by("pk").only("pk").first(),
        }


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _csv_rows(events) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in events.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                e.pk,
                e.timestamp.isoformat(),
                e.actor_label,
                e.source,
                e.action,
                e.object_type,
                e.object_id,
                e.object_repr,
                json.dumps(e.changes, ensure_ascii=False, sort_keys=True),
                e.request_id,
                e.prev_hash,
                e.hash,
            ]
        )


@login_required
def export(request):
    """Every event matching the list's filters (not just one page), oldest first, streamed as CSV."""
    check_permission(request, VIEW_AUDIT)
    filterset = AuditEventFilterSet(
        request.GET or None, queryset=visible_events(request.user), request=request
    )
    if filterset.is_bound and not filterset.is_valid():
        errors = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in filterset.errors.items())
        return HttpResponseBadRequest(f"Invalid filters: {errors}", content_type="text/plain")
    events = (filterset.qs if filterset.is_bound else visible_events(request.user)).order_by("id")
    name = f"audit-events-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response = StreamingHttpResponse(_csv_rows(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
