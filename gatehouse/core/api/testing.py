"""A small client for API tests: JSON in and out, one Authorization header for every call."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

PREFIX = "/api/v1"


class ApiClient:
    def __init__(self, authorization: str | None = None, client: Client | None = None, **headers: str):
        self.client = client or Client()
        self.headers = dict(headers)
        if authorization:
            self.headers["Authorization"] = authorization

    def request(self, method: str, path: str, body: Any = None, *, raw: str | bytes | None = None, **params):
        url = path if path.startswith(PREFIX) else PREFIX + path
        kwargs: dict[str, Any] = {"headers": self.headers}
        if method in ("get", "delete") and params:
            kwargs["data"] = params
        if raw is not None or body is not None:
            kwargs["data"] = raw if raw is not None else json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method)(url, **kwargs)

    def get(self, path: str, **params):
        return self.request("get", path, **params)

    def post(self, path: str, body: Any = None, **kwargs):
        return self.request("post", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs):
        return self.request("patch", path, body, **kwargs)

    def delete(self, path: str):
        return self.request("delete", path)
