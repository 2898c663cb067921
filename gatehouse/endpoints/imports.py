"""Importing a feed: parsed records in, devices and their source records upserted, then reconciled and checked.

`import_feed` (one feed) and `import_feeds` (a sync's feeds together) are one transaction. Each record is keyed
by its normalized serial number; a record whose content hash equals the stored one is skipped altogether (no
write, no reconciliation), so re-importing an unchanged feed costs the parse and one read. The others:

- a stored device's record is created or replaced, and the device is then read back, reconciled
  (`reconcile.Reconciliation`) and checked (`checks.run_checks`), its fields written in one update;
- a serial no device has yet gets a device id reserved (`core.bulk.reserve_ids`) and its records written with
  that id; the device itself is built from those records (`reconcile.new_batches`), reconciled and checked the
  same way, and inserted once, whole (foreign keys are checked at commit). Its one audit event, with its
  reconciled fields, comes from the reconciliation.

Devices are reconciled and checked once per call, whatever the number of feeds. Each feed's run is a FeedImport
row (counts, state) and one audit event with the counts.
"""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.bulk import (
    JsonText,
    bulk_set,
    cycle_collection_paused,
    insert_rows,
    reserve_ids,
    write_behind,
)
from gatehouse.core.permissions import require
from gatehouse.endpoints.feeds.base import Feed, FeedRecord
from gatehouse.endpoints.models import Device, FeedImport, Source, SourceRecord

CHUNK = 2000
WHOLE_TABLE_ABOVE = 10_000  # serials: above this, a lookup by serial reads the whole table (see _of_serials)
# What an import writes of a record, in SourceRecord's field order (the values tuple in _write follows it).
RECORD_FIELDS = tuple(
    f.name for f in SourceRecord._meta.concrete_fields if f.name not in ("id", "device", "source")
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


def _of_serials(qs, serials: list[str], *fields: str, lookup: str = "serial__in") -> Iterator[tuple]:
    """`qs.values_list(*fields)` of the rows whose serial is one of `serials`: filtered in chunks (by `lookup`)
    for a small feed; for a large one, every row read and filtered here (a full feed meets most of the table, and
    reading it is cheaper than thousands of IN lists)."""
    if len(serials) < WHOLE_TABLE_ABOVE:
        for chunk in _chunks(serials):
            yield from qs.filter(**{lookup: chunk}).values_list(*fields)
        return
    wanted = set(serials)
    at = fields.index("serial")
    for row in qs.values_list(*fields).iterator(chunk_size=10_000):
        if row[at] in wanted:
            yield row


FeedInput = tuple[str, "Feed | Iterable[FeedRecord]", str]  # (source, parsed feed or records, origin)


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
    return import_feeds([(source, records, origin)], actor=actor, now=now, progress=progress)[0]


@cycle_collection_paused()
def import_feeds(
    feeds: Sequence[FeedInput],
    *,
    actor,
    now: datetime.datetime | None = None,
    progress: Progress | None = None,
) -> list[FeedImport]:
    """Import several feeds in one transaction (a FeedImport each, in order), then reconcile and check the devices
    any of them changed, once.

    Importing a sync's feeds together is both cheaper and truer than one by one: a device new in the MDM feed
    is checked once it is also in the EDR feed, not failed in between for lacking it (which would file a
    remediation request the next import resolves). All or nothing: on an unexpected failure each feed gets a
    failed FeedImport with the error and the exception propagates.
    """
    require(actor, "endpoints.add_feedimport")
    for source, _, _ in feeds:
        if source not in Source.values:
            raise ValueError(f"unknown source {source!r}")
    now = now or timezone.now()
    user = actor if getattr(actor, "pk", None) is not None else None
    inputs = []
    for source, records, origin in feeds:
        warnings = list(records.warnings) if isinstance(records, Feed) else []
        items = records.records if isinstance(records, Feed) else list(records)
        inputs.append((source, items, warnings, origin))
    try:
        with transaction.atomic():
            runs = _import(inputs, now=now, user=user, actor=actor, progress=progress)
    except Exception as exc:
        for source, items, _, origin in inputs:
            failed_run(source, origin, started_at=now, error=exc, user=user, records=len(items))
        raise
    for run, (_, _, warnings, _) in zip(runs, inputs, strict=True):
        run.warnings = warnings
    return runs


def failed_run(
    source: str, origin: str, *, started_at: datetime.datetime, error: Exception, user, records: int = 0
) -> FeedImport:
    """Record a feed run that imported nothing (a fetch or an import that failed), with the reason."""
    return FeedImport.objects.create(
        source=source,
        origin=origin[:300],
        started_at=started_at,
        finished_at=timezone.now(),
        state=FeedImport.State.FAILED,
        records=records,
        error=str(error)[:2000] or type(error).__name__,
        started_by=user,
    )


@dataclass
class _Plan:
    """One feed's records sorted out before anything is written: which are new, changed or unchanged, and the
    stored device of each (a device the import creates has none yet)."""

    source: str
    items: list[FeedRecord]
    warnings: list[str]
    origin: str
    by_serial: dict[str, FeedRecord]
    existing: dict[str, tuple[int, int, str]]  # serial -> (record id, device id, content hash)
    todo: list[str]  # serials whose record is new or changed
    devices: dict[str, int]  # serial -> stored device id, for the serials of `todo` that have one


def _plan(source: str, items: list[FeedRecord], warnings: list[str], origin: str) -> _Plan:
    prepared = prepare(items)
    warnings.extend(prepared.warnings)
    by_serial = prepared.by_serial
    serials = list(by_serial)
    existing: dict[str, tuple[int, int, str]] = {}
    # A record's serial is its device's: found through the device's unique serial and the (device, source) key.
    for pk, device_id, serial, digest in _of_serials(
        SourceRecord.objects.filter(source=source),
        serials,
        *("pk", "device_id", "serial", "content_hash"),
        lookup="device__serial__in",
    ):
        existing[serial] = (pk, device_id, digest)
    todo = [s for s in serials if s not in existing or existing[s][2] != by_serial[s].content_hash]
    devices = {s: existing[s][1] for s in todo if s in existing}
    missing = [s for s in todo if s not in devices]
    devices.update(_of_serials(Device.objects.all(), missing, "serial", "pk"))
    return _Plan(source, items, warnings, origin, by_serial, existing, todo, devices)


def _import(inputs, *, now, user, actor, progress) -> list[FeedImport]:
    from gatehouse.endpoints import checks, reconcile

    plans = [_plan(source, items, warnings, origin) for source, items, warnings, origin in inputs]
    # Devices no feed's serial has yet: their ids are reserved now, their records written with the others, and
    # the devices themselves inserted once reconciled and checked (one write of each, nothing read back).
    firsts: dict[str, FeedRecord] = {}
    for plan in plans:
        for serial in plan.todo:
            if serial not in plan.devices and serial not in firsts:
                firsts[serial] = plan.by_serial[serial]
    new_ids = dict(zip(firsts, reserve_ids(Device, len(firsts)), strict=True))
    new_records: dict[int, list[reconcile.RecordRow]] = defaultdict(list)
    if not any(plan.todo for plan in plans):  # unchanged feeds: nothing to write, reconcile or check
        empty = _Written(0, 0, 0, set())
        return [_record_run(plan, empty, now=now, user=user) for plan in plans]
    reconciliation = reconcile.Reconciliation(
        actor=actor, now=now, defer_writes=True, created=set(new_ids.values())
    )
    reconciliation.preload()  # people and hostnames read now, before the writes begin
    # On PostgreSQL the inserts are sent by a second thread (core.bulk.WriteBehind) while this one goes on: the
    # records while the first batches are reconciled and checked, each batch's devices, results and events while
    # the next is. Each feed's run (a FeedImport and its event) is recorded last, with its counts.
    written: list[_Written] = []
    with write_behind():
        for plan in plans:
            written.append(_write(plan, new_ids, new_records, now=now, progress=progress))
        stored = set().union(*(w.stored for w in written))
        reconciliation.expect_new(firsts)
        changed_ids = sorted(stored | set(new_ids.values()))
        if changed_ids:
            # Each batch of stored devices is read once, reconciled, then checked; the checks write both's device
            # fields (and insert the new devices whole). A new device gets one audit event, with its reconciled
            # fields.
            batches = itertools.chain(
                reconciliation.batches(sorted(stored)),
                reconciliation.reconciled(reconcile.new_batches(firsts, new_ids, new_records)),
            )
            checks.run_checks(changed_ids, now=now, batches=batches)
    runs = [_record_run(plan, w, now=now, user=user) for plan, w in zip(plans, written, strict=True)]
    if changed_ids:
        # Remediation files desk requests: the worker does it after the commit, so a large import does not wait.
        from gatehouse.endpoints.remediation import remediate_later

        transaction.on_commit(lambda: remediate_later(changed_ids))
    return runs


@dataclass
class _Written:
    """What writing one feed's records did."""

    created: int  # records
    changed: int
    devices_created: int  # devices this feed was the first of the import to bring
    stored: set[int]  # the stored devices whose records changed


def _write(plan: _Plan, new_ids, new_records, *, now, progress) -> _Written:
    """Write one feed's new and changed records (a new device's also kept, as rows, for its reconciliation)."""
    from gatehouse.endpoints.reconcile import record_row

    source, by_serial, existing = plan.source, plan.by_serial, plan.existing
    to_create, to_update, stored = [], [], set()
    created = 0
    for serial in progress(plan.todo) if progress else plan.todo:
        r = by_serial[serial]
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
            r.model_name,
            r.last_seen_at,
            now,
            r.content_hash,
            JsonText(r.raw_json or "{}"),
        )
        if serial in existing:
            to_update.append(
                SimpleNamespace(pk=existing[serial][0], **dict(zip(RECORD_FIELDS, values, strict=True)))
            )
            stored.add(existing[serial][1])
            continue
        device_id = plan.devices.get(serial)
        if device_id is None:
            device_id = new_ids[serial]
            if not new_records[device_id]:
                created += 1  # the first feed of this import to bring the device
            new_records[device_id].append(record_row(r, device_id, source, now))
        else:
            stored.add(device_id)
        to_create.append((device_id, source, *values))
    insert_rows(SourceRecord, ["device", "source", *RECORD_FIELDS], to_create, batch_size=10_000)
    bulk_set(SourceRecord, to_update, RECORD_FIELDS, batch_size=500)
    return _Written(len(to_create), len(to_update), created, stored)


def _record_run(plan: _Plan, written: _Written, *, now, user) -> FeedImport:
    """The feed's FeedImport (done, with its counts) and its audit event."""
    unchanged = len(plan.by_serial) - len(plan.todo)
    run = FeedImport.objects.create(
        source=plan.source,
        origin=plan.origin[:300],
        started_at=now,
        finished_at=timezone.now(),
        state=FeedImport.State.DONE,
        records=len(plan.items),
        created=written.created,
        changed=written.changed,
        unchanged=unchanged,
        started_by=user,
    )
    counts = {
        "records": len(plan.items),
        "created": written.created,
        "changed": written.changed,
        "unchanged": unchanged,
        "devices_created": written.devices_created,
        "skipped": len(plan.warnings),
        "origin": plan.origin[:300],
    }
    record_events(
        [
            EventDraft(
                action=AuditAction.CREATE,
                object_type=FeedImport._meta.label_lower,
                object_id=str(run.pk),
                object_repr=str(run)[:200],
                changes={k: [None, v] for k, v in counts.items()},
            )
        ]
    )
    return run


__all__ = ["failed_run", "import_feed", "import_feeds", "prepare"]
