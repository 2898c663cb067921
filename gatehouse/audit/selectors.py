"""Reads of the audit trail."""

from __future__ import annotations

from django.db.models import QuerySet

from gatehouse.audit.models import AuditEvent


def visible_events(user) -> QuerySet[AuditEvent]:
    if user is None or not user.has_perm("audit.view_auditevent"):
        return AuditEvent.objects.none()
    return AuditEvent.objects.all()


def object_history(user, obj) -> QuerySet[AuditEvent]:
    return visible_events(user).filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
