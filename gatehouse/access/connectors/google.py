"""Google Workspace group membership over the Admin SDK Directory API (members resource).

- List: GET /admin/directory/v1/groups/{groupKey}/members?maxResults=200, following `nextPageToken`.
- Add: POST /admin/directory/v1/groups/{groupKey}/members {"email", "role": "MEMBER"}; a 409 "Member already
  exists" is the service saying the person is already in, and is reported as such.
- Remove: DELETE /admin/directory/v1/groups/{groupKey}/members/{memberKey} (204).
- Auth: `Authorization: Bearer <OAuth access token>` with the admin.directory.group.member scope.
  Google does not report when a member last used the group: last_used_at stays unknown.

Settings: GATEHOUSE_GOOGLE_TOKEN, and GATEHOUSE_GOOGLE_URL (default https://admin.googleapis.com).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from gatehouse.access.connectors.base import (
    MAX_PAGES,
    BaseConnector,
    ConnectorError,
    ConnectorNotConfigured,
    HttpClient,
    Member,
    setting_or_env,
)

DEFAULT_URL = "https://admin.googleapis.com"
PAGE_SIZE = 200


class GoogleConnector(BaseConnector):
    name = "google"
    label = "Google Workspace"

    @classmethod
    def is_configured(cls) -> bool:
        return bool(setting_or_env("GATEHOUSE_GOOGLE_TOKEN"))

    @classmethod
    def from_settings(cls) -> GoogleConnector:
        token = setting_or_env("GATEHOUSE_GOOGLE_TOKEN")
        if not token:
            raise ConnectorNotConfigured("Google Workspace is not configured: set GATEHOUSE_GOOGLE_TOKEN")
        url = setting_or_env("GATEHOUSE_GOOGLE_URL") or DEFAULT_URL
        return cls(
            HttpClient(url, {"Authorization": f"Bearer {token}"}, secrets=[token], service="Google Workspace")
        )

    def _members_path(self, entitlement) -> str:
        return f"/admin/directory/v1/groups/{quote(self.group(entitlement), safe='@')}/members"

    def list_members(self, entitlement) -> list[Member]:
        base = self._members_path(entitlement)
        members: list[Member] = []
        token = ""
        for _ in range(MAX_PAGES):
            query = {"maxResults": PAGE_SIZE, **({"pageToken": token} if token else {})}
            response = self.client.request("GET", f"{base}?{urlencode(query)}")
            body = response.body if isinstance(response.body, dict) else None
            if body is None:
                raise ConnectorError(
                    "Google Workspace answered the members list with something that is not an object"
                )
            for member in body.get("members") or []:
                if member.get("type", "USER") != "USER":
                    continue  # nested groups and customers are not people
                members.append(
                    Member(
                        email=(member.get("email") or "").strip().lower(),
                        role=(member.get("role") or "").lower(),
                        external_id=str(member.get("id", "")),
                    )
                )
            token = body.get("nextPageToken") or ""
            if not token:
                return members
        raise ConnectorError(f"Google Workspace kept paginating past {MAX_PAGES} pages; stopped")

    def add_member(self, entitlement, email: str) -> str:
        group = self.group(entitlement)
        try:
            response = self.client.request(
                "POST", self._members_path(entitlement), {"email": email, "role": "MEMBER"}
            )
        except ConnectorError as exc:
            if exc.status == 409:
                return f"Google Workspace: {email} is already a member of {group} (HTTP 409)"
            raise
        role = (response.body or {}).get("role", "MEMBER") if isinstance(response.body, dict) else "MEMBER"
        return f"Google Workspace: added {email} to {group} as {role} (HTTP {response.status})"

    def remove_member(self, entitlement, email: str) -> str:
        group = self.group(entitlement)
        response = self.client.request(
            "DELETE", f"{self._members_path(entitlement)}/{quote(email, safe='@')}"
        )
        return f"Google Workspace: removed {email} from {group} (HTTP {response.status})"
