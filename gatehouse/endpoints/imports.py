"""Importing a feed: parsed records in, devices and their source records upserted, then reconciled and checked.

`import_feed` is one transaction. Each record is keyed by its normalized serial number: a device is created for
a serial never seen before (audited, one event per device, written in one batch), the source's record of the
device is created or replaced, and a record whose content hash equals the stored one is skipped altogether (no
write, no reconciliation), so re-importing an unchanged feed costs the parse and one read. Only the devices whose
records changed are reconciled (`reconcile.reconcile_devices`) and checked (`checks.run_checks`). The run is a
FeedImport row (counts, state) and one audit event with the counts.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.permissions import require
from gatehouse.endpoints.bulk import bulk_set, insert_rows
from gatehouse.endpoints.feeds.base import Feed, FeedRecord
from gatehouse.endpoints.models import Device, FeedImport, Source, SourceRecord

CHUNK = 2000
RECORD_FIELDS = (
    "external_id",
    "serial",
    "hostname",
    "owner_email",
    "owner_username",
    "platform",
    "os_version",
    "disk_encrypted",
    "infected",
    "decommissioned",
    "agent_up_to_date",
    "agent_version",
    "last_seen_at",
    "imported_at",
    "content_hash",
    "raw",
)

Progress = Callable[[Iterable[Any]], Iterable[Any]]


@dataclass
class Prepared:
    """Records by normalized serial (one per serial: the most recently seen wins) and what was dropped."""

    by_serial: dict[str, FeedRecord] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def prepare(records: Iterable[FeedRecord]) -> Prepared:
    from gatehouse.endpoints.reconcile import normalize_serial

    out = Prepared()
    for record in records:
        serial = normalize_serial(record.serial)
        if not serial:
            out.warnings.append(
                f"{record.label}: serial {record.serial[:40]!r} has no letters or digits; skipped"
            )
            continue
        seen = out.by_serial.get(serial)
        if seen is not None:
            keep, drop = (record, seen) if _newer(record, seen) else (seen, record)
            out.warnings.append(f"{drop.label}: serial {serial} also in {keep.label}; the more recent kept")
            record = keep
        out.by_serial[serial] = record
    return out


def _newer(a: FeedRecord, b: FeedRecord) -> bool:
    epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return (a.last_seen_at or epoch) >= (b.last_seen_at or epoch)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create_devices(serials: list[str], by_serial: dict[str, FeedRecord]) -> dict[str, int]:
    """Insert a device per serial with the record's hostname, platform and OS version (the rest at the model's
    defaults, reconciliation fills them in); returns {serial: id}."""
    fields = [f for f in Device._meta.concrete_fields if not f.primary_key]
    stamp = timezone.now()
    defaults = {f.name: stamp if f.name in ("created", "last_updated") else f.get_default() for f in fields}
    rows = []
    for serial in serials:
        record = by_serial[serial]
        values = {
            **defaults,
            "serial": serial,
            "hostname": record.hostname,
            "platform": record.platform,
            "os_version": record.os_version,
        }
        rows.append(tuple(values[f.name] for f in fields))
    created = insert_rows(Device, [f.name for f in fields], rows, returning=["serial", "id"])
    return dict(created)


def import_feed(
    source: str,
    records: Feed | Iterable[FeedRecord],
    *,
    actor,
    origin: str,
    now: datetime.datetime | None = None,
    progress: Progress | None = None,
) -> FeedImport:
    """Import one feed's records in one transaction; returns the FeedImport (state done, with its counts).

    On an unexpected failure nothing of the import stays; a FeedImport in state failed records the error (outside
    the rolled-back transaction) and the exception propagates.
    """
    require(actor, "endpoints.add_feedimport")
    if source not in Source.values:
        raise ValueError(f"unknown source {source!r}")
    now = now or timezone.now()
    warnings = list(records.warnings) if isinstance(records, Feed) else []
    items = records.records if isinstance(records, Feed) else list(records)
    user = actor if getattr(actor, "pk", None) is not None else None
    try:
        with transaction.atomic():
            run = _import(
                source, items, warnings, now=now, origin=origin, user=user, actor=actor, progress=progress
            )
    except Exception as exc:
        FeedImport.objects.create(
            source=source,
            origin=origin[:300],
            started_at=now,
            finished_at=timezone.now(),
            state=FeedImport.State.FAILED,
            records=len(items),
            error=str(exc)[:2000] or type(exc).__name__,
            started_by=user,
        )
        raise
    run.warnings = warnings
    return run


def _import(source, items, warnings, *, now, origin, user, actor, progress) -> FeedImport:
    prepared = prepare(items)
    warnings.extend(prepared.warnings)
    serials = list(prepared.by_serial)
    existing: dict[str, tuple[int, int, str]] = {}  # serial -> (record id, device id, hash)
    for chunk in _chunks(serials):
        for pk, device_id, serial, digest in SourceRecord.objects.filter(
            source=source, serial__in=chunk
        ).values_list("pk", "device_id", "serial", "content_hash"):
            existing[serial] = (pk, device_id, digest)
    todo = [s for s in serials if s not in existing or existing[s][2] != prepared.by_serial[s].content_hash]
    unchanged = len(serials) - len(todo)

    devices: dict[str, int] = {s: existing[s][1] for s in todo if s in existing}
    missing = [s for s in todo if s not in devices]
    for chunk in _chunks(missing):
        devices.update(Device.objects.filter(serial__in=chunk).values_list("serial", "pk"))
    new = [s for s in missing if s not in devices]
    created = _create_devices(new, prepared.by_serial)
    devices.update(created)
    template = Device().audit_snapshot()  # a new device's snapshot but for the four fields set below
    own = ("serial", "hostname", "platform", "os_version")
    empty = (None, "", [], {})
    kept = [k for k, v in template.items() if k in own or v not in empty]  # the defaults' blanks never show
    drafts = []
    for serial in new:
        record = prepared.by_serial[serial]
        snapshot = {
            **template,
            "serial": serial,
            "hostname": record.hostname,
            "platform": str(record.platform),
            "os_version": record.os_version,
        }
        drafts.append(
            EventDraft(
                action=AuditAction.CREATE,
                object_type=Device.audit_label(),
                object_id=str(created[serial]),
                object_repr=(record.hostname or serial)[:200],
                changes={k: [None, snapshot[k]] for k in kept if k not in own or snapshot[k] not in empty},
            )
        )

    to_create, to_update = [], []
    for serial in progress(todo) if progress else todo:
        r = prepared.by_serial[serial]
        values = (
            r.external_id,
            serial,
            r.hostname,
            r.owner_email,
            r.owner_username,
            r.platform,
            r.os_version,
            r.disk_encrypted,
            r.infected,
            r.decommissioned,
            r.agent_up_to_date,
            r.agent_version,
            r.last_seen_at,
            now,
            r.content_hash,
            r.raw,
        )
        if serial in existing:
            to_update.append(
                SimpleNamespace(pk=existing[serial][0], **dict(zip(RECORD_FIELDS, values, strict=True)))
            )
        else:
            to_create.append((devices[serial], source, *values))
    insert_rows(SourceRecord, ["device", "source", *RECORD_FIELDS], to_create, batch_size=500)
    bulk_set(SourceRecord, to_update, RECORD_FIELDS, batch_size=500)

    run = FeedImport.objects.create(
        source=source,
        origin=origin[:300],
        started_at=now,
        finished_at=timezone.now(),
        state=FeedImport.State.DONE,
        records=len(items),
        created=len(to_create),
        changed=len(to_update),
        unchanged=unchanged,
        started_by=user,
    )
    counts = {
        "records": len(items),
        "created": len(to_create),
        "changed": len(to_update),
        "unchanged": unchanged,
        "devices_created": len(created),
        "skipped": len(warnings),
        "origin": origin[:300],
    }
    drafts.append(
        EventDraft(
            action=AuditAction.CREATE,
            object_type=FeedImport._meta.label_lower,
            object_id=str(run.pk),
            object_repr=str(run)[:200],
            changes={k: [None, v] for k, v in counts.items()},
        )
    )
    record_events(drafts)

    changed_ids = sorted({devices[s] for s in todo})
    if changed_ids:
        from gatehouse.endpoints import checks, reconcile

        # Each batch of devices is read once, reconciled, then checked; the checks write both's device fields.
        reconciliation = reconcile.Reconciliation(actor=actor, now=now, defer_writes=True)
        checks.run_checks(changed_ids, now=now, batches=reconciliation.batches(changed_ids))
        # Remediation files desk requests: the worker does it after the commit, so a large import does not wait.
        from gatehouse.endpoints.remediation import remediate_later

        transaction.on_commit(lambda: remediate_later(changed_ids))
    return run


__all__ = ["import_feed", "prepare"]
