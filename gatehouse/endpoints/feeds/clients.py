"""API sync clients: each pages through its vendor's API and hands the items to the source's parser.

- Jamf Pro: OAuth client credentials (`POST /api/oauth/token`, form `grant_type=client_credentials`,
  `client_id`, `client_secret`), then `GET /api/v1/computers-inventory?section=...&page=N&page-size=100&sort=id:asc`
  until a page is short or `totalCount` is reached. Settings: GATEHOUSE_JAMF_URL, GATEHOUSE_JAMF_CLIENT_ID,
  GATEHOUSE_JAMF_CLIENT_SECRET.
- SentinelOne: `Authorization: ApiToken <token>`, `GET /web/api/v2.1/agents?limit=1000[&cursor=...]` following
  `pagination.nextCursor`. Settings: GATEHOUSE_SENTINELONE_URL, GATEHOUSE_SENTINELONE_API_TOKEN.
- CrowdStrike Falcon: OAuth2 (`POST /oauth2/token`, form `client_id`, `client_secret`), the host ids from
  `GET /devices/queries/devices/v1?limit=5000&offset=N` (meta.pagination.total), then their details from
  `POST /devices/entities/devices/v2` with `{"ids": [...]}` in batches of 500. Settings: GATEHOUSE_CROWDSTRIKE_URL
  (default https://api.crowdstrike.com), GATEHOUSE_CROWDSTRIKE_CLIENT_ID, GATEHOUSE_CROWDSTRIKE_CLIENT_SECRET.

The HTTP plumbing is the access connectors' (`gatehouse.access.connectors.base.HttpClient`): a timeout per call,
429 answered by waiting its Retry-After (bounded), 5xx and network errors retried a bounded number of times,
401/403 a `ConnectorError` of kind "auth" saying to check the credentials. Secrets are redacted from every error
and never logged. A sync is imported like a file: `sync_sources` parses every page of each source, then
`import_feeds` imports the fetched feeds together, once.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gatehouse.access.connectors.base import (
    MAX_PAGES,
    ConnectorError,
    ConnectorNotConfigured,
    HttpClient,
    setting_or_env,
)
from gatehouse.endpoints.feeds import crowdstrike, jamf, sentinelone
from gatehouse.endpoints.feeds.base import Feed, ParseError, type_name
from gatehouse.endpoints.models import FeedImport

JAMF_PAGE_SIZE = 100
JAMF_SECTIONS = ("GENERAL", "HARDWARE", "OPERATING_SYSTEM", "DISK_ENCRYPTION", "USER_AND_LOCATION")
S1_PAGE_SIZE = 1000
CS_QUERY_LIMIT = 5000
CS_DETAILS_BATCH = 500


def _required(names: dict[str, str], service: str) -> dict[str, str]:
    values = {key: setting_or_env(name) for key, name in names.items()}
    missing = [names[key] for key, value in values.items() if not value]
    if missing:
        raise ConnectorNotConfigured(f"{service} is not configured: set {', '.join(missing)}")
    return values


def _token(client: HttpClient, path: str, fields: dict[str, str]) -> str:
    response = client.post_form(path, fields)
    token = response.body.get("access_token") if isinstance(response.body, dict) else None
    if not isinstance(token, str) or not token:
        raise ConnectorError(
            f"{client.service} answered the token request without an access_token", kind="auth"
        )
    return token


def _dict(body: Any, service: str, what: str) -> dict:
    if not isinstance(body, dict):
        raise ConnectorError(f"{service} answered {what} with a JSON {type_name(body)}, not an object")
    return body


class FeedClient:
    """Pages through one vendor's API; `fetch()` returns the parsed Feed (ParseError names the page record)."""

    source = ""
    service = ""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep):
        self.sleep = sleep

    @property
    def origin(self) -> str:
        return self.base_url

    def fetch(self) -> Feed:
        feed = Feed(self.source)
        for items in self.pages():
            part = self.parse_items(items, start=len(feed.records) + len(feed.warnings))
            feed.records.extend(part.records)
            feed.warnings.extend(part.warnings)
        return feed

    def pages(self) -> Iterator[list]:  # pragma: no cover - subclasses
        raise NotImplementedError

    def parse_items(self, items: list, *, start: int) -> Feed:  # pragma: no cover - subclasses
        raise NotImplementedError


class JamfClient(FeedClient):
    source = "jamf"
    service = "Jamf Pro"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        conf = _required(
            {
                "url": "GATEHOUSE_JAMF_URL",
                "client_id": "GATEHOUSE_JAMF_CLIENT_ID",
                "secret": "GATEHOUSE_JAMF_CLIENT_SECRET",
            },
            self.service,
        )
        self.base_url = conf["url"].rstrip("/")
        self.client_id, self.secret = conf["client_id"], conf["secret"]

    def pages(self) -> Iterator[list]:
        auth = HttpClient(self.base_url, {}, [self.secret], self.service, sleep=self.sleep)
        token = _token(
            auth,
            "/api/oauth/token",
            {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret},
        )
        http = HttpClient(
            self.base_url,
            {"Authorization": f"Bearer {token}"},
            [self.secret, token],
            self.service,
            sleep=self.sleep,
        )
        sections = "&".join(f"section={s}" for s in JAMF_SECTIONS)
        seen = 0
        for page in range(MAX_PAGES):
            body = _dict(
                http.request(
                    "GET",
                    f"/api/v1/computers-inventory?{sections}&page={page}&page-size={JAMF_PAGE_SIZE}&sort=id%3Aasc",
                ).body,
                self.service,
                "a computers-inventory page",
            )
            results = body.get("results") or []
            if not isinstance(results, list):
                raise ConnectorError(f"{self.service}: results is not an array")
            yield results
            seen += len(results)
            total = body.get("totalCount")
            if len(results) < JAMF_PAGE_SIZE or (isinstance(total, int) and seen >= total):
                return

    def parse_items(self, items, *, start):
        return jamf.parse_items(items, start=start)


class SentinelOneClient(FeedClient):
    source = "sentinelone"
    service = "SentinelOne"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        conf = _required(
            {"url": "GATEHOUSE_SENTINELONE_URL", "token": "GATEHOUSE_SENTINELONE_API_TOKEN"}, self.service
        )
        self.base_url = conf["url"].rstrip("/")
        self.token = conf["token"]

    def pages(self) -> Iterator[list]:
        http = HttpClient(
            self.base_url,
            {"Authorization": f"ApiToken {self.token}"},
            [self.token],
            self.service,
            sleep=self.sleep,
        )
        cursor = None
        for _ in range(MAX_PAGES):
            query = {"limit": S1_PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            body = _dict(
                http.request("GET", f"/web/api/v2.1/agents?{urllib.parse.urlencode(query)}").body,
                self.service,
                "an agents page",
            )
            data = body.get("data") or []
            if not isinstance(data, list):
                raise ConnectorError(f"{self.service}: data is not an array")
            yield data
            pagination = body.get("pagination")
            cursor = pagination.get("nextCursor") if isinstance(pagination, dict) else None
            if not cursor or not data:
                return

    def parse_items(self, items, *, start):
        return sentinelone.parse_items(items, start=start)


class CrowdStrikeClient(FeedClient):
    source = "crowdstrike"
    service = "CrowdStrike Falcon"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        conf = _required(
            {"client_id": "GATEHOUSE_CROWDSTRIKE_CLIENT_ID", "secret": "GATEHOUSE_CROWDSTRIKE_CLIENT_SECRET"},
            self.service,
        )
        self.base_url = (setting_or_env("GATEHOUSE_CROWDSTRIKE_URL") or "https://api.crowdstrike.com").rstrip(
            "/"
        )
        self.client_id, self.secret = conf["client_id"], conf["secret"]

    def pages(self) -> Iterator[list]:
        auth = HttpClient(self.base_url, {}, [self.secret], self.service, sleep=self.sleep)
        token = _token(auth, "/oauth2/token", {"client_id": self.client_id, "client_secret": self.secret})
        http = HttpClient(
            self.base_url,
            {"Authorization": f"Bearer {token}"},
            [self.secret, token],
            self.service,
            sleep=self.sleep,
        )
        ids: list[str] = []
        offset = 0
        for _ in range(MAX_PAGES):
            body = _dict(
                http.request(
                    "GET", f"/devices/queries/devices/v1?limit={CS_QUERY_LIMIT}&offset={offset}"
                ).body,
                self.service,
                "a host query",
            )
            page = body.get("resources") or []
            if not isinstance(page, list) or not all(isinstance(i, str) for i in page):
                raise ConnectorError(f"{self.service}: the host query's resources are not a list of ids")
            ids.extend(page)
            pagination = (
                (body.get("meta") or {}).get("pagination") if isinstance(body.get("meta"), dict) else None
            )
            total = pagination.get("total") if isinstance(pagination, dict) else None
            offset += len(page)
            if not page or not isinstance(total, int) or offset >= total:
                break
        for start in range(0, len(ids), CS_DETAILS_BATCH):
            body = _dict(
                http.request(
                    "POST", "/devices/entities/devices/v2", {"ids": ids[start : start + CS_DETAILS_BATCH]}
                ).body,
                self.service,
                "the device details",
            )
            resources = body.get("resources") or []
            if not isinstance(resources, list):
                raise ConnectorError(f"{self.service}: resources is not an array")
            yield resources

    def parse_items(self, items, *, start):
        return crowdstrike.parse_items(items, start=start)


CLIENTS: dict[str, type[FeedClient]] = {
    "jamf": JamfClient,
    "sentinelone": SentinelOneClient,
    "crowdstrike": CrowdStrikeClient,
}


def configured_sources() -> list[str]:
    """The sources whose API credentials are set."""
    out = []
    for source, cls in CLIENTS.items():
        try:
            cls()
        except ConnectorNotConfigured:
            continue
        out.append(source)
    return out


@dataclass
class SyncOutcome:
    """What a sync did for one source: its FeedImport (done with counts, or failed with the reason) and, when the
    fetch failed, the ConnectorError or ParseError that stopped it."""

    source: str
    run: FeedImport
    error: ConnectorError | ParseError | None = None


def sync_sources(
    sources: Iterable[str], *, actor, sleep: Callable[[float], None] = time.sleep
) -> dict[str, SyncOutcome]:
    """Fetch every page of each source's API, then import the fetched feeds together (`import_feeds`: one
    transaction, the changed devices reconciled and checked once). Returns an outcome per source, in order.

    A fetch that fails (auth, rate limit beyond the allowed wait, a malformed record) leaves a failed FeedImport
    with the reason and its source out of the import; the others still import. A source whose credentials are
    not set raises ConnectorNotConfigured before anything is fetched; an unexpected failure of the import itself
    leaves a failed FeedImport per fetched feed and propagates (see `import_feeds`).
    """
    from django.utils import timezone

    from gatehouse.core.permissions import require
    from gatehouse.endpoints.imports import failed_run, import_feeds

    require(actor, "endpoints.add_feedimport")
    sources = list(sources)
    twice = sorted({s for s in sources if sources.count(s) > 1})
    if twice:
        raise ValueError(f"source given more than once: {', '.join(twice)}")
    feed_clients = [CLIENTS[source](sleep=sleep) for source in sources]
    outcomes: dict[str, SyncOutcome] = {}
    fetched: list[tuple[str, Feed, str]] = []
    for client in feed_clients:
        started = timezone.now()
        try:
            feed = client.fetch()
        except (ConnectorError, ParseError) as exc:
            user = actor if getattr(actor, "pk", None) is not None else None
            run = failed_run(client.source, client.origin, started_at=started, error=exc, user=user)
            outcomes[client.source] = SyncOutcome(client.source, run, exc)
            continue
        fetched.append((client.source, feed, client.origin))
    if fetched:
        runs = import_feeds(fetched, actor=actor)
        for (source, _, _), run in zip(fetched, runs, strict=True):
            outcomes[source] = SyncOutcome(source, run)
    return {source: outcomes[source] for source in sources}


def sync_source(source: str, *, actor, sleep: Callable[[float], None] = time.sleep) -> FeedImport:
    """`sync_sources` for one source: its FeedImport, or the fetch's ConnectorError or ParseError raised (after
    its failed FeedImport is written)."""
    outcome = sync_sources([source], actor=actor, sleep=sleep)[source]
    if outcome.error is not None:
        raise outcome.error
    return outcome.run


__all__ = [
    "CLIENTS",
    "CrowdStrikeClient",
    "JamfClient",
    "SentinelOneClient",
    "SyncOutcome",
    "configured_sources",
    "sync_source",
    "sync_sources",
]
