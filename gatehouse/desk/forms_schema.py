"""A request type's form as data, and the answers to it.

``form_schema`` is a list of fields: ``{"name", "label", "type", "required", "choices", "help_text"}``.
Types: text, textarea, choice, multichoice, boolean, date, email, person (a person's email).

``validate_form_schema`` checks a type's form (errors keyed ``form_schema.<index>.<key>``);
``clean_answers`` checks a request's answers against it and returns them normalised (errors keyed
``fields.<name>``, so a page shows them beside the field and the API names them).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

FIELD_TYPES = ("text", "textarea", "choice", "multichoice", "boolean", "date", "email", "person")
FIELD_KEYS = {"name", "label", "type", "required", "choices", "help_text"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_FIELDS = 50
MAX_CHOICES = 200
MAX_TEXT = {"text": 500, "textarea": 20_000}


def validate_form_schema(schema: Any, *, key: str = "form_schema") -> None:
    errors: dict[str, str] = {}
    if not isinstance(schema, list):
        raise ValidationError({key: "Must be a list of fields."})
    if len(schema) > MAX_FIELDS:
        raise ValidationError({key: f"A form may have at most {MAX_FIELDS} fields."})
    seen: set[str] = set()
    for index, field in enumerate(schema):
        where = f"{key}.{index}"
        if not isinstance(field, Mapping):
            errors[where] = "Each field must be an object."
            continue
        unknown = set(field) - FIELD_KEYS
        if unknown:
            errors[where] = f"Unknown key: {', '.join(sorted(map(str, unknown)))}."
        name = field.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors[f"{where}.name"] = (
                "A name is lower-case letters, digits and _, starting with a letter (at most 50)."
            )
        elif name in seen:
            errors[f"{where}.name"] = f"The name {name!r} is used twice."
        else:
            seen.add(name)
        label = field.get("label", "")
        if not isinstance(label, str) or len(label) > 200:
            errors[f"{where}.label"] = "A label is text of at most 200 characters."
        kind = field.get("type", "text")
        if kind not in FIELD_TYPES:
            errors[f"{where}.type"] = f"Unknown type; one of: {', '.join(FIELD_TYPES)}."
        if not isinstance(field.get("required", False), bool):
            errors[f"{where}.required"] = "Must be true or false."
        help_text = field.get("help_text", "")
        if not isinstance(help_text, str) or len(help_text) > 1000:
            errors[f"{where}.help_text"] = "Help text is text of at most 1000 characters."
        choices = field.get("choices")
        if kind in ("choice", "multichoice"):
            if (
                not isinstance(choices, list)
                or not choices
                or len(choices) > MAX_CHOICES
                or not all(isinstance(c, str) and c.strip() and len(c) <= 200 for c in choices)
            ):
                errors[f"{where}.choices"] = f"Give a list of 1 to {MAX_CHOICES} non-empty choices."
            elif len(set(choices)) != len(choices):
                errors[f"{where}.choices"] = "A choice is listed twice."
        elif choices not in (None, []):
            errors[f"{where}.choices"] = "Only choice and multichoice fields have choices."
    if errors:
        raise ValidationError(errors)


def field_label(field: Mapping[str, Any]) -> str:
    return field.get("label") or field["name"].replace("_", " ").capitalize()


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def _clean_one(field: Mapping[str, Any], value: Any) -> Any:
    """The normalised answer, or raise ValueError with the message."""
    kind = field.get("type", "text")
    if kind in ("text", "textarea"):
        if not isinstance(value, str):
            raise ValueError("Must be text.")
        if "\x00" in value:
            raise ValueError("Must not contain NUL characters.")
        value = value.strip()
        if len(value) > MAX_TEXT[kind]:
            raise ValueError(f"At most {MAX_TEXT[kind]} characters.")
        return value
    if kind == "choice":
        if value not in field["choices"]:
            raise ValueError(f"Choose one of: {', '.join(field['choices'])}.")
        return value
    if kind == "multichoice":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("Must be a list of choices.")
        bad = [v for v in value if v not in field["choices"]]
        if bad:
            raise ValueError(f"Not a choice: {', '.join(bad)}. Choose from: {', '.join(field['choices'])}.")
        return list(dict.fromkeys(value))
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "on", "yes", "1", "false", "off", "no", "0"):
            return value.lower() in ("true", "on", "yes", "1")
        raise ValueError("Must be true or false.")
    if kind == "date":
        if isinstance(value, datetime.date):
            return value.isoformat()
        if not isinstance(value, str):
            raise ValueError("Must be a date (YYYY-MM-DD).")
        try:
            return datetime.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError("Must be a date (YYYY-MM-DD).") from None
    if kind in ("email", "person"):
        if not isinstance(value, str):
            raise ValueError("Must be an email address.")
        value = value.strip().lower()
        try:
            validate_email(value)
        except ValidationError:
            raise ValueError("Enter a valid email address.") from None
        if kind == "person":
            from gatehouse.directory.models import Person

            if not Person.objects.filter(email=value).exists():
                raise ValueError(f"No person with email {value}.")
        return value
    raise ValueError("Unknown field type.")


def clean_answers(schema: list[Mapping[str, Any]], answers: Any, *, key: str = "fields") -> dict[str, Any]:
    """Check a request's answers against the form; return them normalised (empty optional answers dropped)."""
    if answers is None:
        answers = {}
    if not isinstance(answers, Mapping):
        raise ValidationError({key: "Must be an object of answers by field name."})
    by_name = {f["name"]: f for f in schema}
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name in answers:
        if name not in by_name:
            label = str(name)[:50]
            errors[f"{key}.{label}"] = (
                f"This form has no field {label!r}; its fields are: {', '.join(by_name) or 'none'}."
            )
    for name, field in by_name.items():
        value = answers.get(name)
        if _empty(value) and not (field.get("type") == "boolean" and value is False):
            if field.get("required"):
                errors[f"{key}.{name}"] = f"{field_label(field)} is required."
            continue
        try:
            cleaned[name] = _clean_one(field, value)
        except ValueError as exc:
            errors[f"{key}.{name}"] = str(exc)
    if errors:
        raise ValidationError(errors)
    return cleaned
