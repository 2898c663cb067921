"""Building blocks shared by every app's API schemas."""

from __future__ import annotations

import math
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.urls import NoReverseMatch
from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, create_model, field_validator

MAX_DEPTH = 20


def _storable(value: Any, depth: int = 0) -> Any:
    """Refuse what one database or the other cannot store, so both answer 422 rather than 500.

    PostgreSQL refuses NUL in text, JSON has no NaN or Infinity, and very deep nesting exhausts the stack.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"Nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("Must not contain NUL characters.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("Must be a finite number.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, depth + 1)
            _storable(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _storable(item, depth + 1)
    return value


def _email(value: str) -> str:
    value = value.strip().lower()
    try:
        validate_email(value)
    except DjangoValidationError as exc:
        raise ValueError("Enter a valid email address.") from exc
    return value


# Django's own email check, so the API accepts exactly what the model does (no extra dependency).
Email = Annotated[str, Field(max_length=254, json_schema_extra={"format": "email"}), AfterValidator(_email)]


class InputSchema(Schema):
    """A request body: unknown fields are refused (422) rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_unstorable(cls, value: Any) -> Any:
        return _storable(value)


def patch_schema(schema: type[InputSchema], name: str | None = None) -> type[InputSchema]:
    """The PATCH form of a create schema: every field optional, only the fields sent are applied.

    An omitted field is left alone; `null` is accepted only where the create schema allows it, because pydantic
    does not validate defaults: an omitted field stays unset while a sent `null` is checked against the type.
    """
    fields: dict[str, Any] = {}
    for field_name, info in schema.model_fields.items():
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[field_name] = (annotation, Field(None, description=info.description))
    return create_model(name or f"{schema.__name__.removesuffix('In')}Patch", __base__=schema, **fields)


def sent_fields(payload: Schema) -> dict[str, Any]:
    """What the caller really sent, as plain data (nested schemas become dicts)."""
    return payload.model_dump(exclude_unset=True)


def web_url(obj: Any) -> str | None:
    """The object's page in the web UI, or None where that page does not exist (yet)."""
    try:
        return obj.get_absolute_url()
    except (NoReverseMatch, AttributeError):
        return None


def label(obj: Any, field: str) -> str:
    """The display label of a choice field ("Tier 1 Mission Critical" for 1), "" when empty."""
    value = getattr(obj, field)
    if value in (None, ""):
        return ""
    return str(getattr(obj, f"get_{field}_display")())
