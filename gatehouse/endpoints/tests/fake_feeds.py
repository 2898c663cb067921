"""Local fake Jamf Pro, SentinelOne and CrowdStrike Falcon servers for the sync client tests.

Each is an http.server thread on 127.0.0.1:0 answering the documented shapes: Jamf Pro `POST /api/oauth/token`
(form, client credentials) and `GET /api/v1/computers-inventory` paged by `page`/`page-size` with `totalCount`;
SentinelOne `GET /web/api/v2.1/agents` with `Authorization: ApiToken ...` and `pagination.nextCursor`;
CrowdStrike `POST /oauth2/token`, `GET /devices/queries/devices/v1` (offset, limit, meta.pagination.total) and
`POST /devices/entities/devices/v2` ({"ids": [...]}). A wrong credential is a 401 in the vendor's error shape.
`script(...)` queues canned answers (429 with Retry-After, 500) served first. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

JAMF_ID, JAMF_SECRET = "jamf-client", "jamf-s3cr3t-SECRET"
S1_TOKEN = "s1-s3cr3t-API-TOKEN"
CS_ID, CS_SECRET = "cs-client", "cs-s3cr3t-SECRET"
ISSUED = "issued-bearer-T0KEN"


class FakeFeedServer:
    def __init__(self, records: list[dict]):
        self.records = records
        self.requests: list[dict] = []
        self._script: list[tuple[int, dict, object]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                else:
                    body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with fake.lock:
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": parts.path,
                            "query": query,
                            "headers": dict(self.headers),
                            "body": body,
                        }
                    )
                    scripted = fake._script.pop(0) if fake._script else None
                if scripted is not None:
                    status, headers, payload = scripted
                else:
                    status, headers, payload = fake.route(self.command, parts.path, query, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, status: int, headers: dict | None = None, body=None, times: int = 1) -> None:
        with self.lock:
            self._script += [(status, headers or {}, body if body is not None else {})] * times

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


class FakeJamf(FakeFeedServer):
    def route(self, method, path, query, headers, body):
        if path == "/api/oauth/token" and method == "POST":
            if (body or {}).get("client_id") != JAMF_ID or body.get("client_secret") != JAMF_SECRET:
                return 401, {}, {"error": "invalid_client"}
            return 200, {}, {"access_token": ISSUED, "token_type": "Bearer", "expires_in": 1199}
        if headers.get("Authorization") != f"Bearer {ISSUED}":
            return (
                401,
                {},
                {"httpStatus": 401, "errors": [{"code": "INVALID_TOKEN", "description": "Unauthorized"}]},
            )
        if path == "/api/v1/computers-inventory":
            page, size = int(query["page"][0]), int(query["page-size"][0])
            return (
                200,
                {},
                {"totalCount": len(self.records), "results": self.records[page * size : (page + 1) * size]},
            )
        return 404, {}, {"httpStatus": 404, "errors": []}


class FakeSentinelOne(FakeFeedServer):
    def route(self, method, path, query, headers, body):
        if headers.get("Authorization") != f"ApiToken {S1_TOKEN}":
            return 401, {}, {"errors": [{"code": 4010010, "detail": None, "title": "Authentication Failed"}]}
        if path == "/web/api/v2.1/agents":
            limit = int(query["limit"][0])
            start = int(query.get("cursor", ["0"])[0])
            chunk = self.records[start : start + limit]
            nxt = str(start + limit) if start + limit < len(self.records) else None
            return (
                200,
                {},
                {"data": chunk, "pagination": {"nextCursor": nxt, "totalItems": len(self.records)}},
            )
        return 404, {}, {"errors": [{"title": "Not found"}]}


class FakeCrowdStrike(FakeFeedServer):
    def route(self, method, path, query, headers, body):
        if path == "/oauth2/token" and method == "POST":
            if (body or {}).get("client_id") != CS_ID or body.get("client_secret") != CS_SECRET:
                return (
                    401,
                    {},
                    {"meta": {}, "errors": [{"code": 401, "message": "access denied, invalid client"}]},
                )
            return 201, {}, {"access_token": ISSUED, "token_type": "bearer", "expires_in": 1799}
        if headers.get("Authorization") != f"Bearer {ISSUED}":
            return (
                401,
                {},
                {"meta": {}, "errors": [{"code": 401, "message": "access denied, authorization failed"}]},
            )
        if path == "/devices/queries/devices/v1":
            offset, limit = int(query.get("offset", ["0"])[0]), int(query["limit"][0])
            ids = [r["device_id"] for r in self.records][offset : offset + limit]
            meta = {"pagination": {"offset": offset, "limit": limit, "total": len(self.records)}}
            return 200, {}, {"meta": meta, "resources": ids, "errors": []}
        if path == "/devices/entities/devices/v2" and method == "POST":
            wanted = set(body["ids"])
            return (
                200,
                {},
                {
                    "meta": {},
                    "resources": [r for r in self.records if r["device_id"] in wanted],
                    "errors": [],
                },
            )
        return 404, {}, {"errors": [{"code": 404, "message": "not found"}]}


@pytest.fixture
def fast_feeds(settings):
    settings.ACCESS_CONNECTOR_BACKOFF = 0
    settings.ACCESS_CONNECTOR_TIMEOUT = 3
    settings.ACCESS_CONNECTOR_MAX_RETRIES = 2
    settings.ACCESS_CONNECTOR_MAX_RETRY_AFTER = 5
    return settings
