"""Sign-in throttling, API tokens and users."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.models import json_safe
from gatehouse.core.permissions import SYSTEM, require
from gatehouse.core.services import create_object, update_object
from gatehouse.users.models import ApiToken, LoginFailure, User, hash_token
from gatehouse.users.roles import ROLES
from gatehouse.users.selectors import is_locked_out


class LockedOut(Exception):
    """Too many failed sign-ins; try again later."""


def sign_in(request, username: str, password: str) -> User | None:
    """Check a password with throttling: after repeated failures the username is locked out for a while."""
    ip_address = request.META.get("REMOTE_ADDR") or None
    if is_locked_out(username, ip_address):
        raise LockedOut()
    user = authenticate(request, username=username, password=password)
    if user is None:
        LoginFailure.objects.create(username=username[:150], ip_address=ip_address)
        return None
    LoginFailure.objects.filter(username__iexact=username).delete()
    return user


def prune_login_failures(older_than: datetime.timedelta = datetime.timedelta(days=1)) -> int:
    deleted, _ = LoginFailure.objects.filter(timestamp__lt=timezone.now() - older_than).delete()
    return deleted


def create_api_token(
    *, actor, user: User, name: str, read_only: bool = False, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and stored only as a hash."""
    if actor is not SYSTEM and (actor is None or actor.pk != user.pk):
        raise PermissionDenied("You can only create tokens for yourself.")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name."})
    if expires_in_days is not None and expires_in_days < 1:
        raise ValidationError({"expires_in_days": "Must be 1 day or more."})
    raw = ApiToken.generate()
    expires_at = timezone.now() + datetime.timedelta(days=expires_in_days) if expires_in_days else None
    # A user who can only read (an auditor) only ever gets read-only tokens.
    if user.has_role("auditor"):
        read_only = True
    token = create_object(
        ApiToken,
        fields={
            "user": user,
            "name": name[:100],
            "prefix": raw[:12],
            "digest": hash_token(raw),
            "read_only": read_only,
            "expires_at": expires_at,
        },
    )
    return token, raw


def revoke_api_token(token: ApiToken, *, actor) -> ApiToken:
    if actor is not SYSTEM and (
        actor is None or (actor.pk != token.user_id and not actor.has_perm("users.change_user"))
    ):
        raise PermissionDenied("You can only revoke your own tokens.")
    if token.revoked_at is None:
        token, _ = update_object(token, fields={"revoked_at": timezone.now()})
    return token


def create_user(
    *,
    actor,
    username: str,
    person=None,
    roles: Iterable[str] = (),
    password: str | None = None,
    access_expires_at: datetime.datetime | None = None,
) -> User:
    """Create a login, optionally linked to a person, holding the given roles; audited without the password.

    Without a password the user cannot sign in with one (an unusable password is set).
    """
    require(actor, "users.add_user")
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationError({"roles": f"Unknown role: {', '.join(unknown)}."})
    user = User(
        username=(username or "").strip(),
        email=person.email if person is not None else "",
        person=person,
        access_expires_at=access_expires_at,
    )
    if person is not None:
        first, _, last = person.name.partition(" ")
        user.first_name, user.last_name = first[:150], last[:150]
    if password:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    with transaction.atomic():
        user.full_clean()
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        # User is Django's model, not a ChangeLoggedModel, so the event is built here; the password never is.
        fields = {
            "username": user.username,
            "email": user.email,
            "person_id": user.person_id,
            "access_expires_at": json_safe(user.access_expires_at),
            "roles": roles,
        }
        record_events(
            [
                EventDraft(
                    action=AuditAction.CREATE,
                    object_type=User._meta.label_lower,
                    object_id=str(user.pk),
                    object_repr=user.username,
                    changes={k: [None, v] for k, v in fields.items() if v not in (None, "", [])},
                )
            ]
        )
    return user
