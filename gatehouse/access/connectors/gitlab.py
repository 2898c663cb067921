"""GitLab group membership and role over the REST API v4 (group members and users).

- List: GET /api/v4/groups/:id/members?per_page=100&page=N, following the `X-Next-Page` header. A member
  counts for an entitlement when their access_level is the entitlement's external_role (developer, ...).
- Look a person up: GET /api/v4/users?search=<email> (administrators see emails; the match must be exact).
- Add: POST /api/v4/groups/:id/members {"user_id", "access_level"} (201); a 409 "Member already exists" is
  followed by PUT /api/v4/groups/:id/members/:user_id with the access level.
- Remove: DELETE /api/v4/groups/:id/members/:user_id (204).
- Auth: `PRIVATE-TOKEN: <token>`. last_used_at: the member's last_activity_on, when the instance reports it.

Settings: GATEHOUSE_GITLAB_URL (default https://gitlab.com) and GATEHOUSE_GITLAB_TOKEN.
"""

from __future__ import annotations

import datetime
from urllib.parse import quote, urlencode

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

DEFAULT_URL = "https://gitlab.com"
PAGE_SIZE = 100
ACCESS_LEVELS = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}
LEVEL_NAMES = {v: k for k, v in ACCESS_LEVELS.items()}


def _last_activity(value) -> datetime.datetime | None:
    if isinstance(value, str) and len(value) == 10:  # a date, "2026-11-20"
        value = f"{value}T00:00:00Z"
    return parse_timestamp(value)


class GitLabConnector(BaseConnector):
    name = "gitlab"
    label = "GitLab"

    @classmethod
    def is_configured(cls) -> bool:
        return bool(setting_or_env("GATEHOUSE_GITLAB_TOKEN"))

    @classmethod
    def from_settings(cls) -> GitLabConnector:
        token = setting_or_env("GATEHOUSE_GITLAB_TOKEN")
        if not token:
            raise ConnectorNotConfigured("GitLab is not configured: set GATEHOUSE_GITLAB_TOKEN")
        url = setting_or_env("GATEHOUSE_GITLAB_URL") or DEFAULT_URL
        return cls(HttpClient(url, {"PRIVATE-TOKEN": token}, secrets=[token], service="GitLab"))

    def _group_path(self, entitlement) -> str:
        return f"/api/v4/groups/{quote(self.group(entitlement), safe='')}/members"

    def level(self, entitlement) -> int:
        role = (entitlement.external_role or "developer").strip().lower()
        if role not in ACCESS_LEVELS:
            raise ConnectorError(
                f"{entitlement} has GitLab access level {role!r}; use one of {', '.join(ACCESS_LEVELS)}",
                kind="config",
            )
        return ACCESS_LEVELS[role]

    def list_members(self, entitlement) -> list[Member]:
        """The group's direct members at the entitlement's access level."""
        base = self._group_path(entitlement)
        wanted = self.level(entitlement)
        members: list[Member] = []
        page = "1"
        for _ in range(MAX_PAGES):
            response = self.client.request(
                "GET", f"{base}?{urlencode({'per_page': PAGE_SIZE, 'page': page})}"
            )
            if not isinstance(response.body, list):
                raise ConnectorError("GitLab answered the group members with something that is not a list")
            for member in response.body:
                if member.get("access_level") != wanted:
                    continue
                members.append(
                    Member(
                        email=(member.get("email") or member.get("public_email") or "").strip().lower(),
                        role=LEVEL_NAMES.get(member.get("access_level"), str(member.get("access_level"))),
                        last_used_at=_last_activity(member.get("last_activity_on")),
                        external_id=str(member.get("username") or member.get("id", "")),
                    )
                )
            page = (response.headers.get("x-next-page") or "").strip()
            if not page:
                return members
        raise ConnectorError(f"GitLab kept paginating past {MAX_PAGES} pages; stopped")

    def _user_id(self, email: str) -> int:
        response = self.client.request("GET", f"/api/v4/users?{urlencode({'search': email})}")
        users = response.body if isinstance(response.body, list) else []
        wanted = email.strip().lower()
        for user in users:
            emails = {(user.get(k) or "").strip().lower() for k in ("email", "public_email")}
            if wanted in emails and user.get("id") is not None:
                return int(user["id"])
        raise ConnectorError(f"GitLab has no user with the email {email}", status=404, kind="not_found")

    def add_member(self, entitlement, email: str) -> str:
        group = self.group(entitlement)
        level = self.level(entitlement)
        user_id = self._user_id(email)
        try:
            response = self.client.request(
                "POST", self._group_path(entitlement), {"user_id": user_id, "access_level": level}
            )
        except ConnectorError as exc:
            if exc.status != 409:
                raise
            response = self.client.request(
                "PUT", f"{self._group_path(entitlement)}/{user_id}", {"access_level": level}
            )
            return (
                f"GitLab: {email} (user {user_id}) was already in {group}; access level set to "
                f"{LEVEL_NAMES[level]} (HTTP {response.status})"
            )
        return f"GitLab: added {email} (user {user_id}) to {group} as {LEVEL_NAMES[level]} (HTTP {response.status})"

    def remove_member(self, entitlement, email: str) -> str:
        group = self.group(entitlement)
        user_id = self._user_id(email)
        response = self.client.request("DELETE", f"{self._group_path(entitlement)}/{user_id}")
        return f"GitLab: removed {email} (user {user_id}) from {group} (HTTP {response.status})"
