"""The current-access import: who holds which entitlement of one system, from a CSV listing, all or nothing.

read_grants_file (parse) → plan_grants_import (check every row against the system, the directory and the
grants already on record) → apply_grants_plan (bulk insert, one audit event per grant). Any problem rejects the
whole file, each one named by line and column, so the listing can be fixed in one go. A grant already live is
left alone, so importing the same file again writes nothing. Grants not in the file are left alone too: a
listing may be partial. docs/access.md describes the format.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from gatehouse.access.models import Entitlement, Grant, GrantSource
from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.catalog.models import System
from gatehouse.core.models import json_safe
from gatehouse.directory.models import Person, PersonStatus

COLUMNS = ("email", "entitlement", "granted_at")
Progress = Callable[..., Iterator[Any]]


def _no_progress(iterable: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
    return iter(iterable)


@dataclass(frozen=True)
class Problem:
    where: str  # "grants.csv:7" or the file alone
    column: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.where}: {self.column}: {self.message}" if self.column else f"{self.where}: {self.message}"
        )


class GrantsImportError(Exception):
    """The file was rejected; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class GrantRow:
    line: int
    email: str
    entitlement: str
    granted_at: str


@dataclass
class PlannedGrant:
    line: int
    person: Person
    entitlement: Entitlement
    started_at: datetime.datetime


@dataclass
class GrantsPlan:
    system: System
    new: list[PlannedGrant]
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class GrantsImportResult:
    created: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)


def parse_granted_at(text: str) -> datetime.datetime:
    """An ISO date (midnight UTC) or date and time (UTC when it names no offset). Raises ValueError."""
    text = text.strip()
    if not text:
        raise ValueError("empty; give an ISO date (YYYY-MM-DD) or date and time")
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text)
            value = datetime.datetime.combine(day, datetime.time.min) if day is not None else None
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a real date") from None
    if value is None:
        raise ValueError(f"{text[:40]!r} is not an ISO date (YYYY-MM-DD) or date and time")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    if value > timezone.now() + datetime.timedelta(minutes=5):
        raise ValueError(f"{text[:40]!r} is in the future")
    if value.year < 1970:
        raise ValueError(f"{text[:40]!r} is before 1970")
    return value


def read_grants_file(path: Path | str) -> list[GrantRow]:
    """The rows of a CSV listing with the columns email, entitlement, granted_at (any order, any case)."""
    path = Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GrantsImportError([Problem(name, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GrantsImportError([Problem(name, "", f"not UTF-8 text (byte {exc.start})")]) from None
    if "\x00" in text:
        raise GrantsImportError([Problem(name, "", "the file holds NUL bytes; is it a CSV file?")])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise GrantsImportError([Problem(f"{name}:1", "", f"not valid CSV: {exc}")]) from None
    if not header:
        raise GrantsImportError(
            [Problem(name, "", "the file is empty; expected a header: email,entitlement,granted_at")]
        )
    columns = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise GrantsImportError(
            [
                Problem(f"{name}:1", c, "missing column (expected email,entitlement,granted_at)")
                for c in missing
            ]
        )
    index = {c: columns.index(c) for c in COLUMNS}
    rows, problems = [], []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                problems.append(
                    Problem(f"{name}:{line}", "", f"{len(cells)} cells, the header has {len(header)}")
                )
                continue
            rows.append(GrantRow(line, *(cells[index[c]].strip() for c in COLUMNS)))
    except csv.Error as exc:
        problems.append(Problem(f"{name}:{reader.line_num}", "", f"not valid CSV: {exc}"))
    if problems:
        raise GrantsImportError(problems)
    return rows


def plan_grants_import(system: System, rows: list[GrantRow], name: str) -> GrantsPlan:
    """Check every row; raise GrantsImportError listing every problem, or return what to write."""
    entitlements = list(Entitlement.objects.filter(system=system))
    by_slug = {e.slug.lower(): e for e in entitlements}
    by_name = {e.name.strip().lower(): e for e in entitlements}
    emails = {r.email.lower() for r in rows if r.email}
    people = {p.email: p for p in Person.objects.filter(email__in=emails)} if emails else {}
    live = set(
        Grant.objects.filter(entitlement__system=system, ended_at__isnull=True).values_list(
            "person_id", "entitlement_id"
        )
    )
    problems: list[Problem] = []
    plan = GrantsPlan(system=system, new=[])
    seen: dict[tuple[int, int], int] = {}
    leavers: set[str] = set()
    for row in rows:
        where = f"{name}:{row.line}"
        email = row.email.lower()
        person = people.get(email)
        if not email:
            problems.append(Problem(where, "email", "empty"))
        elif person is None:
            problems.append(Problem(where, "email", f"no person with the email {row.email[:254]!r}"))
        key = row.entitlement.strip().lower()
        entitlement = by_slug.get(key) or by_name.get(key)
        if not key:
            problems.append(Problem(where, "entitlement", "empty"))
        elif entitlement is None:
            problems.append(
                Problem(where, "entitlement", f"{system.slug} has no entitlement {row.entitlement[:200]!r}")
            )
        try:
            started_at = parse_granted_at(row.granted_at)
        except ValueError as exc:
            problems.append(Problem(where, "granted_at", str(exc)))
            started_at = None
        if person is None or entitlement is None or started_at is None:
            continue
        pair = (person.pk, entitlement.pk)
        if pair in seen:
            problems.append(
                Problem(
                    where, "entitlement", f"{email} holds {entitlement.slug} already on line {seen[pair]}"
                )
            )
            continue
        seen[pair] = row.line
        if pair in live:
            plan.unchanged += 1
            continue
        if person.status == PersonStatus.TERMINATED:
            leavers.add(email)
        plan.new.append(PlannedGrant(row.line, person, entitlement, started_at))
    if problems:
        raise GrantsImportError(problems)
    plan.warnings = [f"{email} has left but still holds access in {system.slug}" for email in sorted(leavers)]
    return plan


def apply_grants_plan(plan: GrantsPlan, *, progress: Progress = _no_progress) -> int:
    """Insert the new grants in bulk (source import) with one audit event each. Returns how many."""
    batch: list[Grant] = []
    for planned in progress(plan.new, total=len(plan.new), desc="importing grants"):
        batch.append(
            Grant(
                person=planned.person,
                entitlement=planned.entitlement,
                source=GrantSource.IMPORT,
                started_at=planned.started_at,
            )
        )
    created = Grant.objects.bulk_create(batch, batch_size=500)
    if created and created[0].pk is None:  # a backend that does not return ids: read them back
        pairs = {(g.person_id, g.entitlement_id) for g in batch}
        created = [
            g
            for g in Grant.objects.filter(entitlement__system=plan.system, ended_at__isnull=True)
            if (g.person_id, g.entitlement_id) in pairs
        ]
    record_events(
        [
            EventDraft(
                action=AuditAction.CREATE,
                object_type=Grant.audit_label(),
                object_id=str(grant.pk),
                object_repr=str(grant)[:200],
                changes={
                    k: [None, json_safe(v)]
                    for k, v in grant.audit_snapshot().items()
                    if v not in (None, "", [], {})
                },
            )
            for grant in created
        ]
    )
    return len(created)


def import_grants(
    system: System | str, path: Path | str, *, progress: Progress = _no_progress
) -> GrantsImportResult:
    """Import a system's current access in one transaction. Raises GrantsImportError, having written nothing,
    when the system is unknown or any row is bad."""
    name = Path(path).name
    if isinstance(system, str):
        found = (
            System.objects.filter(slug=system).first() or System.objects.filter(name__iexact=system).first()
        )
        if found is None:
            raise GrantsImportError(
                [Problem(name, "SYSTEM", f"no system with the slug or name {system[:100]!r}")]
            )
        system = found
    rows = read_grants_file(path)
    with transaction.atomic():
        plan = plan_grants_import(system, rows, name)
        created = apply_grants_plan(plan, progress=progress)
    return GrantsImportResult(created=created, unchanged=plan.unchanged, warnings=plan.warnings)
