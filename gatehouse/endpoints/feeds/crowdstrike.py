"""CrowdStrike Falcon hosts: device details, `GET /devices/entities/devices/v2?ids=...`.

Accepted: the API's answer `{"meta": ..., "resources": [...], "errors": []}` or a bare array of devices.
Fields read (Falcon API names), each optional except the serial number (skipped with a warning without one):

- `serial_number`, `device_id` (external id), `hostname`, `last_login_user` (owner: email or username)
- `platform_name` (Mac, Windows, Linux), `os_version` (e.g. "Windows 11", "Sequoia (15)", "Ubuntu 24.04"):
  the OS version kept is `major_version.minor_version` on a Mac, `10.0.<os_build>` on Windows, and the number in
  `os_version` on Linux, when present; else `os_version` as sent
- `status`: "contained" or "containment_pending" counts as infected (the host is isolated)
- `reduced_functionality_mode`: "yes" means the sensor is not up to date with the OS (agent not up to date)
- `agent_version`, `last_seen`
Falcon has no decommissioned flag in device details (hidden hosts are not returned): decommissioned is unknown.
"""

from __future__ import annotations

import re
from typing import Any

from gatehouse.endpoints.feeds.base import (
    Feed,
    FeedRecord,
    Reader,
    check_text,
    finish,
    load_json,
    platform_from,
    records_of,
)
from gatehouse.endpoints.models import Platform, Source

CONTAINED = {"contained", "containment_pending"}
VERSION = re.compile(r"\d+(?:\.\d+)+|\d+")


def parse(content: str | bytes) -> Feed:
    return parse_items(records_of(load_json(content), "resources"))


def parse_items(items: list[Any], *, start: int = 0) -> Feed:
    feed = Feed(Source.CROWDSTRIKE)
    for index, item in enumerate(items, start=start + 1):
        r = Reader(item, f"record {index}")
        platform = platform_from(r.text("platform_name"))
        user = r.text("last_login_user")
        if "\\" in user:
            user = user.rsplit("\\", 1)[1]
        email = user if "@" in user else ""
        status = r.text("status").lower()
        rfm = r.text("reduced_functionality_mode").lower()
        record = FeedRecord(
            source=Source.CROWDSTRIKE,
            label=r.label,
            serial=r.text("serial_number", column="serial"),
            external_id=r.text("device_id", column="external_id"),
            hostname=r.text("hostname", column="hostname"),
            owner_email=email[:254],
            owner_username=("" if email else user)[:150],
            platform=platform,
            os_version=check_text(_os_version(r, platform), r.label, "os_version", 50),
            infected=(status in CONTAINED) if status else None,
            agent_up_to_date={"yes": False, "no": True}.get(rfm),
            agent_version=r.text("agent_version", column="agent_version"),
            last_seen_at=r.timestamp("last_seen"),
        )
        finish(feed, record, item)
    return feed


def _os_version(r: Reader, platform: str) -> str:
    named = r.text("os_version")
    if platform == Platform.MACOS:
        major, minor = r.text("major_version"), r.text("minor_version")
        if major:
            return f"{major}.{minor or 0}"
    if platform == Platform.WINDOWS:
        build = r.text("os_build")
        if build:
            return f"10.0.{build}"
    if platform == Platform.LINUX:
        found = VERSION.search(named)
        if found:
            return found.group(0)
    return named
