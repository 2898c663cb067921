from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

_url = URLValidator(schemes=["http", "https"])


def validate_link(value: str) -> None:
    """A link is an http(s) URL or a path inside Gatehouse (starting with a single /)."""
    if value.startswith("/") and not value.startswith("//"):
        if any(c.isspace() for c in value):
            raise ValidationError("A path cannot contain spaces.")
        return
    try:
        _url(value)
    except ValidationError as exc:
        raise ValidationError("Enter an http(s) URL or a path starting with /.") from exc


def clean_text(value: Any, name: str, *, max_length: int | None = None, required: bool = False) -> str:
    """A service's text argument: a string without NUL (PostgreSQL cannot store it), stripped, within length.

    Errors are keyed by `name`, so the API reports them under the field the caller sent.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({name: "Must be text."})
    if "\x00" in value:
        raise ValidationError({name: "Must not contain NUL characters."})
    value = value.strip()
    if required and not value:
        raise ValidationError({name: "This field is required."})
    if max_length is not None and len(value) > max_length:
        raise ValidationError({name: f"At most {max_length} characters (it has {len(value)})."})
    return value
