"""Columns of the desk's lists: my requests (requester portal) and the agent queues."""

from __future__ import annotations

from django.utils.html import format_html

from gatehouse.core.tables import Column, Table
from gatehouse.core.templatetags.gatehouse import EMPTY
from gatehouse.desk.models import SlaState

SLA_RANK = {SlaState.BREACHED: 3, SlaState.AT_RISK: 2, SlaState.OK: 1, SlaState.MET: 0, SlaState.NONE: -1}


def status_badge(request):
    return format_html(
        '<span class="badge desk-status-{}">{}</span>', request.status, request.get_status_display()
    )


def priority_badge(request):
    return format_html(
        '<span class="badge priority-{}">{}</span>', request.priority, request.get_priority_display()
    )


def worst_sla_state(request) -> str:
    states = [request.first_response_state, request.resolution_state]
    return max(states, key=lambda s: SLA_RANK.get(s, -1))


def sla_badge(request):
    """The worse of the two SLA states, with the next due time as its title."""
    state = worst_sla_state(request)
    if state == SlaState.NONE:
        return EMPTY
    due = request.first_response_due if request.first_responded_at is None else request.resolution_due
    title = f"Due {due:%Y-%m-%d %H:%M} UTC" if due else ""
    return format_html('<span class="badge sla-{}" title="{}">{}</span>', state, title, SlaState(state).label)


def _subject(request):
    return format_html(
        '<a href="{}"><strong>{}</strong></a> {}',
        request.get_absolute_url(),
        request.reference,
        request.subject,
    )


def _system(request):
    return request.system.name if request.system_id else EMPTY


def _assignee(request):
    return request.assignee.get_username() if request.assignee_id else EMPTY


class MyRequestTable(Table):
    columns = (
        Column("subject", "Request", accessor=_subject, order_by="id"),
        Column("type", "Type", accessor=lambda r: r.request_type.name, order_by="request_type__name"),
        Column("system", "System", accessor=_system, order_by="system__name"),
        Column("status", "Status", accessor=status_badge, order_by="status"),
        Column("queue", "With", accessor=lambda r: r.queue.name, order_by="queue__name"),
        Column(
            "updated",
            "Updated",
            accessor=lambda r: f"{r.last_updated:%Y-%m-%d %H:%M}",
            order_by="last_updated",
        ),
    )
    default_order = "-subject"


class QueueTable(Table):
    columns = (
        Column("select", "", template="desk/_select_cell.html"),
        Column("subject", "Request", accessor=_subject, order_by="id"),
        Column("priority", "Priority", accessor=priority_badge, order_by="priority"),
        Column("status", "Status", accessor=status_badge, order_by="status"),
        Column("sla", "SLA", accessor=sla_badge, order_by="resolution_due"),
        Column("type", "Type", accessor=lambda r: r.request_type.name, order_by="request_type__name"),
        Column("system", "System", accessor=_system, order_by="system__name"),
        Column("requester", "Requester", accessor=lambda r: r.requester.name, order_by="requester__name"),
        Column("queue", "Queue", accessor=lambda r: r.queue.name, order_by="queue__name"),
        Column("assignee", "Assignee", accessor=_assignee, order_by="assignee__username"),
        Column("created", "Filed", accessor=lambda r: f"{r.created:%Y-%m-%d %H:%M}", order_by="created"),
    )
    default_order = "-subject"
