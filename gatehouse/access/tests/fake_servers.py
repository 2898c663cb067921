"""Local fake Okta, Google Workspace and GitLab servers for the connector tests.

Each is an http.server thread on 127.0.0.1:0 that keeps groups and users in memory and answers with the JSON
shapes the vendors document (Okta Groups/Users API, Admin SDK Directory members, GitLab v4 group members),
paginated their way (Okta Link headers with an `after` cursor, Google nextPageToken, GitLab X-Next-Page),
checks the credential header, and answers 401 for a wrong token and 404 for an unknown group or user.
`script(...)` queues canned answers (e.g. 429 with Retry-After, 500) served before the normal handling.
Every request is recorded (method, path, headers, JSON body) for the tests to assert on.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

OKTA_TOKEN = "00okta-s3cr3t-T0KEN"
GOOGLE_TOKEN = "ya29.g00gle-s3cr3t-T0KEN"
GITLAB_TOKEN = "glpat-g1tlab-s3cr3t-T0KEN"


class Reply(Exception):
    def __init__(self, status: int, body=None, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


class FakeServer:
    """The shared machinery: the thread, the request log, scripted answers."""

    def __init__(self):
        self.requests: list[dict] = []
        self._script: list[tuple[int, dict, object]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                with fake.lock:
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": parts.path,
                            "query": parse_qs(parts.query),
                            "headers": dict(self.headers),
                            "body": body,
                        }
                    )
                    scripted = fake._script.pop(0) if fake._script else None
                if scripted is not None:
                    status, headers, payload = scripted
                else:
                    try:
                        with fake.lock:
                            status, headers, payload = (
                                200,
                                {},
                                fake.route(
                                    self.command, parts.path, parse_qs(parts.query), dict(self.headers), body
                                ),
                            )
                    except Reply as reply:
                        status, headers, payload = reply.status, reply.headers, reply.body
                data = b"" if payload is None else json.dumps(payload).encode()
                if status == 200 and payload is None:
                    status = 204
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, status: int, headers: dict | None = None, body=None, times: int = 1) -> None:
        """Answer the next `times` requests with this, whatever they ask."""
        with self.lock:
            self._script += [(status, headers or {}, body)] * times

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, method, path, query, headers, body):  # pragma: no cover - subclasses
        raise NotImplementedError


# --- Okta -------------------------------------------------------------------------------------------------------


def okta_error(status: int, code: str, summary: str) -> Reply:
    return Reply(
        status,
        {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oae-test",
            "errorCauses": [],
        },
    )


class FakeOkta(FakeServer):
    """groups: {group_id: [user_id]}; users: {user_id: {"id", "status", "profile": {...}, "lastLogin"}}."""

    def __init__(self, token: str = OKTA_TOKEN):
        self.token = token
        self.groups: dict[str, list[str]] = {}
        self.users: dict[str, dict] = {}
        super().__init__()

    def add_user(self, email: str, *, last_login: str | None = None, groups=()) -> str:
        user_id = f"00u{len(self.users) + 1:05d}"
        self.users[user_id] = {
            "id": user_id,
            "status": "ACTIVE",
            "created": "2025-01-01T00:00:00.000Z",
            "lastLogin": last_login,
            "profile": {"login": email, "email": email, "firstName": "Test", "lastName": user_id},
            "_links": {"self": {"href": f"{self.url}/api/v1/users/{user_id}"}},
        }
        for group in groups:
            self.groups.setdefault(group, []).append(user_id)
        return user_id

    def route(self, method, path, query, headers, body):
        if headers.get("Authorization") != f"SSWS {self.token}":
            raise okta_error(401, "E0000011", "Invalid token provided")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:3] == ["api", "v1", "users"] and len(parts) == 4 and method == "GET":
            key = parts[3]
            for user in self.users.values():
                if key in (user["id"], user["profile"]["login"]):
                    return user
            raise okta_error(404, "E0000007", f"Not found: Resource not found: {key} (User)")
        if parts[:3] != ["api", "v1", "groups"] or len(parts) < 5 or parts[4] != "users":
            raise okta_error(404, "E0000022", "The endpoint does not support the provided HTTP method")
        group = parts[3]
        if group not in self.groups:
            raise okta_error(404, "E0000007", f"Not found: Resource not found: {group} (UserGroup)")
        members = self.groups[group]
        if len(parts) == 5 and method == "GET":
            limit = int(query.get("limit", ["200"])[0])
            after = query.get("after", [""])[0]
            start = members.index(after) + 1 if after in members else 0
            page = members[start : start + limit]
            link = f'<{self.url}{path}?limit={limit}>; rel="self"'
            if start + limit < len(members):
                link += f', <{self.url}{path}?after={page[-1]}&limit={limit}>; rel="next"'
            raise Reply(200, [self.users[u] for u in page], {"Link": link})
        if len(parts) == 6:
            user_id = parts[5]
            if user_id not in self.users:
                raise okta_error(404, "E0000007", f"Not found: Resource not found: {user_id} (User)")
            if method == "PUT":
                if user_id not in members:
                    members.append(user_id)
                return None
            if method == "DELETE":
                if user_id in members:
                    members.remove(user_id)
                return None
        raise okta_error(405, "E0000022", "The endpoint does not support the provided HTTP method")


# --- Google Workspace -------------------------------------------------------------------------------------------


def google_error(status: int, message: str, reason: str, state: str) -> Reply:
    return Reply(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": state,
            }
        },
    )


class FakeGoogle(FakeServer):
    """groups: {group_email: [member dict]} in the Directory API's member shape."""

    def __init__(self, token: str = GOOGLE_TOKEN):
        self.token = token
        self.groups: dict[str, list[dict]] = {}
        super().__init__()

    def add_member(self, group: str, email: str, *, role: str = "MEMBER", type_: str = "USER") -> None:
        members = self.groups.setdefault(group, [])
        members.append(
            {
                "kind": "admin#directory#member",
                "etag": '"etag"',
                "id": str(100000 + len(members)),
                "email": email,
                "role": role,
                "type": type_,
                "status": "ACTIVE",
            }
        )

    def route(self, method, path, query, headers, body):
        if headers.get("Authorization") != f"Bearer {self.token}":
            raise google_error(
                401, "Request had invalid authentication credentials.", "authError", "UNAUTHENTICATED"
            )
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:4] != ["admin", "directory", "v1", "groups"] or len(parts) < 6 or parts[5] != "members":
            raise google_error(404, "Not Found", "notFound", "NOT_FOUND")
        group = parts[4]
        if group not in self.groups:
            raise google_error(404, "Resource Not Found: groupKey", "notFound", "NOT_FOUND")
        members = self.groups[group]
        if len(parts) == 6 and method == "GET":
            size = int(query.get("maxResults", ["200"])[0])
            start = int(query.get("pageToken", ["0"])[0] or 0)
            page = {
                "kind": "admin#directory#members",
                "etag": '"list"',
                "members": members[start : start + size],
            }
            if start + size < len(members):
                page["nextPageToken"] = str(start + size)
            return page
        if len(parts) == 6 and method == "POST":
            email = (body or {}).get("email", "")
            if any(m["email"] == email for m in members):
                raise google_error(409, "Member already exists.", "duplicate", "ALREADY_EXISTS")
            self.add_member(group, email, role=(body or {}).get("role", "MEMBER"))
            return members[-1]
        if len(parts) == 7 and method == "DELETE":
            for member in members:
                if parts[6] in (member["email"], member["id"]):
                    members.remove(member)
                    return None
            raise google_error(404, "Resource Not Found: memberKey", "notFound", "NOT_FOUND")
        raise google_error(405, "Method not allowed", "badRequest", "INVALID_ARGUMENT")


# --- GitLab -----------------------------------------------------------------------------------------------------


class FakeGitLab(FakeServer):
    """users: {id: {...}}; groups: {path: {user_id: member dict}}."""

    def __init__(self, token: str = GITLAB_TOKEN):
        self.token = token
        self.users: dict[int, dict] = {}
        self.groups: dict[str, dict[int, dict]] = {}
        super().__init__()

    def add_user(
        self, email: str, *, groups: dict[str, int] | None = None, last_activity_on: str | None = None
    ) -> int:
        user_id = len(self.users) + 1
        username = email.split("@")[0].replace(".", "_")
        self.users[user_id] = {
            "id": user_id,
            "username": username,
            "name": username.title(),
            "state": "active",
            "email": email,
            "public_email": "",
            "web_url": f"{self.url}/{username}",
        }
        for group, level in (groups or {}).items():
            self._member(group, user_id, level, last_activity_on)
        return user_id

    def _member(self, group, user_id, level, last_activity_on=None):
        user = self.users[user_id]
        self.groups.setdefault(group, {})[user_id] = {
            "id": user_id,
            "username": user["username"],
            "name": user["name"],
            "state": "active",
            "email": user["email"],
            "access_level": level,
            "created_at": "2025-01-01T00:00:00.000Z",
            "expires_at": None,
            "last_activity_on": last_activity_on,
            "web_url": user["web_url"],
        }

    def route(self, method, path, query, headers, body):
        if headers.get("Private-Token") != self.token and headers.get("PRIVATE-TOKEN") != self.token:
            raise Reply(401, {"message": "401 Unauthorized"})
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:3] == ["api", "v4", "users"] and len(parts) == 3:
            search = query.get("search", [""])[0].lower()
            return [u for u in self.users.values() if search and search in u["email"].lower()]
        if parts[:3] != ["api", "v4", "groups"] or len(parts) < 5 or parts[4] != "members":
            raise Reply(404, {"message": "404 Not found"})
        group = parts[3]
        if group not in self.groups:
            raise Reply(404, {"message": "404 Group Not Found"})
        members = self.groups[group]
        if len(parts) == 5 and method == "GET":
            per_page = int(query.get("per_page", ["20"])[0])
            page = int(query.get("page", ["1"])[0])
            rows = list(members.values())
            chunk = rows[(page - 1) * per_page : page * per_page]
            more = page * per_page < len(rows)
            raise Reply(
                200,
                chunk,
                {
                    "X-Page": str(page),
                    "X-Per-Page": str(per_page),
                    "X-Total": str(len(rows)),
                    "X-Next-Page": str(page + 1) if more else "",
                },
            )
        if len(parts) == 5 and method == "POST":
            user_id = int((body or {}).get("user_id", 0))
            if user_id not in self.users:
                raise Reply(404, {"message": "404 User Not Found"})
            if user_id in members:
                raise Reply(409, {"message": "Member already exists"})
            self._member(group, user_id, int(body["access_level"]))
            raise Reply(201, members[user_id])
        if len(parts) == 6:
            user_id = int(parts[5])
            if user_id not in members:
                raise Reply(404, {"message": "404 Member Not Found"})
            if method == "PUT":
                members[user_id]["access_level"] = int((body or {})["access_level"])
                return members[user_id]
            if method == "DELETE":
                del members[user_id]
                return None
        raise Reply(405, {"message": "405 Method Not Allowed"})


def unreachable_url() -> str:
    """A local port nobody listens on: connections are refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# --- pytest fixtures (import them into a test module) -------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture
def fast_connectors(settings):
    """No real waiting in tests: zero backoff, short timeouts, Retry-After honoured up to 5 s."""
    settings.ACCESS_CONNECTOR_BACKOFF = 0
    settings.ACCESS_CONNECTOR_TIMEOUT = 3
    settings.ACCESS_CONNECTOR_MAX_RETRIES = 2
    settings.ACCESS_CONNECTOR_MAX_RETRY_AFTER = 5
    return settings


@pytest.fixture
def okta(fast_connectors):
    server = FakeOkta()
    fast_connectors.GATEHOUSE_OKTA_URL = server.url
    fast_connectors.GATEHOUSE_OKTA_TOKEN = OKTA_TOKEN
    yield server
    server.close()


@pytest.fixture
def google(fast_connectors):
    server = FakeGoogle()
    fast_connectors.GATEHOUSE_GOOGLE_URL = server.url
    fast_connectors.GATEHOUSE_GOOGLE_TOKEN = GOOGLE_TOKEN
    yield server
    server.close()


@pytest.fixture
def gitlab(fast_connectors):
    server = FakeGitLab()
    fast_connectors.GATEHOUSE_GITLAB_URL = server.url
    fast_connectors.GATEHOUSE_GITLAB_TOKEN = GITLAB_TOKEN
    yield server
    server.close()
