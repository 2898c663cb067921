"""Columns of the audit trail list."""

from django.urls import reverse
from django.utils.html import format_html

from gatehouse.core.tables import Column, Table


def _event_link(event):
    return format_html('<a href="{}">#{}</a>', reverse("audit:event", args=[event.pk]), event.pk)


class AuditEventTable(Table):
    columns = (
        Column("id", "Event", accessor=_event_link, order_by="id"),
        Column(
            "timestamp",
            "Time (UTC)",
            accessor=lambda e: e.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            order_by="timestamp",
        ),
        Column("actor", "Actor", accessor="actor_label", order_by="actor_label"),
        Column("source", "Source", accessor="get_source_display", order_by="source"),
        Column("action", "Action", template="audit/_action_cell.html", order_by="action"),
        Column("object", "Object", template="audit/_object_cell.html", order_by="object_type,object_id"),
        Column("changes", "Changes (before → after)", template="audit/_changes.html"),
    )
    default_order = "-id"
