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
