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
import functools
import operator
import re
from collections import Counter, defaultdict, namedtuple
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Count
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.bulk import bulk_set, cycle_collection_paused
from gatehouse.core.models import json_safe
from gatehouse.core.permissions import require
from gatehouse.directory.models import Person
from gatehouse.endpoints.models import SOURCE_KINDS, Device, Platform, SourceKind, SourceRecord

ACTIVE_DAYS = 30
BATCH = 2000
# Derived by reconciliation or the checks, not audited per device (the runs are audited with their counts).
DERIVED = {"last_seen_at", "is_active", "passing", "failing_checks", "checked_at"}
RECONCILED_FIELDS = ["hostname", "platform", "os_version", "model", "disk_encrypted", "owner", "owner_match"]
WRITTEN = [*RECONCILED_FIELDS, "last_seen_at", "is_active", "last_updated"]  # what a reconciled device writes

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


_FLOOR = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def _recency(record) -> tuple:
    return (record.last_seen_at or _FLOOR, record.imported_at or _FLOOR)


def _newest_first(records: list[SourceRecord]) -> list[SourceRecord]:
    if len(records) < 2:
        return list(records)
    return sorted(records, key=_recency, reverse=True)


def _first(records: list[SourceRecord], attr: str, empty=("", None)):
    for record in records:
        value = getattr(record, attr)
        if value not in empty:
            return value
    return None


def derive_fields(records: list[SourceRecord], now: datetime.datetime) -> dict:
    """The device fields (except the owner) that its records say, newest record first."""
    return _derive(_newest_first(records), now)


def _derive(ordered: list[SourceRecord], now: datetime.datetime) -> dict:
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
    return _match(_newest_first(records), people, hostname, hostname_unique)


def _match(
    newest_first: list[SourceRecord], people: _People, hostname: str, hostname_unique: bool
) -> tuple[int | None, str]:
    # MDM records first, each group newest first.
    ordered = [r for r in newest_first if SOURCE_KINDS.get(r.source) == SourceKind.MDM]
    ordered += [r for r in newest_first if SOURCE_KINDS.get(r.source) != SourceKind.MDM]
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


# ---------------------------------------------------------------------------------------------------------------
# Devices and records as reconciliation and the checks read them: plain rows, several times cheaper to load than
# model instances at 100,000 devices.

_PLATFORM_LABELS = dict(Platform.choices)
_DEVICE_LABEL = Device.audit_label()
# Every concrete field but the timestamps and what the checks write anew each run, by attname; `host` is added by
# the query.
_NOT_READ = ("created", "last_updated", "failing_checks", "checked_at")
DEVICE_COLUMNS = tuple(f.attname for f in Device._meta.concrete_fields if f.name not in _NOT_READ)
# (key, attname) of Device.audit_snapshot, in its order.
_SNAPSHOT = [
    (f.attname if f.is_relation else f.name, f.attname)
    for f in Device._meta.concrete_fields
    if f.name not in Device.audit_exclude and not f.primary_key
]


class DeviceRow:
    """A device's fields by attname (`owner_id`), plus `host`: its stored hostname lower-cased by the database."""

    # last_updated: set when reconciliation changes the device; failing_checks and checked_at: set by the checks.
    __slots__ = (*DEVICE_COLUMNS, "host", "last_updated", "failing_checks", "checked_at")

    def __init__(self, values: Sequence):
        for name, value in zip(self.__slots__, values, strict=False):
            setattr(self, name, value)

    @classmethod
    def fresh(cls, pk: int, serial: str, hostname: str, platform: str, os_version: str) -> DeviceRow:
        """A device not yet stored: the model's defaults but for these, `host` as the database would give it."""
        device = cls(_FRESH)
        hostname = hostname or ""  # a record the database will refuse says None: fail there, not here
        device.id, device.serial, device.hostname = pk, serial, hostname
        device.platform, device.os_version, device.host = platform, os_version, hostname.lower()
        return device

    def inserted(self, stamp: datetime.datetime) -> tuple:
        """The row inserting this device writes, in DEVICE_INSERTED's order (created and updated at `stamp`)."""
        return (*_INSERTED_FROM_ROW(self), stamp, stamp)

    @property
    def pk(self) -> int:
        return self.id

    def __str__(self) -> str:
        return self.hostname or self.serial

    def get_platform_display(self) -> str:
        return _PLATFORM_LABELS.get(self.platform, self.platform)


# What reconciliation and the checks read of a record: its keys, then SourceRecord's fields in their order but
# for the serial, external id, hash and raw content.
RECORD_COLUMNS = (
    "pk",
    "device_id",
    "source",
    *(
        f.attname
        for f in SourceRecord._meta.concrete_fields
        if f.name not in ("id", "device", "source", "external_id", "serial", "content_hash", "raw")
    ),
)


# A source record without its raw content, read-only.
RecordRow = namedtuple("RecordRow", RECORD_COLUMNS)
_FEED_FIELDS = operator.attrgetter(
    *RECORD_COLUMNS[3:-1]
)  # hostname .. last_seen_at, as a FeedRecord names them


def record_row(record, device_id: int, source: str, imported_at: datetime.datetime) -> RecordRow:
    """The RecordRow of a feed record being imported (no primary key yet), as load_batch would read it back."""
    return RecordRow(None, device_id, source, *_FEED_FIELDS(record), imported_at)


@dataclass
class Batch:
    devices: list[DeviceRow]  # in Device's ordering (hostname, serial)
    records: dict[int, list[RecordRow]]  # by device id, each list in SourceRecord's ordering (source)
    # Devices reconciliation changed but left for the checks to write with theirs (each device written once).
    deferred: list[DeviceRow] = field(default_factory=list)
    # Devices created by the running import: no check results yet, so the checks insert theirs (no upsert).
    new: set[int] = field(default_factory=set)
    # False for devices not yet in the database (new_batches): the checks insert them, whole.
    stored: bool = True


_UNKNOWN = object()


def _converter(model_field, connection):
    """A plain function doing what Django's converters do to a column of this field read from this backend
    (None: nothing to do; _UNKNOWN: a type not handled here)."""
    if model_field is None:  # a text annotation
        return None
    kind = model_field.get_internal_type()
    sqlite = connection.vendor == "sqlite"
    if kind in ("CharField", "TextField", "AutoField", "BigAutoField", "ForeignKey", "IntegerField"):
        return None
    if kind == "BooleanField":
        return (lambda v: bool(v) if v in (1, 0) else v) if sqlite else None
    if kind == "DateTimeField":
        if not sqlite:
            return None
        if not settings.USE_TZ:
            return _UNKNOWN
        zone = connection.timezone
        from_iso = datetime.datetime.fromisoformat

        def to_datetime(value):
            if value is None:
                return None
            if not isinstance(value, datetime.datetime):
                try:
                    value = from_iso(value)  # in C; Django's parse_datetime is a regular expression
                except ValueError:
                    value = parse_datetime(value)
            return value if value.utcoffset() is not None else value.replace(tzinfo=zone)

        return to_datetime
    if kind == "JSONField":
        return functools.partial(model_field.from_db_value, expression=None, connection=connection)
    return _UNKNOWN


def _fetch(qs, names: Sequence[str], fields: Sequence) -> list:
    """`qs.values_list(*names)` as lists, the columns (of `fields`: model fields, None for a text annotation)
    converted with one plain function each instead of Django's per-value converter chain."""
    qs = qs.values_list(*names)
    connection = connections[qs.db]
    converters = [(i, _converter(f, connection)) for i, f in enumerate(fields)]
    if any(c is _UNKNOWN for _, c in converters):
        return [list(row) for row in qs]
    converters = [(i, c) for i, c in converters if c is not None]
    sql, params = qs.query.get_compiler(qs.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    out = []
    for row in rows:
        row = list(row)
        for i, convert in converters:
            row[i] = convert(row[i])
        out.append(row)
    return out


def _id_in(model, name: str, ids: list[int]) -> str:
    """`column IN (1, 2, ...)` with the ids written out: what filter(name__in=ids) selects, without Django
    preparing 2,000 parameters one by one for each query."""
    qn = connections[router.db_for_read(model)].ops.quote_name
    column = f"{qn(model._meta.db_table)}.{qn(model._meta.get_field(name).column)}"
    return f"{column} IN ({', '.join(str(int(pk)) for pk in ids)})" if ids else "1 = 0"


def load_batch(ids: list[int]) -> Batch:
    """The devices of `ids` and their records (two queries)."""
    names = list(DEVICE_COLUMNS)
    devices = [
        DeviceRow(values)
        for values in _fetch(
            Device.objects.extra(where=[_id_in(Device, "id", ids)]).annotate(host=Lower("hostname")),
            [*names, "host"],
            [*(Device._meta.get_field(n) for n in names), None],
        )
    ]
    qs = SourceRecord.objects.extra(where=[_id_in(SourceRecord, "device", ids)])
    fields = [SourceRecord._meta.pk if n == "pk" else SourceRecord._meta.get_field(n) for n in RECORD_COLUMNS]
    records: dict[int, list[RecordRow]] = defaultdict(list)
    make = RecordRow._make
    for values in _fetch(qs, RECORD_COLUMNS, fields):
        records[values[1]].append(make(values))
    return Batch(devices, records)


def load_batches(device_ids: Iterable[int] | None) -> Iterator[Batch]:
    for ids in _chunks(device_ids):
        yield load_batch(ids)


_DEVICE_DEFAULTS = {f.attname: f.get_default() for f in Device._meta.concrete_fields}
_FRESH = tuple(_DEVICE_DEFAULTS[name] for name in DEVICE_COLUMNS)  # DeviceRow.fresh's starting values
# What inserting a new device writes (DeviceRow.inserted): every field, the two timestamps last.
_STAMPS = ("created", "last_updated")
DEVICE_INSERTED = [
    *(f.attname for f in Device._meta.concrete_fields if f.name not in _STAMPS),
    *_STAMPS,
]
_INSERTED_FROM_ROW = operator.attrgetter(*DEVICE_INSERTED[: -len(_STAMPS)])


def new_batches(
    firsts: dict[str, object], ids: dict[str, int], records: dict[int, list[RecordRow]]
) -> Iterator[Batch]:
    """Batches of devices an import is creating, built from what it read rather than from the database: each at
    the model's defaults but for the serial, the id reserved for it, and the hostname, platform and OS version of
    `firsts` (its first feed record), with its records (`records`, by device id) as load_batch gives them."""
    serials = list(firsts)
    for start in range(0, len(serials), BATCH):
        devices, by_device = [], {}
        for serial in serials[start : start + BATCH]:
            first, pk = firsts[serial], ids[serial]
            device = DeviceRow.fresh(pk, serial, first.hostname, first.platform, first.os_version)
            devices.append(device)
            by_device[pk] = sorted(records[pk], key=_SOURCE)  # SourceRecord's ordering, as load_batch's
        yield Batch(devices, by_device, stored=False)


_SOURCE = operator.attrgetter("source")


class _Hostnames:
    """How many devices have each hostname, lower-cased by the database (as a query over every device would count
    them), kept current as reconciliation rewrites hostnames: one query per run instead of one per batch."""

    def __init__(self):
        self.counts: Counter = Counter()
        rows = (
            Device.objects.order_by().annotate(host=Lower("hostname")).values("host").annotate(n=Count("pk"))
        )
        for row in rows:
            self.counts[row["host"]] += row["n"]

    def renamed(self, devices: list[DeviceRow], *, stored: bool = True) -> None:
        """After `devices` were written with new hostnames: count them under their new ones. Devices an import
        has just inserted (`stored` False) are lower-cased here, as Reconciliation.expect_new counted them,
        rather than read back (which would wait for an import's write-behind)."""
        if stored:
            hosts = dict(
                Device.objects.filter(pk__in=[d.pk for d in devices])
                .annotate(host=Lower("hostname"))
                .values_list("pk", "host")
            )
        else:
            hosts = {d.pk: d.hostname.lower() for d in devices}
        for device in devices:
            self.counts[device.host] -= 1
            device.host = hosts.get(device.pk, device.host)
            self.counts[device.host] += 1


class Reconciliation:
    """One reconciliation run (see `reconcile_devices`), batch by batch."""

    def __init__(
        self,
        *,
        actor,
        now: datetime.datetime | None = None,
        defer_writes: bool = False,
        created: Collection[int] = (),
    ):
        """`defer_writes`: leave the changed devices' fields for the consumer of `batches` to write (the checks
        do, with their own fields: one UPDATE per batch instead of two); their audit events are written here.
        `created`: devices the caller has just inserted (unaudited, but for the fields their first record
        gives): each gets its creation event here, with every field it ends up with, instead of a creation
        event and then a change event."""
        require(actor, "endpoints.change_device")
        self.now = now or timezone.now()
        self.defer_writes = defer_writes
        self.created = created
        self._unstored_hosts: Counter = Counter()  # hostnames of devices the import has yet to insert
        self.result = ReconcileResult()
        self._people: _People | None = None
        self._hostnames: _Hostnames | None = None

    def expect_new(self, firsts: dict[str, object]) -> None:
        """Count the hostnames of devices an import will insert (new_batches) as if stored already, so that a
        hostname is unique only when no device at all, stored or coming, shares it."""
        hosts = Counter((first.hostname or "").lower() for first in firsts.values())
        self._unstored_hosts.update(hosts)
        if self._hostnames is not None:  # already read (preload): count them in now
            self._hostnames.counts.update(hosts)

    def batches(self, device_ids: Iterable[int] | None) -> Iterator[Batch]:
        """Reconcile the devices batch by batch, yielding each batch (reconciled, and written unless deferred) for
        the checks."""
        return self.reconciled(load_batches(device_ids))

    def reconciled(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """Reconcile each batch (load_batch's, or new_batches', which the consumer must insert), yielding it."""
        for batch in batches:
            if not batch.stored and not self.defer_writes:
                raise ValueError("devices not yet stored are written by the consumer: use defer_writes")
            if self._unstored_hosts and self._hostnames is None:
                self._host_counts()  # now, while none of the coming devices is stored yet
            if self.created:
                batch.new = {d.pk for d in batch.devices if d.pk in self.created}
            renamed = self.reconcile(batch)
            yield batch
            if renamed and self._hostnames is not None:  # now written: count them under their new hostnames
                self._hostnames.renamed(renamed, stored=batch.stored)

    def preload(self) -> None:
        """Read the people and the hostname counts now rather than at the first batch (an import does, before
        its writes begin)."""
        self._host_counts()
        if self._people is None:
            self._people = _People()

    def _host_counts(self) -> Counter:
        if self._hostnames is None:
            self._hostnames = _Hostnames()
            self._hostnames.counts.update(self._unstored_hosts)
        return self._hostnames.counts

    def reconcile(self, batch: Batch) -> list[DeviceRow]:
        """Reconcile one batch (in place); returns the devices whose hostname changed."""
        now, result = self.now, self.result
        devices, records = batch.devices, batch.records
        newest = {d.pk: _newest_first(records[d.pk]) for d in devices if records.get(d.pk)}
        derived = {pk: _derive(ordered, now) for pk, ordered in newest.items()}
        # Hostname counts among all devices, with this batch's new hostnames in place of its stored ones.
        counts = Counter(v["hostname"].lower() for v in derived.values() if v["hostname"])
        if counts:
            everyone = self._host_counts()
            batch_hosts = Counter(d.host for d in devices if d.pk in derived)
            for host in counts:
                counts[host] += everyone[host] - batch_hosts[host]
        if self._people is None:
            self._people = _People()
        people = self._people
        changed: list[DeviceRow] = []
        renamed: list[DeviceRow] = []
        drafts: list[EventDraft] = []
        for device in devices:
            values = derived.get(device.pk)
            if values is None:
                continue  # no records: nothing says anything about it
            result.devices += 1
            host = values["hostname"]
            owner_id, how = _match(newest[device.pk], people, host, counts[host.lower()] == 1)
            values.update(owner_id=owner_id, owner_match=how)
            result.owners[how or "none"] += 1
            old = {
                name: getattr(device, name)
                for name, value in values.items()
                if getattr(device, name) != value
            }
            if device.pk in self.created:
                for name in old:
                    setattr(device, name, values[name])
                drafts.append(_creation(device))
                if old:
                    if "hostname" in old:
                        renamed.append(device)
                    device.last_updated = now
                    changed.append(device)
                continue
            if not old:
                continue
            if "hostname" in old:
                renamed.append(device)
            for name in old:
                setattr(device, name, values[name])
            # What diff(audit_snapshot() before, after) less DERIVED gives, from the changed fields alone.
            changes = {}
            for key, attname in _SNAPSHOT:
                if attname in old and key not in DERIVED:
                    was, now_ = json_safe(old[attname]), json_safe(values[attname])
                    if was != now_:
                        changes[key] = [was, now_]
            device.last_updated = now
            changed.append(device)
            if changes:
                drafts.append(
                    EventDraft(
                        action=AuditAction.UPDATE,
                        object_type=_DEVICE_LABEL,
                        object_id=str(device.pk),
                        object_repr=str(device)[:200],
                        changes=changes,
                    )
                )
        if changed:
            with transaction.atomic(
                savepoint=False
            ):  # no savepoint: it would wait for an import's write-behind
                if self.defer_writes:
                    batch.deferred = changed
                else:
                    bulk_set(Device, changed, WRITTEN)
                record_events(drafts)
            result.changed += len(changed)
        return renamed


_KEPT_BLANK = {"serial", "hostname", "platform", "os_version"}  # shown in a creation event even when blank
_CREATION = [(key, attname) for key, attname in _SNAPSHOT if key not in DERIVED]
_JSON_NATIVE = {str, int, bool, type(None)}  # json_safe returns these as they are


def _creation(device: DeviceRow) -> EventDraft:
    """A new device's creation event: its audited fields once reconciled (blanks left out but for the four its
    first record gives), as `audit_snapshot` spells them."""
    changes = {}
    for key, attname in _CREATION:
        value = getattr(device, attname)
        if key in _KEPT_BLANK or (value is not None and value != ""):
            changes[key] = [None, value if type(value) in _JSON_NATIVE else json_safe(value)]
    return EventDraft(
        action=AuditAction.CREATE,
        object_type=_DEVICE_LABEL,
        object_id=str(device.pk),
        object_repr=str(device)[:200],
        changes=changes,
    )


@cycle_collection_paused()
def reconcile_devices(
    device_ids: Iterable[int] | None = None, *, actor, now: datetime.datetime | None = None
) -> ReconcileResult:
    """Derive the fields and owner of the given devices (all when None) from their records; audited."""
    run = Reconciliation(actor=actor, now=now)
    for _ in run.batches(device_ids):
        pass
    return run.result
