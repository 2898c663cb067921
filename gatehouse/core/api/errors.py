"""Every error the API gives is a 4xx with a JSON body; field errors name the field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404
from ninja.errors import HttpError
from ninja.errors import ValidationError as SchemaError

from gatehouse.core.api.filtering import FilterError

# The name of the body parameter in every endpoint; ninja puts it in error locations, callers never see it.
BODY_PARAMETER = "payload"


def _loc(location: str, field: str) -> list[str | int]:
    """ "contacts.0.person" names a place inside a field: ["body", "contacts", 0, "person"]."""
    if field == "__all__":
        return [location]
    return [location, *(int(part) if part.isdigit() else part for part in field.split("."))]


def validation_detail(exc: ValidationError, location: str = "body") -> list[dict]:
    if hasattr(exc, "error_dict"):
        return [
            {
                "loc": _loc(location, field),
                "msg": " ".join(str(m) for m in error.messages),
                "type": "value_error",
            }
            for field, error in exc.error_dict.items()
            for error in [ValidationError(error)]
        ]
    return [{"loc": [location], "msg": " ".join(exc.messages), "type": "value_error"}]


@contextmanager
def fields_named(names: Mapping[str, str]) -> Iterator[None]:
    """Report a service's field errors under the names the API uses (the model's `manager` is `manager_email`)."""
    try:
        yield
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {names.get(field, field): error for field, error in exc.error_dict.items()}
        ) from exc


def schema_detail(errors: list[dict]) -> list[dict]:
    """ninja's schema errors in the same shape as ours: {loc, msg, type}, the loc as the caller sent it."""
    detail = []
    for error in errors:
        loc = list(error.get("loc", []))
        if loc[:2] == ["body", BODY_PARAMETER]:
            loc = ["body", *loc[2:]]
        msg = str(error.get("msg", "Invalid value."))
        detail.append(
            {"loc": loc, "msg": msg.removeprefix("Value error, "), "type": error.get("type", "value_error")}
        )
    return detail


def install(api) -> None:
    @api.exception_handler(SchemaError)
    def on_schema_error(request, exc: SchemaError):
        return api.create_response(request, {"detail": schema_detail(exc.errors)}, status=422)

    @api.exception_handler(HttpError)
    def on_http_error(request, exc: HttpError):
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # ninja could not parse the body: a 422 like any other bad input, saying where.
            detail = [{"loc": ["body"], "msg": "The request body is not valid JSON.", "type": "json_invalid"}]
            return api.create_response(request, {"detail": detail}, status=422)
        return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)

    @api.exception_handler(ValidationError)
    def on_validation_error(request, exc: ValidationError):
        return api.create_response(request, {"detail": validation_detail(exc)}, status=422)

    @api.exception_handler(FilterError)
    def on_filter_error(request, exc: FilterError):
        detail = [
            {"loc": ["query", field], "msg": " ".join(messages), "type": "value_error"}
            for field, messages in exc.errors.items()
        ]
        return api.create_response(request, {"detail": detail}, status=422)

    @api.exception_handler(PermissionDenied)
    def on_permission_denied(request, exc: PermissionDenied):
        return api.create_response(request, {"detail": str(exc) or "Permission denied."}, status=403)

    @api.exception_handler(Http404)
    def on_not_found(request, exc):
        return api.create_response(request, {"detail": "Not found."}, status=404)

    @api.exception_handler(ObjectDoesNotExist)
    def on_does_not_exist(request, exc):
        return api.create_response(request, {"detail": "Not found."}, status=404)

    @api.exception_handler(IntegrityError)
    def on_integrity_error(request, exc):
        # Services validate uniqueness first; this is the rare race between two writers.
        return api.create_response(
            request, {"detail": "The change conflicts with another one; reload and try again."}, status=409
        )
