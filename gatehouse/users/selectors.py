from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from gatehouse.users.models import TOKEN_PREFIX, ApiToken, User, hash_token


def active_token_for(raw: str) -> ApiToken | None:
    """The live token matching a presented secret, or None (unknown, revoked, expired, user locked out)."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(digest=hash_token(raw)).first()
    if token is None or not token.is_active:
        return None
    user = token.user
    if not user.is_active or user.access_expired:
        return None
    return token


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created")


def is_locked_out(username: str, ip_address: str | None = None) -> bool:
    from django.conf import settings

    from gatehouse.users.models import LoginFailure

    since = timezone.now() - timezone.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    recent = LoginFailure.objects.filter(timestamp__gte=since)
    if recent.filter(username__iexact=username).count() >= settings.LOGIN_FAILURE_LIMIT:
        return True
    # An address trying many usernames is throttled too, at a higher bar.
    return (
        bool(ip_address) and recent.filter(ip_address=ip_address).count() >= settings.LOGIN_FAILURE_LIMIT * 4
    )
