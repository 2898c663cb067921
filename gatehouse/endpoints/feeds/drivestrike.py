"""DriveStrike (anti-theft) device export: CSV, UTF-8, a header row, one device per line.

Columns (matched case-insensitively; spaces, dashes and underscores are the same; others are kept, not read):

| column | also accepted | meaning |
| --- | --- | --- |
| `serial` (required) | `serial_number` | the device's serial number; a blank one skips the line with a warning |
| `hostname` | `device_name`, `name` | the computer's name |
| `owner_email` | `email`, `user_email` | the owner's email |
| `platform` | `os` | macOS / Windows / Linux (or Mac, Ubuntu, Debian...) |
| `os_version` | | e.g. 14.5, 10.0.22631, 24.04 |
| `encryption` | `encrypted`, `disk_encryption` | yes/no, true/false, encrypted/not encrypted; blank is unknown |
| `last_seen` | `last_check_in`, `last_checkin` | ISO 8601 date or date and time (UTC unless an offset is given) |
| `device_id` | `id` | DriveStrike's id of the device |
"""

from __future__ import annotations

import csv
import io
import re

from gatehouse.endpoints.feeds.base import (
    MAX_LENGTHS,
    Feed,
    FeedRecord,
    ParseError,
    check_text,
    finish,
    parse_bool,
    parse_datetime,
    platform_from,
)
from gatehouse.endpoints.models import Source

COLUMNS = {
    "serial": ("serial", "serial_number"),
    "hostname": ("hostname", "device_name", "name"),
    "owner_email": ("owner_email", "email", "user_email"),
    "platform": ("platform", "os"),
    "os_version": ("os_version",),
    "encryption": ("encryption", "encrypted", "disk_encryption"),
    "last_seen": ("last_seen", "last_check_in", "last_checkin"),
    "device_id": ("device_id", "id"),
}


def header_key(name: str) -> str:
    return re.sub(r"[\s\-_]+", "_", name.strip().lower()).strip("_")


def parse(content: str | bytes) -> Feed:
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError("file", "", f"is not UTF-8 text (byte {exc.start})") from None
    if "\x00" in content:
        raise ParseError("file", "", "contains a NUL character")
    content = content.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(content, newline=""))
    feed = Feed(Source.DRIVESTRIKE)
    try:
        header = next(reader, None)
        if not header:
            raise ParseError("line 1", "", "no header row: the file is empty")
        keys = [header_key(name) for name in header]
        where: dict[str, int] = {}
        for column, aliases in COLUMNS.items():
            for alias in aliases:
                if alias in keys:
                    where[column] = keys.index(alias)
                    break
        if "serial" not in where:
            raise ParseError("line 1", "serial", "no serial column in the header")
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            label = f"line {line}"
            if len(row) > len(header):
                raise ParseError(label, "", f"has {len(row)} cells, the header {len(header)}")

            def cell(column: str, row=row) -> str:
                index = where.get(column)
                return row[index].strip() if index is not None and index < len(row) else ""

            def text(column: str, field: str, cell=cell, label=label) -> str:
                return check_text(
                    cell(column),
                    label,
                    header[where[column]] if column in where else column,
                    MAX_LENGTHS.get(field),
                )

            def name(column: str) -> str:
                return header[where[column]].strip() if column in where else column

            record = FeedRecord(
                source=Source.DRIVESTRIKE,
                label=label,
                serial=text("serial", "serial"),
                external_id=text("device_id", "external_id"),
                hostname=text("hostname", "hostname"),
                owner_email=text("owner_email", "owner_email"),
                platform=platform_from(cell("platform")),
                os_version=text("os_version", "os_version"),
                disk_encrypted=parse_bool(cell("encryption") or None, label, name("encryption")),
                last_seen_at=parse_datetime(cell("last_seen") or None, label, name("last_seen")),
            )
            raw = {header[i].strip() or f"column {i + 1}": value for i, value in enumerate(row)}
            finish(feed, record, raw)
    except csv.Error as exc:
        raise ParseError(f"line {reader.line_num}", "", f"is not valid CSV ({exc})") from None
    return feed
