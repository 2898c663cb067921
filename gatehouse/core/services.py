"""Audited writes shared by every domain service.

Domain services (people, teams, systems, ...) validate their own rules and then call these; this is the one
place where a change reaches both the database and the audit trail, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.models import ChangeLoggedModel, json_safe

M = TypeVar("M", bound=ChangeLoggedModel)
# Writes rows that hang off the object (e.g. a system's contacts) and returns their changes for the same event.
RelatedWriter = Callable[[Any], dict[str, list[Any]]]


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field-level before and after for the fields that differ."""
    keys = list(before) + [k for k in after if k not in before]
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def _event(action: str, obj: ChangeLoggedModel, changes: dict[str, list[Any]]) -> EventDraft:
    return EventDraft(
        action=action,
        object_type=obj.audit_label(),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=changes,
    )


def create_object(
    model: type[M],
    *,
    fields: dict[str, Any],
    m2m: dict[str, Iterable[Any]] | None = None,
    related: RelatedWriter | None = None,
    validate: bool = True,
) -> M:
    """Create, validate and audit one object."""
    obj = model(**fields)
    with transaction.atomic():
        if validate:
            obj.full_clean()
        obj.save()
        changes = {k: [None, v] for k, v in obj.audit_snapshot().items() if v not in (None, "", [], {})}
        for name, values in (m2m or {}).items():
            getattr(obj, name).set(values)
            ids = sorted(json_safe(getattr(v, "pk", v)) for v in values)
            if ids:
                changes[name] = [None, ids]
        if related is not None:
            changes.update(related(obj))
        record_events([_event(AuditAction.CREATE, obj, changes)])
    return obj


def update_object(
    obj: M,
    *,
    fields: dict[str, Any],
    m2m: dict[str, Iterable[Any]] | None = None,
    related: RelatedWriter | None = None,
    validate: bool = True,
) -> tuple[M, dict[str, list[Any]]]:
    """Apply field changes; save and audit only when something really changed.

    Returns the object and the changes written (empty when the update was a no-op).
    """
    unknown = [name for name in fields if not hasattr(obj, name)]
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    before = obj.audit_snapshot()
    for name, value in fields.items():
        setattr(obj, name, value)
    after = obj.audit_snapshot()
    changes = diff(before, after)
    with transaction.atomic():
        for name, values in (m2m or {}).items():
            manager = getattr(obj, name)
            old_ids = sorted(json_safe(pk) for pk in manager.values_list("pk", flat=True))
            new_ids = sorted(json_safe(getattr(v, "pk", v)) for v in values)
            if old_ids != new_ids:
                manager.set(values)
                changes[name] = [old_ids, new_ids]
        if related is not None:
            changes.update(related(obj))
        if not changes:
            return obj, {}
        if validate:
            obj.full_clean()
        field_changes = [k for k in changes if k in after]
        if field_changes:
            update_fields = [obj._meta.get_field(_field_name(obj, k)).name for k in field_changes]
            obj.save(update_fields=[*update_fields, "last_updated"])
        record_events([_event(AuditAction.UPDATE, obj, changes)])
    return obj, changes


def delete_object(obj: ChangeLoggedModel) -> None:
    """Delete one object and record what it held."""
    with transaction.atomic():
        changes = {k: [v, None] for k, v in obj.audit_snapshot().items() if v not in (None, "", [], {})}
        event = _event(AuditAction.DELETE, obj, changes)
        obj.delete()
        record_events([event])


def _field_name(obj: ChangeLoggedModel, key: str) -> str:
    for field in obj._meta.concrete_fields:
        if key in (field.name, field.attname):
            return field.name
    raise KeyError(key)
