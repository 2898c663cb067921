"""Reconciliation: one device per normalized serial, its fields derived from every feed's last record.

`normalize_serial` is the key every import upserts by. `reconcile_devices` derives each device's fields from
its source records (see docs/endpoints.md, "Reconciliation"):

- hostname, platform, OS version, model: from the most recently seen record that has a value;
- disk encryption: from the most recently seen record that reports it (EDR feeds usually do not);
- last seen: the newest of every record; active when that is within ACTIVE_DAYS (30) of `now`;
- the owner, tried in this order:
  1. email: a record's owner email equals a person's email (MDM records first, then newest first);
  2. username: a record's username (``DOMAIN\\user`` and ``user@domain`` reduced to ``user``) equals exactly
     one person's handle or email local part;
  3. hostname, only where it is unique on both sides: no other device has the same hostname (case-insensitive)
     AND the name read from it (``jsmith-mbp.corp.example`` -> ``jsmith``; ``jane-smith-laptop`` ->
     ``jane-smith`` / ``jane.smith``) designates exactly one person by handle or email local part.
  With none of these, the device has no owner (reported by `mismatches`).

Device changes are audited (one event per changed device, field before and after, in one `record_events` call
per batch); last seen, active and the check results are derived bookkeeping and not audited per device.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.permissions import require
from gatehouse.core.services import diff
from gatehouse.directory.models import Person
from gatehouse.endpoints.bulk import bulk_set
from gatehouse.endpoints.models import SOURCE_KINDS, Device, Platform, SourceKind, SourceRecord

ACTIVE_DAYS = 30
BATCH = 2000
# Derived by reconciliation or the checks, not audited per device (the runs are audited with their counts).
DERIVED = {"last_seen_at", "is_active", "passing", "failing_checks", "checked_at"}
RECONCILED_FIELDS = ["hostname", "platform", "os_version", "model", "disk_encrypted", "owner", "owner_match"]

_NOT_SERIAL = re.compile(r"[^0-9A-Z]")
_HOST_SUFFIX = re.compile(
    r"(?:[-_](?:macbook[-_]pro|macbook[-_]air|macbook|imac|mac[-_]?mini|mbp|mba|laptop|lt|nb|pc|desktop|ws|wks"
    r"|workstation|mac|win|linux|ubuntu|\d{1,3}))+$"
)


def normalize_serial(text: str | None) -> str:
    """The key of a device: upper case, only letters and digits (spaces, dashes, dots and the like dropped)."""
    return _NOT_SERIAL.sub("", str(text or "").upper())


def normalize_username(text: str | None) -> str:
    """``CORP\\jsmith``, ``jsmith@corp.example``, ``@jsmith``, `` JSmith `` -> ``jsmith``."""
    name = str(text or "").strip().lower().lstrip("@")
    name = name.rsplit("\\", 1)[-1]
    return name.split("@", 1)[0].strip()


def hostname_names(hostname: str | None) -> set[str]:
    """The names a hostname may carry: ``jane-smith-mbp.corp`` -> {jane-smith, jane.smith, jane_smith, janesmith}."""
    host = str(hostname or "").strip().lower().split(".", 1)[0]
    base = _HOST_SUFFIX.sub("", host)
    if not re.search(r"[a-z]", base):
        return set()
    return {base, base.replace("-", "."), base.replace("-", "_"), base.replace("-", "")} - {""}


@dataclass
class ReconcileResult:
    devices: int = 0
    changed: int = 0
    owners: Counter = field(
        default_factory=Counter
    )  # how owners were matched: email, username, hostname, none

    def summary(self) -> str:
        matched = ", ".join(f"{n} by {how}" for how, n in sorted(self.owners.items()))
        return f"{self.devices} devices reconciled, {self.changed} changed; owners: {matched or 'none'}"


class _People:
    """Every person's email, handle and email local part, loaded once per run."""

    def __init__(self):
        self.by_email: dict[str, int] = {}
        self.by_name: dict[str, set[int]] = defaultdict(set)
        for pk, email, handle in Person.objects.values_list("pk", "email", "handle").iterator(
            chunk_size=5000
        ):
            email = (email or "").lower()
            self.by_email[email] = pk
            self.by_name[email.split("@", 1)[0]].add(pk)
            if handle:
                self.by_name[normalize_username(handle)].add(pk)

    def by_username(self, names: Iterable[str]) -> int | None:
        """The one person the names designate, or None when none or several do."""
        found: set[int] = set()
        for name in names:
            found |= self.by_name.get(name, set())
        return next(iter(found)) if len(found) == 1 else None


def _newest_first(records: list[SourceRecord]) -> list[SourceRecord]:
    floor = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    return sorted(records, key=lambda r: (r.last_seen_at or floor, r.imported_at or floor), reverse=True)


def _first(records: list[SourceRecord], attr: str, empty=("", None)):
    for record in records:
        value = getattr(record, attr)
        if value not in empty:
            return value
    return None


def derive_fields(records: list[SourceRecord], now: datetime.datetime) -> dict:
    """The device fields (except the owner) that its records say, newest record first."""
    ordered = _newest_first(records)
    seen = [r.last_seen_at for r in ordered if r.last_seen_at]
    last_seen = max(seen) if seen else None
    return {
        "hostname": _first(ordered, "hostname") or "",
        "platform": _first(ordered, "platform", empty=("", None, Platform.OTHER)) or Platform.OTHER,
        "os_version": _first(ordered, "os_version") or "",
        "model": (_first(ordered, "model_name") or "")[:200],
        "disk_encrypted": _first(ordered, "disk_encrypted"),
        "last_seen_at": last_seen,
        "is_active": bool(last_seen and last_seen >= now - datetime.timedelta(days=ACTIVE_DAYS)),
    }


def match_owner(
    records: list[SourceRecord], people: _People, hostname: str, hostname_unique: bool
) -> tuple[int | None, str]:
    """(person id, how) for a device's records: by email, then username, then a unique hostname."""
    ordered = sorted(
        _newest_first(records), key=lambda r: SOURCE_KINDS.get(r.source) != SourceKind.MDM
    )  # stable: MDM records first, each group newest first
    for record in ordered:
        pk = people.by_email.get((record.owner_email or "").strip().lower())
        if pk is not None and record.owner_email:
            return pk, "email"
    for record in ordered:
        name = normalize_username(record.owner_username)
        if name:
            pk = people.by_username([name])
            if pk is not None:
                return pk, "username"
    if hostname and hostname_unique:
        pk = people.by_username(hostname_names(hostname))
        if pk is not None:
            return pk, "hostname"
    return None, ""


def _chunks(device_ids: Iterable[int] | None) -> Iterator[list[int]]:
    if device_ids is None:
        ids = Device.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=BATCH)
    else:
        ids = iter(sorted(set(device_ids)))
    chunk: list[int] = []
    for pk in ids:
        chunk.append(pk)
        if len(chunk) >= BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _records_by_device(ids: list[int]) -> dict[int, list[SourceRecord]]:
    from django.db.models.fields.json import KT
    from django.db.models.functions import Coalesce

    records: dict[int, list[SourceRecord]] = defaultdict(list)
    qs = (
        SourceRecord.objects.filter(device_id__in=ids)
        .defer("raw")
        .annotate(
            model_name=Coalesce(
                KT("raw__hardware__model"), KT("raw__modelName"), KT("raw__system_product_name")
            )
        )
    )
    for record in qs:
        records[record.device_id].append(record)
    return records


def reconcile_devices(
    device_ids: Iterable[int] | None = None, *, actor, now: datetime.datetime | None = None
) -> ReconcileResult:
    """Derive the fields and owner of the given devices (all when None) from their records; audited."""
    require(actor, "endpoints.change_device")
    now = now or timezone.now()
    result = ReconcileResult()
    people: _People | None = None
    for ids in _chunks(device_ids):
        devices = list(Device.objects.filter(pk__in=ids))
        records = _records_by_device(ids)
        derived = {d.pk: derive_fields(records[d.pk], now) for d in devices if records.get(d.pk)}
        hostnames = {v["hostname"].lower() for v in derived.values() if v["hostname"]}
        # Hostname counts among all devices, with this batch's new hostnames in place of its stored ones.
        counts = Counter(v["hostname"].lower() for v in derived.values() if v["hostname"])
        others = (
            Device.objects.exclude(pk__in=list(derived))
            .annotate(host=Lower("hostname"))
            .filter(host__in=hostnames)
            .values("host")
            .annotate(n=Count("pk"))
        )
        for row in others:
            counts[row["host"]] += row["n"]
        if people is None:
            people = _People()
        changed: list[Device] = []
        drafts: list[EventDraft] = []
        for device in devices:
            values = derived.get(device.pk)
            if values is None:
                continue  # no records: nothing says anything about it
            result.devices += 1
            host = values["hostname"]
            owner_id, how = match_owner(records[device.pk], people, host, counts[host.lower()] == 1)
            values.update(owner_id=owner_id, owner_match=how)
            result.owners[how or "none"] += 1
            before = device.audit_snapshot()
            dirty = [name for name, value in values.items() if getattr(device, name) != value]
            if not dirty:
                continue
            for name in dirty:
                setattr(device, name, values[name])
            changes = {k: v for k, v in diff(before, device.audit_snapshot()).items() if k not in DERIVED}
            device.last_updated = now
            changed.append(device)
            if changes:
                drafts.append(
                    EventDraft(
                        action=AuditAction.UPDATE,
                        object_type=Device.audit_label(),
                        object_id=str(device.pk),
                        object_repr=str(device)[:200],
                        changes=changes,
                    )
                )
        if changed:
            with transaction.atomic():
                bulk_set(
                    Device,
                    changed,
                    [
                        "hostname",
                        "platform",
                        "os_version",
                        "model",
                        "disk_encrypted",
                        "owner",
                        "owner_match",
                        "last_seen_at",
                        "is_active",
                        "last_updated",
                    ],
                )
                record_events(drafts)
            result.changed += len(changed)
    return result
