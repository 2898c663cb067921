"""Appending to and verifying the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from gatehouse.audit.models import AuditChainHead, AuditEvent
from gatehouse.core import context
from gatehouse.core.bulk import JsonText, active_writer, insert_rows

AuditAction = AuditEvent.Action
GENESIS_HASH = "0" * 64


@dataclass
class EventDraft:
    action: str
    object_type: str
    object_id: str
    object_repr: str
    changes: dict[str, Any] = field(default_factory=dict)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_encode_str = json.encoder.encode_basestring  # a str as _canonical encodes it (ensure_ascii off), in C


def _string(value: Any) -> str:
    return _encode_str(value) if type(value) is str else _canonical(value)


def event_payload(values: dict[str, Any]) -> str:
    """The event's content in a canonical JSON form (the hash input after the previous hash)."""
    return _canonical(
        [
            values["timestamp"].isoformat(),
            values["actor_id"],
            values["actor_label"],
            values["source"],
            values["action"],
            values["object_type"],
            values["object_id"],
            values["object_repr"],
            values["changes"],
            values["request_id"],
        ]
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 over the previous hash followed by the event's canonical payload.

    The database computes the same (sha256 on PostgreSQL, gatehouse_sha256 registered on SQLite connections)
    when it appends a single event, so keep the two in step.
    """
    return sha256_hex(prev_hash + event_payload(values))


_HEAD_TABLE = AuditChainHead._meta.db_table
_EVENT_TABLE = AuditEvent._meta.db_table
_INSERT_COLUMNS = (
    "timestamp",
    "actor_id",
    "actor_label",
    "source",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "request_id",
    "prev_hash",
    "hash",
)


_VALUE_COLUMNS = _INSERT_COLUMNS[:-2]  # all but prev_hash and hash, which the database derives


def _append_sql(vendor: str) -> str:
    """One statement that reads the chain head, hashes and inserts the event.

    On PostgreSQL FOR UPDATE locks the head until commit, so concurrent appenders queue; SQLite runs IMMEDIATE
    transactions, so the writer already holds the database lock. The head advances by the trigger of migration
    0004. One statement instead of read-then-insert keeps the trail's cost per write low
    (bench/audit_overhead.py).
    """
    columns = ", ".join(_INSERT_COLUMNS)
    if vendor == "postgresql":
        values = ", ".join("%s::jsonb" if c == "changes" else "%s" for c in _VALUE_COLUMNS)
        digest = "encode(sha256(convert_to(h.last_hash || %s, 'UTF8')), 'hex')"
        lock = " FOR UPDATE"
    else:
        values = ", ".join("%s" for _ in _VALUE_COLUMNS)
        digest = "gatehouse_sha256(h.last_hash || %s)"
        lock = ""
    return (
        f"INSERT INTO {_EVENT_TABLE} ({columns}) SELECT {values}, h.last_hash, {digest} "
        f"FROM {_HEAD_TABLE} h WHERE h.id = 1{lock}"
    )


_APPEND_SQL: dict[str, str] = {}


def _append_one(cursor, values: dict[str, Any]) -> None:
    writer = active_writer(connection)
    if writer is not None:
        writer.audit_head = None  # the database moves the head now: read it again next time
    vendor = connection.vendor
    sql = _APPEND_SQL.get(vendor) or _APPEND_SQL.setdefault(vendor, _append_sql(vendor))
    params = [
        connection.ops.adapt_datetimefield_value(values[c])
        if c == "timestamp"
        else json.dumps(values[c])
        if c == "changes"
        else values[c]
        for c in _VALUE_COLUMNS
    ]
    params.append(event_payload(values))
    cursor.execute(sql, params)
    if cursor.rowcount != 1:
        raise RuntimeError("The audit chain head row is missing; run `gatehouse migrate`.")


def _lock_head(cursor) -> str:
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    cursor.execute(f"SELECT last_hash FROM {_HEAD_TABLE} WHERE id = 1{lock}")
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("The audit chain head row is missing; run `gatehouse migrate`.")
    return row[0]


def record_events(drafts: Sequence[EventDraft]) -> int:
    """Append events to the chain inside the caller's transaction (or a new one). Returns how many."""
    if not drafts:
        return 0
    ctx = context.current()
    if not ctx.audit_enabled:
        return 0
    if not connection.in_atomic_block:
        with transaction.atomic():
            return record_events(drafts)
    actor = ctx.actor
    common = {
        "timestamp": timezone.now(),
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": actor.get_username() if actor is not None else ctx.actor_label,
        "source": ctx.source,
        "request_id": ctx.request_id,
    }
    with connection.cursor() as cursor:
        if len(drafts) == 1:
            d = drafts[0]
            _append_one(
                cursor,
                {
                    **common,
                    "action": d.action,
                    "object_type": d.object_type,
                    "object_id": d.object_id,
                    "object_repr": d.object_repr,
                    "changes": d.changes,
                },
            )
            return 1
        return _append_batch(cursor, common, drafts)


def _append_batch(cursor, common: dict[str, Any], drafts: Sequence[EventDraft]) -> int:
    """Many events (an import): hashed here and appended in one bulk write (executemany on SQLite, COPY on
    PostgreSQL). The head moves once, to the last of them: by the statement-level trigger on PostgreSQL, and on
    SQLite (which has row-level triggers only) by `_sqlite_append`."""
    # Within one write-behind (core.bulk), the head is where this transaction's last batch left it: it was locked
    # by the first batch until the commit, so no one else can have moved it, and no read need wait for the writer.
    # Only within the same savepoints, though: a savepoint rolled back since may have taken that batch with it.
    writer = active_writer(connection)
    where = tuple(connection.savepoint_ids)
    cached = writer.audit_head if writer is not None else None
    prev = cached[1] if cached and cached[0] == where else _lock_head(cursor)
    events = []
    # event_payload's JSON, put together from parts: what every event of the batch shares is encoded once, each
    # event's changes once (for both its hash and its column), and its strings by the encoder json.dumps uses.
    timestamp, actor_id, actor_label = common["timestamp"], common["actor_id"], common["actor_label"]
    source, request_id = common["source"], common["request_id"]
    head = _canonical([timestamp.isoformat(), actor_id, actor_label, source])[:-1]
    tail = f",{_canonical(request_id)}]"
    encoded: dict[str, str] = {}  # the few actions and object types, encoded once
    for d in drafts:
        changes = _canonical(d.changes)
        action = encoded.get(d.action) or encoded.setdefault(d.action, _string(d.action))
        kind = encoded.get(d.object_type) or encoded.setdefault(d.object_type, _string(d.object_type))
        payload = f"{head},{action},{kind},{_string(d.object_id)},{_string(d.object_repr)},{changes}{tail}"
        digest = sha256_hex(prev + payload)
        events.append((timestamp, actor_id, actor_label, source, d.action, d.object_type, d.object_id,
                       d.object_repr, JsonText(changes), request_id, prev, digest))  # fmt: skip
        prev = digest
    if connection.vendor == "sqlite":
        _sqlite_append(cursor, events)
    else:
        insert_rows(AuditEvent, _INSERT_COLUMNS, events, batch_size=2000)
    if writer is not None:
        writer.audit_head = (where, prev)
    return len(events)


_HEAD_TRIGGER = "audit_event_advances_head"  # audit migration 0002


def _sqlite_append(cursor, events: list[tuple]) -> None:
    """Insert a batch with the head trigger set aside, then move the head to its last event, in one step.

    SQLite runs a row-level trigger as a sub-program for every row, even one whose WHEN clause is false: for an
    import's 100,000 events that was 1 s of the 1.8 s the inserts took (bench/endpoints.py). The trigger is
    dropped and created again from its own stored definition inside the caller's transaction, which holds the
    database's write lock (transaction_mode IMMEDIATE): no other connection can write meanwhile or ever sees it
    missing, and a rollback restores it with everything else."""
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s", [_HEAD_TRIGGER])
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("The audit chain head trigger is missing; run `gatehouse migrate`.")
    cursor.execute(f"DROP TRIGGER {_HEAD_TRIGGER}")
    try:
        insert_rows(AuditEvent, _INSERT_COLUMNS, events, batch_size=2000)
        cursor.execute(
            f"UPDATE {_HEAD_TABLE} SET last_event_id = (SELECT MAX(id) FROM {_EVENT_TABLE}), last_hash = %s, "
            "event_count = event_count + %s WHERE id = 1",
            [events[-1][-1], len(events)],
        )
    finally:
        cursor.execute(row[0])


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    broken_event_id: int | None = None
    reason: str = ""


_FIELDS = (
    "id",
    "timestamp",
    "actor_id",
    "actor_label",
    "source",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "request_id",
    "prev_hash",
    "hash",
)


def _rows(chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    last_id = 0
    while True:
        chunk = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id").values(*_FIELDS)[:chunk_size])
        if not chunk:
            return
        yield from chunk
        last_id = chunk[-1]["id"]


def verify_chain(progress=None) -> VerifyResult:
    """Recompute every hash in order; the first event whose content, link or position is wrong is named."""
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    for row in _rows():
        if row["prev_hash"] != prev:
            return VerifyResult(
                False,
                checked,
                row["id"],
                "its previous-hash link does not match the event before it "
                "(an earlier event was changed or deleted)",
            )
        if event_hash(prev, row) != row["hash"]:
            return VerifyResult(
                False, checked, row["id"], "its content does not match its hash (it was changed)"
            )
        prev = row["hash"]
        last_id = row["id"]
        checked += 1
        if progress is not None:
            progress(1)
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.last_hash != prev:
        missing = head.last_event_id if head.last_event_id > last_id else last_id
        return VerifyResult(
            False,
            checked,
            missing,
            f"the chain ends at event #{last_id} but the head records event "
            f"#{head.last_event_id} (the newest events were deleted or changed)",
        )
    if head is not None and head.event_count != checked:
        return VerifyResult(
            False,
            checked,
            last_id or None,
            f"the head counts {head.event_count} events but {checked} are present",
        )
    if head is None and checked:
        return VerifyResult(False, checked, None, "the chain head is missing")
    return VerifyResult(True, checked)
