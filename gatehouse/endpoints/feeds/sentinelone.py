"""SentinelOne agents: `GET /web/api/v2.1/agents`.

Accepted: the API's page `{"data": [...], "pagination": {"nextCursor": ...}}` or a bare array of agents.
Fields read (SentinelOne API names), each optional except the serial number (an agent without one, often a
VM or a server, is skipped with a warning):

- `serialNumber`, `id` (external id), `computerName` (hostname)
- `lastLoggedInUserName` (owner: an email when it has an @, else a username; a `DOMAIN\\` prefix is dropped)
- `osType` (macos, windows, linux), `osRevision` (OS version)
- `infected`, `isDecommissioned`, `isUpToDate` (JSON booleans or the strings "True"/"False")
- `agentVersion`, `lastActiveDate` (last seen)
"""

from __future__ import annotations

from typing import Any

from gatehouse.endpoints.feeds.base import (
    Feed,
    FeedRecord,
    Reader,
    finish,
    load_json,
    platform_from,
    records_of,
)
from gatehouse.endpoints.models import Source


def parse(content: str | bytes) -> Feed:
    return parse_items(records_of(load_json(content), "data"))


def parse_items(items: list[Any], *, start: int = 0) -> Feed:
    feed = Feed(Source.SENTINELONE)
    for index, item in enumerate(items, start=start + 1):
        r = Reader(item, f"record {index}")
        user = r.text("lastLoggedInUserName")
        if "\\" in user:
            user = user.rsplit("\\", 1)[1]
        email = user if "@" in user else ""
        record = FeedRecord(
            source=Source.SENTINELONE,
            label=r.label,
            serial=r.text("serialNumber", column="serial"),
            external_id=r.text("id", column="external_id"),
            hostname=r.text("computerName", column="hostname"),
            owner_email=email[:254],
            owner_username=("" if email else user)[:150],
            platform=platform_from(r.text("osType")),
            os_version=r.text("osRevision", column="os_version"),
            infected=r.boolean("infected"),
            decommissioned=r.boolean("isDecommissioned"),
            agent_up_to_date=r.boolean("isUpToDate"),
            agent_version=r.text("agentVersion", column="agent_version"),
            last_seen_at=r.timestamp("lastActiveDate"),
        )
        finish(feed, record, item)
    return feed
