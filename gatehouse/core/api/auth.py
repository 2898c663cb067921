"""API authentication: hashed, scoped tokens (Authorization: Bearer gth_...) or the browser session."""

from __future__ import annotations

from django.utils import timezone
from ninja.errors import HttpError
from ninja.security import HttpBearer, SessionAuth

from gatehouse.core import context

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class TokenAuth(HttpBearer):
    openapi_description = "An API token from your profile page or `gatehouse create_api_token`."

    def authenticate(self, request, token: str):
        from gatehouse.users.selectors import active_token_for

        api_token = active_token_for(token)
        if api_token is None:
            return None
        if api_token.read_only and request.method not in SAFE_METHODS:
            raise HttpError(403, "This API token is read-only.")
        request.user = api_token.user
        request.api_token = api_token
        context.set_actor(api_token.user)
        # Last use is bookkeeping, not a change: a direct update keeps it out of the audit trail.
        type(api_token).objects.filter(pk=api_token.pk).update(last_used_at=timezone.now())
        return api_token.user


class ActiveSessionAuth(SessionAuth):
    """Django session auth with CSRF on unsafe methods; expired or inactive users are refused."""

    def authenticate(self, request, key):
        user = super().authenticate(request, key)
        if user is None or getattr(user, "access_expired", False):
            return None
        return user


AUTH = [TokenAuth(), ActiveSessionAuth()]
