"""The caller and their API tokens."""

from __future__ import annotations

import datetime

from ninja import Field, Schema

from gatehouse.core.api.schemas import InputSchema
from gatehouse.directory.api.schemas import PersonBrief
from gatehouse.users.roles import ROLES


class RoleOut(Schema):
    name: str
    label: str


class MeOut(Schema):
    id: int
    username: str
    name: str
    email: str
    person: PersonBrief | None = Field(description="The directory entry this login belongs to, if any.")
    roles: list[RoleOut]
    permissions: list[str] = Field(
        description="Every global permission the roles give, e.g. catalog.view_system."
    )
    access_expires_at: datetime.datetime | None
    authenticated_by: str = Field(description='"token" or "session".')
    token_read_only: bool | None = Field(
        description="Whether the token in use is read-only; null for a session."
    )


def me(request) -> dict:
    user = request.user
    token = getattr(request, "api_token", None)
    return {
        "id": user.pk,
        "username": user.get_username(),
        "name": user.get_full_name(),
        "email": user.email,
        "person": user.person,
        "roles": [
            {"name": name, "label": ROLES[name]["label"]}
            for name in sorted(user.role_names())
            if name in ROLES
        ],
        "permissions": sorted(user.get_all_permissions()),
        "access_expires_at": user.access_expires_at,
        "authenticated_by": "token" if token is not None else "session",
        "token_read_only": token.read_only if token is not None else None,
    }


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise the token.")
    read_only: bool
    state: str = Field(description="active, expired or revoked.")
    created: datetime.datetime
    expires_at: datetime.datetime | None
    last_used_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


class TokenCreatedOut(TokenOut):
    secret: str = Field(description="The token itself. Shown this once; Gatehouse keeps only its hash.")


class TokenIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=100)
    read_only: bool = Field(False, description="Auditors' tokens are always read-only.")
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Null for a token that does not expire."
    )
