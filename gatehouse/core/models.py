"""Base classes every Gatehouse model shares."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

from django.db import models


def json_safe(value: Any) -> Any:
    """The form a field value takes in an audit event: JSON-native and stable across databases."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [json_safe(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return str(value)


class ChangeLoggedModel(models.Model):
    """A model whose every create, update and delete goes through gatehouse.core.services and the audit trail.

    Subclasses list fields that are bookkeeping rather than content in `audit_exclude`.
    """

    created = models.DateTimeField(auto_now_add=True)
    last_updated = models.DateTimeField(auto_now=True)

    audit_exclude: tuple[str, ...] = ("created", "last_updated")

    class Meta:
        abstract = True

    @classmethod
    def audit_label(cls) -> str:
        return cls._meta.label_lower

    def audit_snapshot(self) -> dict[str, Any]:
        """Field values as the audit trail records them: concrete fields, foreign keys by id."""
        snapshot: dict[str, Any] = {}
        for field in self._meta.concrete_fields:
            if field.name in self.audit_exclude or field.primary_key:
                continue
            key = field.attname if field.is_relation else field.name
            snapshot[key] = json_safe(field.value_from_object(self))
        return snapshot
