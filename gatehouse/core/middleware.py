import re

from django.conf import settings

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


class AuditActorMiddleware:
    """Session-authenticated pages act as the signed-in user; API token auth sets the actor itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
        with context.change_context(actor=actor):
            return self.get_response(request)
