"""The connector interface and the HTTP plumbing the connectors share.

A connector manages the membership of one group in one system: it lists the members, adds one, removes one.
Every failure is a `ConnectorError` whose reason is safe to store and show: the credentials are never part of
it (nor of a log line), whatever the remote service echoes back.

HTTP: urllib, JSON in and out, a timeout per call, 429 answered by waiting the Retry-After (bounded: at most
`ACCESS_CONNECTOR_MAX_RETRIES` retries and `ACCESS_CONNECTOR_MAX_RETRY_AFTER` seconds per wait, else the
call fails with the reason), 5xx and network errors retried the same bounded number of times, 401/403 reported
as authentication errors, 404 as not found. Redirects are not followed (they would re-send the token).
"""

from __future__ import annotations

import datetime
import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from gatehouse.desk.chat import parse_retry_after

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_RETRY_AFTER = 60.0
DEFAULT_BACKOFF = 1.0
MAX_PAGES = 10_000  # a guard against a server that always answers "next page"
REDACTED = "[credentials]"


class ConnectorError(Exception):
    """A connector call that did not succeed. `reason` is safe to store and show (no credentials)."""

    def __init__(self, reason: str, *, status: int | None = None, kind: str = "error"):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.kind = kind  # "auth", "not_found", "rate_limited", "unreachable", "config", "error"

    def __str__(self) -> str:
        return self.reason


class ConnectorNotConfigured(ConnectorError):
    def __init__(self, reason: str):
        super().__init__(reason, kind="config")


@dataclass(frozen=True)
class Member:
    """One member of a group as the system reports it."""

    email: str
    role: str = ""
    last_used_at: datetime.datetime | None = None
    external_id: str = ""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def _setting(name: str, default):
    return getattr(settings, name, default)


@dataclass
class HttpClient:
    """JSON over HTTP with bounded retries; secrets are redacted from every error text."""

    base_url: str
    headers: dict[str, str]
    secrets: list[str] = field(default_factory=list)
    service: str = "the service"
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.timeout = float(_setting("ACCESS_CONNECTOR_TIMEOUT", DEFAULT_TIMEOUT))
        self.max_retries = int(_setting("ACCESS_CONNECTOR_MAX_RETRIES", DEFAULT_MAX_RETRIES))
        self.max_retry_after = float(_setting("ACCESS_CONNECTOR_MAX_RETRY_AFTER", DEFAULT_MAX_RETRY_AFTER))
        self.backoff = float(_setting("ACCESS_CONNECTOR_BACKOFF", DEFAULT_BACKOFF))
        self._opener = urllib.request.build_opener(_NoRedirect)

    def redact(self, text: str) -> str:
        text = str(text)
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            # A pagination link: only ever followed on the configured host, so the token never leaves it.
            if urlsplit(path).netloc != urlsplit(self.base_url).netloc:
                raise ConnectorError(
                    f"{self.service} answered a next-page link on another host; not followed"
                )
            return path
        return self.base_url + path

    def request(self, method: str, path: str, body: Any = None, *, ok_statuses=(200, 201, 204)) -> Response:
        """One JSON call, retried on 429 (after Retry-After), 5xx and network errors, at most max_retries times."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "Gatehouse", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return self._with_retries(method, self.url(path), data, headers, ok_statuses)

    def post_form(self, path: str, fields: dict[str, str], *, ok_statuses=(200, 201)) -> Response:
        """A form post (OAuth token endpoints), with the same retries and redaction as request()."""
        data = urllib.parse.urlencode(fields).encode()
        headers = {
            "Accept": "application/json",
            "User-Agent": "Gatehouse",
            "Content-Type": "application/x-www-form-urlencoded",
            **self.headers,
        }
        return self._with_retries("POST", self.url(path), data, headers, ok_statuses)

    def _with_retries(self, method, url, data, headers, ok_statuses) -> Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, url, data, headers, ok_statuses)
            except _Retry as retry:
                if attempt > self.max_retries:
                    raise ConnectorError(
                        f"{self.service}: {retry.reason}; gave up after {attempt} attempts",
                        status=retry.status,
                        kind=retry.kind,
                    ) from None
                delay = retry.delay if retry.delay is not None else self.backoff * (2 ** (attempt - 1))
                if delay > self.max_retry_after:
                    raise ConnectorError(
                        f"{self.service}: {retry.reason}; asked to wait {delay:g}s, more than the "
                        f"{self.max_retry_after:g}s allowed",
                        status=retry.status,
                        kind=retry.kind,
                    ) from None
                logger.info("%s: %s, retrying in %.1fs", self.service, retry.reason, delay)
                self.sleep(delay)

    def _once(self, method, url, data, headers, ok_statuses) -> Response:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                raw = response.read()
                status = response.status
                resp_headers = {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                detail = exc.read(300).decode("utf-8", "replace").strip()
            except Exception:  # the body is only a hint
                detail = ""
            finally:
                exc.close()
            detail = self.redact(_short_error(detail))
            if status == 429:
                raise _Retry(
                    "rate limited (HTTP 429)",
                    status,
                    "rate_limited",
                    parse_retry_after(exc.headers.get("Retry-After")),
                ) from None
            if status >= 500:
                raise _Retry(f"HTTP {status} from the server", status, "error", None) from None
            if status in (401, 403):
                raise ConnectorError(
                    f"{self.service} refused the credentials (HTTP {status}): check the token and its "
                    f"permissions" + (f" ({detail})" if detail else ""),
                    status=status,
                    kind="auth",
                ) from None
            if status == 404:
                raise ConnectorError(
                    f"{self.service}: not found (HTTP 404)" + (f" ({detail})" if detail else ""),
                    status=status,
                    kind="not_found",
                ) from None
            if 300 <= status < 400:
                raise ConnectorError(
                    f"{self.service} redirected (HTTP {status}); not followed", status=status
                ) from None
            raise ConnectorError(
                f"{self.service}: HTTP {status}" + (f" ({detail})" if detail else ""), status=status
            ) from None
        except TimeoutError:
            raise _Retry(f"no answer within {self.timeout:g}s", None, "unreachable", None) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise _Retry(f"no answer within {self.timeout:g}s", None, "unreachable", None) from None
            raise _Retry(
                self.redact(f"cannot reach {self.service}: {exc.reason}"), None, "unreachable", None
            ) from None
        except (ConnectionError, OSError) as exc:
            raise _Retry(
                self.redact(f"cannot reach {self.service}: {exc}"), None, "unreachable", None
            ) from None
        except ValueError as exc:
            raise ConnectorError(
                self.redact(f"{self.service}: unusable URL ({exc})"), kind="config"
            ) from None
        if status not in ok_statuses:
            raise ConnectorError(f"{self.service}: unexpected HTTP {status}", status=status)
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise ConnectorError(
                    f"{self.service} answered HTTP {status} with a body that is not JSON"
                ) from None
        return Response(status, resp_headers, body)


class _Retry(Exception):
    def __init__(self, reason: str, status: int | None, kind: str, delay: float | None):
        self.reason, self.status, self.kind, self.delay = reason, status, kind, delay


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _short_error(detail: str) -> str:
    """The vendor's error message from a JSON error body (Okta errorSummary, Google error.message, GitLab message)."""
    try:
        data = json.loads(detail)
    except ValueError:
        return detail[:200]
    if isinstance(data, dict):
        for key in ("errorSummary", "message", "error_description"):
            if isinstance(data.get(key), str):
                return data[key][:200]
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:200]
        if isinstance(error, str):
            return error[:200]
    return detail[:200]


def parse_timestamp(value: Any) -> datetime.datetime | None:
    """An ISO 8601 timestamp from an API (with Z or an offset), None when absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


class BaseConnector:
    """list_members / add_member / remove_member for one kind of group. Subclasses set `name` and `label`."""

    name = ""
    label = ""
    # Authoritative: a sync may end grants whose holder is no longer a member (the system is the truth).
    authoritative = True

    def __init__(self, client: HttpClient):
        self.client = client

    @classmethod
    def from_settings(cls) -> BaseConnector:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    @classmethod
    def is_configured(cls) -> bool:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    def group(self, entitlement) -> str:
        group = (entitlement.external_id or "").strip()
        if not group:
            raise ConnectorError(
                f"{entitlement} has no external id: set the {self.label} group on the entitlement",
                kind="config",
            )
        return group

    def list_members(self, entitlement) -> list[Member]:
        raise NotImplementedError

    def add_member(self, entitlement, email: str) -> str:
        """Add the person; returns what the service answered, in one line."""
        raise NotImplementedError

    def remove_member(self, entitlement, email: str) -> str:
        """Remove the person; returns what the service answered, in one line."""
        raise NotImplementedError


def setting_or_env(name: str) -> str:
    """A credential from settings, else the environment (settings.py reads the environment too)."""
    import os

    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, "")
    return str(value or "").strip()
