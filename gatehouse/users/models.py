from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from gatehouse.core.models import ChangeLoggedModel

TOKEN_PREFIX = "gth_"


class User(AbstractUser):
    """A Gatehouse login. Most are linked to a person of the directory; roles are the user's groups."""

    person = models.OneToOneField(
        "directory.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="user"
    )
    access_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="After this time the user can no longer sign in (auditors, contractors).",
    )

    def role_names(self) -> set[str]:
        if not hasattr(self, "_role_names"):
            self._role_names = set(self.groups.values_list("name", flat=True))
        return self._role_names

    def has_role(self, role: str) -> bool:
        return role in self.role_names()

    @property
    def access_expired(self) -> bool:
        return self.access_expires_at is not None and self.access_expires_at <= timezone.now()

    def has_perm(self, perm, obj=None):
        # Unlike Django's default, a superuser goes through the backend too, so that read-only roles hold.
        if not self.is_active:
            return False
        from django.contrib.auth.models import _user_has_perm

        return _user_has_perm(self, perm, obj)


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 cannot be brute-forced and allows an indexed lookup.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(ChangeLoggedModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise a token.")
    digest = models.CharField(max_length=64, unique=True)
    read_only = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    audit_exclude = ("created", "last_updated", "digest", "last_used_at")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class LoginFailure(models.Model):
    """A failed sign-in, kept for throttling. Old rows are pruned by a scheduled job."""

    username = models.CharField(max_length=150, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return (
            f"{self.username} from {self.ip_address or 'unknown address'} at {self.timestamp:%Y-%m-%d %H:%M}"
        )
