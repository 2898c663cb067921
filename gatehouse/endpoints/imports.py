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
from typing import Any

from django.db import transaction
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.permissions import require
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
    new_devices = [
        Device(
            serial=s,
            hostname=prepared.by_serial[s].hostname,
            platform=prepared.by_serial[s].platform,
            os_version=prepared.by_serial[s].os_version,
        )
        for s in missing
        if s not in devices
    ]
    created_devices = Device.objects.bulk_create(new_devices, batch_size=CHUNK)
    devices.update((d.serial, d.pk) for d in created_devices)
    drafts = [
        EventDraft(
            action=AuditAction.CREATE,
            object_type=Device.audit_label(),
            object_id=str(d.pk),
            object_repr=str(d)[:200],
            changes={k: [None, v] for k, v in d.audit_snapshot().items() if v not in (None, "", [], {})},
        )
        for d in created_devices
    ]

    to_create, to_update = [], []
    for serial in progress(todo) if progress else todo:
        record = prepared.by_serial[serial]
        values = {
            name: getattr(record, name) for name in RECORD_FIELDS if name not in ("serial", "imported_at")
        }
        values.update(serial=serial, imported_at=now)
        if serial in existing:
            to_update.append(
                SourceRecord(pk=existing[serial][0], device_id=devices[serial], source=source, **values)
            )
        else:
            to_create.append(SourceRecord(device_id=devices[serial], source=source, **values))
    SourceRecord.objects.bulk_create(to_create, batch_size=CHUNK)
    SourceRecord.objects.bulk_update(to_update, fields=list(RECORD_FIELDS), batch_size=500)

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
        "devices_created": len(created_devices),
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

        reconcile.reconcile_devices(changed_ids, actor=actor, now=now)
        checks.run_checks(changed_ids, now=now)
        # Remediation files desk requests: the worker does it after the commit, so a large import does not wait.
        from gatehouse.endpoints.remediation import remediate_later

        transaction.on_commit(lambda: remediate_later(changed_ids))
    return run


__all__ = ["import_feed", "prepare"]
