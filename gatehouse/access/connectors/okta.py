"""Okta group membership over the Okta Management API (Groups and Users APIs).

- List: GET /api/v1/groups/{groupId}/users?limit=200, following the `Link: <...>; rel="next"` header.
- Look a person up by login: GET /api/v1/users/{login} (the login is the person's email in most orgs).
- Add: PUT /api/v1/groups/{groupId}/users/{userId} (204). Remove: DELETE the same path (204).
- Auth: `Authorization: SSWS <API token>`. last_used_at: the user's lastLogin (their last Okta sign-in).

Settings: GATEHOUSE_OKTA_URL (https://<org>.okta.com) and GATEHOUSE_OKTA_TOKEN.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from gatehouse.access.connectors.base import (
    MAX_PAGES,
    BaseConnector,
    ConnectorError,
    ConnectorNotConfigured,
    HttpClient,
    Member,
    parse_timestamp,
    setting_or_env,
)

PAGE_SIZE = 200
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')


def next_link(header: str | None) -> str | None:
    """The rel="next" URL of an RFC 8288 Link header, None when there is none."""
    for url, rel in _LINK.findall(header or ""):
        if "next" in rel.split():
            return url
    return None


class OktaConnector(BaseConnector):
    name = "okta"
    label = "Okta"

    @classmethod
    def is_configured(cls) -> bool:
        return bool(setting_or_env("GATEHOUSE_OKTA_URL") and setting_or_env("GATEHOUSE_OKTA_TOKEN"))

    @classmethod
    def from_settings(cls) -> OktaConnector:
        url, token = setting_or_env("GATEHOUSE_OKTA_URL"), setting_or_env("GATEHOUSE_OKTA_TOKEN")
        if not url or not token:
            raise ConnectorNotConfigured(
                "Okta is not configured: set GATEHOUSE_OKTA_URL and GATEHOUSE_OKTA_TOKEN"
            )
        return cls(HttpClient(url, {"Authorization": f"SSWS {token}"}, secrets=[token], service="Okta"))

    def list_members(self, entitlement) -> list[Member]:
        group = quote(self.group(entitlement), safe="")
        path: str | None = f"/api/v1/groups/{group}/users?limit={PAGE_SIZE}"
        members: list[Member] = []
        for _ in range(MAX_PAGES):
            if path is None:
                return members
            response = self.client.request("GET", path)
            if not isinstance(response.body, list):
                raise ConnectorError("Okta answered the group's users with something that is not a list")
            for user in response.body:
                profile = user.get("profile") or {}
                email = (profile.get("email") or profile.get("login") or "").strip().lower()
                members.append(
                    Member(
                        email=email,
                        role="member",
                        last_used_at=parse_timestamp(user.get("lastLogin")),
                        external_id=str(user.get("id", "")),
                    )
                )
            path = next_link(response.headers.get("link"))
        raise ConnectorError(f"Okta kept paginating past {MAX_PAGES} pages; stopped")

    def _user_id(self, email: str) -> str:
        try:
            response = self.client.request("GET", f"/api/v1/users/{quote(email, safe='@')}")
        except ConnectorError as exc:
            if exc.kind == "not_found":
                raise ConnectorError(
                    f"Okta has no user with the login {email}", status=404, kind="not_found"
                ) from None
            raise
        user_id = (response.body or {}).get("id") if isinstance(response.body, dict) else None
        if not user_id:
            raise ConnectorError(f"Okta answered the lookup of {email} without a user id")
        return str(user_id)

    def add_member(self, entitlement, email: str) -> str:
        group = self.group(entitlement)
        user_id = self._user_id(email)
        response = self.client.request(
            "PUT", f"/api/v1/groups/{quote(group, safe='')}/users/{quote(user_id, safe='')}"
        )
        return f"Okta: added user {user_id} ({email}) to group {group} (HTTP {response.status})"

    def remove_member(self, entitlement, email: str) -> str:
        group = self.group(entitlement)
        user_id = self._user_id(email)
        response = self.client.request(
            "DELETE", f"/api/v1/groups/{quote(group, safe='')}/users/{quote(user_id, safe='')}"
        )
        return f"Okta: removed user {user_id} ({email}) from group {group} (HTTP {response.status})"
