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

AuditAction = AuditEvent.Action
GENESIS_HASH = "0" * 64


@dataclass
class EventDraft:
    action: str
    object_type: str
    object_id: str
    object_repr: str
    changes: dict[str, Any] = field(default_factory=dict)


def event_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event's content, in a canonical JSON form."""
    payload = json.dumps(
        [
            prev_hash,
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
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _locked_head() -> AuditChainHead:
    # On PostgreSQL the row lock serialises appenders until commit; SQLite runs IMMEDIATE transactions, so
    # the writer already holds the database lock.
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head, _ = AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def record_events(drafts: Sequence[EventDraft]) -> list[AuditEvent]:
    """Append events to the chain inside the caller's transaction (or a new one)."""
    if not drafts:
        return []
    ctx = context.current()
    if not ctx.audit_enabled:
        return []
    if not connection.in_atomic_block:
        with transaction.atomic():
            return record_events(drafts)
    actor = ctx.actor
    actor_id = actor.pk if actor is not None else None
    actor_label = actor.get_username() if actor is not None else ctx.actor_label
    now = timezone.now()
    head = _locked_head()
    prev = head.last_hash or GENESIS_HASH
    events = []
    for draft in drafts:
        values = {
            "timestamp": now,
            "actor_id": actor_id,
            "actor_label": actor_label,
            "source": ctx.source,
            "action": draft.action,
            "object_type": draft.object_type,
            "object_id": draft.object_id,
            "object_repr": draft.object_repr,
            "changes": draft.changes,
            "request_id": ctx.request_id,
        }
        digest = event_hash(prev, values)
        events.append(AuditEvent(prev_hash=prev, hash=digest, **values))
        prev = digest
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        AuditEvent.objects.bulk_create(events, batch_size=500)
    last_id = events[-1].pk
    if last_id is None:  # backends that do not return ids from bulk inserts
        last_id = AuditEvent.objects.filter(hash=prev).values_list("pk", flat=True).get()
    AuditChainHead.objects.filter(pk=1).update(
        last_event_id=last_id, last_hash=prev, event_count=head.event_count + len(events)
    )
    return events


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
                False, checked, row["id"], "its previous-hash link does not match the event before it "
                "(an earlier event was changed or deleted)"
            )
        if event_hash(prev, row) != row["hash"]:
            return VerifyResult(False, checked, row["id"], "its content does not match its hash (it was changed)")
        prev = row["hash"]
        last_id = row["id"]
        checked += 1
        if progress is not None:
            progress(1)
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_hash or GENESIS_HASH) != prev:
        missing = head.last_event_id if head.last_event_id > last_id else last_id
        return VerifyResult(
            False, checked, missing, f"the chain ends at event #{last_id} but the head records event "
            f"#{head.last_event_id} (the newest events were deleted or changed)"
        )
    if head is not None and head.event_count != checked:
        return VerifyResult(
            False, checked, last_id or None,
            f"the head counts {head.event_count} events but {checked} are present",
        )
    if head is None and checked:
        return VerifyResult(False, checked, None, "the chain head is missing")
    return VerifyResult(True, checked)
