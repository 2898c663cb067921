import re

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse

from gatehouse.core import context
from gatehouse.core.context import Source

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ContentSecurityPolicyMiddleware:
    """Every response allows 'self' only: no CDN, no inline script or style."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class RequestContextMiddleware:
    """Gives every request an id (a caller's X-Request-ID is kept when well formed) and a source."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        request.request_id = request_id
        source = Source.API if request.path.startswith("/api/") else Source.WEB
        with context.change_context(source=source, request_id=request_id, actor=None):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class RejectNulMiddleware:
    """A NUL character in the path or the query string is refused before any view sees it.

    PostgreSQL cannot compare text with NUL (it raises instead of finding nothing), so a lookup such as
    /api/v1/teams/%00 would otherwise be a 500 on PostgreSQL and a 404 on SQLite.
    """

    MESSAGE = "Must not contain NUL characters."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        place = None
        if "\x00" in request.path:
            place = ["path"]
        else:
            for name, values in request.GET.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    place = ["query", name.replace("\x00", "\\x00")]
                    break
        if place is None:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"detail": [{"loc": place, "msg": self.MESSAGE, "type": "value_error"}]}, status=422
            )
        return HttpResponseBadRequest(f"{' '.join(place)}: {self.MESSAGE}", content_type="text/plain")


class AuditActorMiddleware:
    """Session-authenticated pages act as the signed-in user; API token auth sets the actor itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
        with context.change_context(actor=actor):
            return self.get_response(request)
