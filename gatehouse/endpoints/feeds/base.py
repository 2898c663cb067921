"""What every feed parser produces: `FeedRecord`s (the SourceRecord fields), or a `ParseError` naming the record
and the field that is wrong.

Parsers are strict about types and lenient about absence: a field the vendor leaves out is blank (or None),
a field of the wrong type, an unreadable date or a text too long for its column is an error, and the whole file
is refused (imports are all or nothing). A record with no serial number at all (a VM, a server the EDR covers)
cannot be matched to a device; it is skipped with a warning rather than failing the file.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from gatehouse.endpoints.models import Platform, SourceRecord

MAX_LENGTHS = {
    f.name: f.max_length
    for f in SourceRecord._meta.get_fields()
    if getattr(f, "max_length", None) and f.get_internal_type() == "CharField"
}


class ParseError(Exception):
    """A feed that cannot be imported: which record, which field, what is wrong."""

    def __init__(self, record: str, field: str, message: str):
        super().__init__(f"{record}: {field}: {message}" if field else f"{record}: {message}")
        self.record = record
        self.field = field
        self.message = message


@dataclass
class FeedRecord:
    """One device as one feed reports it, with the fields Gatehouse reads (SourceRecord's) and the raw record."""

    source: str
    serial: str
    external_id: str = ""
    hostname: str = ""
    owner_email: str = ""
    owner_username: str = ""
    platform: str = Platform.OTHER
    os_version: str = ""
    disk_encrypted: bool | None = None
    infected: bool | None = None
    decommissioned: bool | None = None
    agent_up_to_date: bool | None = None
    agent_version: str = ""
    model_name: str = ""  # set with the hash, from the raw record (model_of)
    last_seen_at: datetime.datetime | None = None
    raw_json: str = ""  # the vendor's record in canonical JSON, set with the hash
    content_hash: str = ""
    label: str = ""  # "record 3" or "line 4": for messages

    @property
    def raw(self) -> dict[str, Any]:
        """The vendor's record. Kept as its JSON text: a parsed file holds 100,000 of them, and the text is
        several times smaller than the objects and is what the import stores."""
        return json.loads(self.raw_json) if self.raw_json else {}


@dataclass
class Feed:
    """A parsed file or API sync: the records, and what was skipped (with why)."""

    source: str
    records: list[FeedRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def canonical_json(raw: Any, label: str) -> str:
    """The raw record in canonical JSON (what its content hash is of, and what is stored); refuses what no
    database column can hold (NUL, lone surrogates), since the raw record is stored."""
    try:
        text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError(label, "", "contains text that is not valid Unicode") from None
    except (RecursionError, TypeError, ValueError):
        raise ParseError(label, "", "cannot be read as a JSON record") from None
    if "\\u0000" in text:
        raise ParseError(label, "", "contains a NUL character")
    return text


def content_hash(raw: Any, label: str) -> str:
    """SHA-256 of the raw record in canonical JSON."""
    return hashlib.sha256(canonical_json(raw, label).encode()).hexdigest()


def load_json(content: str | bytes) -> Any:
    """The file's JSON, or a ParseError saying why not."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError("file", "", f"is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(content)
    except RecursionError:
        raise ParseError("file", "", "is nested too deeply to read") from None
    except ValueError as exc:
        raise ParseError("file", "", f"is not valid JSON ({exc})") from None


_PARTS: dict[str, tuple[str, ...]] = {}  # "a.b.c" -> ("a", "b", "c"), for Reader._get


class Reader:
    """Typed, defensive access to one record's fields, every failure a ParseError naming record and field."""

    def __init__(self, item: Any, label: str):
        if not isinstance(item, dict):
            raise ParseError(label, "", f"is a JSON {type_name(item)}, not an object")
        self.item = item
        self.label = label

    def _get(self, path: str) -> Any:
        value: Any = self.item
        parts = _PARTS.get(path) or _PARTS.setdefault(path, tuple(path.split(".")))
        for depth, part in enumerate(parts):
            if value is None:
                return None
            if type(value) is not dict and not isinstance(value, dict):
                walked = ".".join(parts[:depth])
                raise ParseError(self.label, walked, f"is a JSON {type_name(value)}, not an object")
            value = value.get(part)
        return value

    def section(self, path: str) -> dict:
        value = self._get(path)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ParseError(self.label, path, f"is a JSON {type_name(value)}, not an object")
        return value

    def text(self, path: str, *, column: str = "", max_length: int | None = None) -> str:
        value = self._get(path)
        if value is None:
            return ""
        if type(value) is str:  # the usual case, without the calls below (the same checks)
            value = value.strip()
            limit = max_length or MAX_LENGTHS.get(column)
            if "\x00" not in value and (limit is None or len(value) <= limit):
                return value
            return check_text(value, self.label, path, limit)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ParseError(self.label, path, f"is a JSON {type_name(value)}, not text")
        return check_text(str(value).strip(), self.label, path, max_length or MAX_LENGTHS.get(column))

    def boolean(self, path: str) -> bool | None:
        return parse_bool(self._get(path), self.label, path)

    def timestamp(self, path: str) -> datetime.datetime | None:
        return parse_datetime(self._get(path), self.label, path)


def check_text(value: str, label: str, path: str, max_length: int | None) -> str:
    if "\x00" in value:
        raise ParseError(label, path, "contains a NUL character")
    if max_length is not None and len(value) > max_length:
        raise ParseError(label, path, f"is longer than {max_length} characters")
    return value


TRUE_WORDS = {"true", "yes", "y", "1", "on", "enabled", "encrypted"}
FALSE_WORDS = {
    "false",
    "no",
    "n",
    "0",
    "off",
    "disabled",
    "not encrypted",
    "unencrypted",
    "decrypted",
    "encrypting",
}


def parse_bool(value: Any, label: str, path: str) -> bool | None:
    """JSON true/false, or the words vendors write ("True", "yes", "1"...); blank is unknown (None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "":
            return None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ParseError(label, path, f"{value[:40]!r} is not true or false")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ParseError(label, path, f"is a JSON {type_name(value)}, not true or false")


def parse_datetime(value: Any, label: str, path: str) -> datetime.datetime | None:
    """An ISO 8601 date or date and time (Z or an offset; without one, UTC), as an aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(label, path, f"is a JSON {type_name(value)}, not a date and time")
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ParseError(label, path, f"{value[:40]!r} is not an ISO 8601 date and time") from None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        parsed = parsed.astimezone(datetime.UTC)
    except OverflowError:
        raise ParseError(label, path, f"{value[:40]!r} is out of range") from None
    if parsed.year < 1970:
        raise ParseError(label, path, f"{value[:40]!r} is before 1970")
    return parsed


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


PLATFORM_WORDS = (
    ("mac", Platform.MACOS),
    ("darwin", Platform.MACOS),
    ("os x", Platform.MACOS),
    ("osx", Platform.MACOS),
    ("win", Platform.WINDOWS),
    ("linux", Platform.LINUX),
    ("ubuntu", Platform.LINUX),
    ("debian", Platform.LINUX),
    ("fedora", Platform.LINUX),
    ("red hat", Platform.LINUX),
    ("rhel", Platform.LINUX),
    ("centos", Platform.LINUX),
)


def platform_from(text: str) -> str:
    """macOS, Windows or Linux from a vendor's platform or OS name ("Mac", "windows", "Ubuntu 24.04"...)."""
    word = text.strip().lower()
    for prefix, platform in PLATFORM_WORDS:
        if word.startswith(prefix):
            return platform
    return Platform.OTHER


def records_of(payload: Any, envelope_key: str, *, single_record_keys: tuple[str, ...] = ()) -> list:
    """The list of records: an envelope's `envelope_key` array, a bare array, or (if allowed) one record."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        if envelope_key in payload:
            items = payload[envelope_key]
            if items is None:
                return []
            if not isinstance(items, list):
                raise ParseError("file", envelope_key, f"is a JSON {type_name(items)}, not an array")
            return items
        if single_record_keys and any(key in payload for key in single_record_keys):
            return [payload]
        raise ParseError("file", envelope_key, "is missing: not a feed of this kind")
    raise ParseError("file", "", f"is a JSON {type_name(payload)}, not an object or an array")


def model_of(raw: Any) -> str:
    """The hardware model a raw record names: Jamf's `hardware.model`, SentinelOne's `modelName`, or the
    `system_product_name` of CrowdStrike and DriveStrike, the first present (cut to the column's length)."""
    if not isinstance(raw, dict):
        return ""
    hardware = raw.get("hardware")
    for value in (
        hardware.get("model") if isinstance(hardware, dict) else None,
        raw.get("modelName"),
        raw.get("system_product_name"),
    ):
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            return text[:200]
    return ""


def finish(feed: Feed, record: FeedRecord, item: dict) -> None:
    """Hash and keep a record, or skip it (with a warning) when it has no serial number."""
    if not record.serial:
        name = record.hostname or record.external_id or "unnamed"
        feed.warnings.append(f"{record.label} ({name}): no serial number; skipped")
        return
    # Kept as text, the form it is stored in: the import need not encode it again.
    record.raw_json = canonical_json(item, record.label)
    record.model_name = model_of(item)
    record.content_hash = hashlib.sha256(record.raw_json.encode()).hexdigest()
    feed.records.append(record)
