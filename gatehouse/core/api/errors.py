"""Every error the API gives is a 4xx with a JSON body; field errors name the field."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404

from gatehouse.core.api.filtering import FilterError


def validation_detail(exc: ValidationError, location: str = "body") -> list[dict]:
    if hasattr(exc, "error_dict"):
        return [
            {"loc": [location, field], "msg": " ".join(str(m) for m in error.messages), "type": "value_error"}
            for field, error in exc.error_dict.items()
            for error in [ValidationError(error)]
        ]
    return [{"loc": [location], "msg": " ".join(exc.messages), "type": "value_error"}]


def install(api) -> None:
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
