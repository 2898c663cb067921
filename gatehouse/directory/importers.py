"""The HRIS people import: a CSV or JSON export in, people upserted by email, all or nothing.

read_people_file (parse) → plan_people_import (check every row against the file and the directory) →
apply_plan (write through the directory services). Any problem rejects the whole file, each one named by
place (CSV line or JSON record) and column, so the export can be fixed in one go. docs/people-import.md
describes the format.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import functools
import io
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.models import EmploymentType, Person
from gatehouse.directory.services import upsert_person

# Field → the column names accepted for it, compared by normalize_column (case, spaces, "_" and "-" ignored),
# so "workEmail", "work_email" and "Work Email" are one alias.
COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email", "workEmail", "emailAddress"),
    "name": ("name", "displayName", "fullName"),
    "first_name": ("first_name", "firstName", "givenName"),
    "last_name": ("last_name", "lastName", "surname", "familyName"),
    "manager_email": ("manager_email", "supervisorEmail"),
    "department": ("department",),
    "division": ("division",),
    "title": ("title", "jobTitle"),
    "employment_type": ("employment_type", "employeeType", "employmentHistoryStatus"),
    "location": ("location",),
    "time_zone": ("time_zone", "tz"),
    "start_date": ("start_date", "hireDate"),
    "end_date": ("end_date", "terminationDate"),
    "handle": ("handle",),
    "hris_id": ("hris_id", "employeeNumber", "employeeId"),
    "idp_id": ("idp_id",),
}
# Columns HRIS exports commonly carry that look useful but are deliberately not read.
IGNORED_COLUMNS = {
    "status": "ignored: status comes from end_date",
    "supervisor": "ignored: managers are matched by email; use manager_email (or supervisorEmail)",
}
TEXT_FIELDS = ("department", "division", "title", "location", "handle", "hris_id", "idp_id")

# Spellings HRIS systems use for the kind of contract. Interns are on the payroll, so they are employees.
EMPLOYMENT_TYPES = {
    **dict.fromkeys(
        ("employee", "fulltime", "parttime", "permanent", "regular", "intern", "internship"),
        EmploymentType.EMPLOYEE.value,
    ),
    **dict.fromkeys(
        ("contractor", "contract", "consultant", "freelance", "freelancer", "independentcontractor"),
        EmploymentType.CONTRACTOR.value,
    ),
    **dict.fromkeys(("temporary", "temp", "temporaryserviceprovider", "tsp"), EmploymentType.TEMPORARY.value),
}
# BambooHR's employment status says "Terminated" for leavers: no contract kind, and the end date says the rest.
NO_EMPLOYMENT_TYPE = {"", "terminated"}
NO_DATE = {"", "0000-00-00"}  # BambooHR writes 0000-00-00 for "no date"
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


class BadValue(ValueError):
    """A value that cannot be read as its column's type; the message says why."""


@dataclass(frozen=True)
class Problem:
    where: str  # "people.csv:7", "people.json: record 7", or the file alone
    column: str
    message: str
    order: int = field(default=0, compare=False)  # line or record number, to list problems in file order

    def __str__(self) -> str:
        return (
            f"{self.where}: {self.column}: {self.message}" if self.column else f"{self.where}: {self.message}"
        )


class PeopleImportError(Exception):
    """The file was rejected; nothing was written."""

    def __init__(self, problems: list[Problem], warnings: list[str] | None = None):
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Record:
    """One person as read from the file: raw values of the known columns present, by field."""

    where: str  # prefix of messages about it
    ref: str  # how another message points at it: "line 7" or "record 7"
    order: int  # line or record number
    cells: dict[str, Any]
    labels: dict[str, str]  # field → the column name as the file spells it

    def problem(self, name: str, message: str) -> Problem:
        """A problem with this record's `name` field, named by the column as the file spells it."""
        return Problem(self.where, self.labels.get(name, name), message, self.order)


@dataclass
class PeopleFile:
    records: list[Record]
    warnings: list[str]  # about columns that are ignored
    problems: list[Problem]  # with single records (not objects, cell counts), reported with the rest


@dataclass
class PersonRow:
    """A record that passed its own checks."""

    record: Record
    email: str
    fields: dict[str, Any]  # Person fields to set, manager aside
    manager_email: str | None  # None: the file says nothing about the manager; "": no manager


@dataclass
class PeoplePlan:
    rows: list[PersonRow]  # managers before their reports, so each manager exists when referenced
    people: dict[str, Person]  # the directory by email, filled in as the plan is applied


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False


Progress = Callable[..., Iterator[Any]]


def _no_progress(iterable: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
    return iter(iterable)


# ---------------------------------------------------------------------------------------------------------
# Values


def normalize_column(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name).lower()


_FIELD_BY_COLUMN = {normalize_column(alias): name for name, aliases in COLUMNS.items() for alias in aliases}


def parse_date(text: str) -> datetime.date | None:
    """An ISO date (YYYY-MM-DD); empty or 0000-00-00 is no date. Anything else raises BadValue."""
    text = text.strip()
    if text in NO_DATE:
        return None
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        raise BadValue(f"{text[:40]!r} is not a date (expected YYYY-MM-DD)")
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise BadValue(f"{text!r} is not a real date") from None


def parse_employment_type(text: str) -> str | None:
    """One of EmploymentType, or None when the value says nothing about the contract."""
    key = normalize_column(text)
    if key in NO_EMPLOYMENT_TYPE:
        return None
    try:
        return EMPLOYMENT_TYPES[key]
    except KeyError:
        raise BadValue(
            f"unknown employment type {text[:40]!r} (expected employee, contractor or temporary)"
        ) from None


@functools.cache
def _time_zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def parse_time_zone(text: str) -> str:
    """An IANA time zone name, spelled as the database spells it; empty means none."""
    text = text.strip()
    if not text:
        return ""
    zones = _time_zones()
    if not zones:
        raise BadValue("no time zone database on this server (install the tzdata package)")
    try:
        return zones[text.lower()]
    except KeyError:
        raise BadValue(
            f"unknown time zone {text[:40]!r} (expected an IANA name such as Europe/London)"
        ) from None


def parse_email(text: str) -> str:
    email = text.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise BadValue(f"invalid email {text[:80]!r}") from None
    return email


def _text(value: Any) -> str:
    """A cell as text: JSON numbers are accepted (employee numbers often are), lists and objects are not."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"expected text, got {json.dumps(value)[:40]}")
    return str(value)


def _max_length(name: str) -> int:
    return Person._meta.get_field(name).max_length


# ---------------------------------------------------------------------------------------------------------
# Parse


def read_people_file(path: Path | str) -> PeopleFile:
    """The records of a .csv or .json export; PeopleImportError if the file as a whole cannot be read."""
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise PeopleImportError([Problem(name, "", "unknown file type (expected a .csv or .json file)")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PeopleImportError([Problem(name, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    text = _decode(raw, name)
    if not text.strip():
        raise PeopleImportError([Problem(name, "", "the file is empty")])
    people_file = _read_csv(text, name) if suffix == ".csv" else _read_json(text, name)
    if not people_file.records and not people_file.problems:
        raise PeopleImportError([Problem(name, "", "the file holds no people")], people_file.warnings)
    return people_file


def _decode(raw: bytes, name: str) -> str:
    encoding = "utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PeopleImportError(
            [
                Problem(
                    f"{name}:{line}",
                    "",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the export as UTF-8",
                )
            ]
        ) from None


def _resolve_columns(
    headers: list[str], where: str
) -> tuple[dict[int, str], dict[str, str], list[str], list[Problem]]:
    """Map column positions to fields. Returns (position → field, field → label, warnings, problems)."""
    fields: dict[int, str] = {}
    labels: dict[str, str] = {}
    warnings: list[str] = []
    problems: list[Problem] = []
    unknown: list[str] = []
    for position, header in enumerate(headers):
        label = header.strip()
        if not label:
            warnings.append(f"{where}: column {position + 1} has no name and is ignored")
            continue
        key = normalize_column(label)
        name = _FIELD_BY_COLUMN.get(key)
        if name is None:
            if key in IGNORED_COLUMNS:
                warnings.append(f"{where}: {label}: {IGNORED_COLUMNS[key]}")
            else:
                unknown.append(label)
        elif name in labels:
            problems.append(Problem(where, label, f"means the same as column {labels[name]!r} ({name})"))
        else:
            fields[position] = name
            labels[name] = label
    if unknown:
        warnings.insert(0, f"{where}: unknown columns, ignored: {', '.join(unknown)}")
    if "email" not in labels:
        aliases = ", ".join(COLUMNS["email"])
        problems.append(Problem(where, "", f"no email column (expected one of: {aliases})"))
    if not {"name", "first_name", "last_name"} & labels.keys():
        problems.append(Problem(where, "", "no name column (expected name, or first_name and last_name)"))
    return fields, labels, warnings, problems


def _read_csv(text: str, name: str) -> PeopleFile:
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in some locales save with ";" (or tab); the header line tells which.
    delimiter = next((d for d in (",", ";", "\t") if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[Record] = []
    warnings: list[str] = []
    problems: list[Problem] = []
    header: list[str] | None = None
    fields: dict[int, str] = {}
    labels: dict[str, str] = {}
    previous_end = 0
    try:
        for row in reader:
            # A quoted cell may span lines: a record starts on the line after the previous one ended.
            line, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = row
                fields, labels, warnings, header_problems = _resolve_columns(row, f"{name}:{line}")
                if header_problems:
                    raise PeopleImportError(header_problems, warnings)
                continue
            if len(row) > len(header):
                message = f"has {len(row)} cells but the header has {len(header)}"
                problems.append(Problem(f"{name}:{line}", "", message, line))
                continue
            # Missing trailing cells are empty: some tools drop them.
            cells = {
                name_: row[position] if position < len(row) else "" for position, name_ in fields.items()
            }
            records.append(Record(f"{name}:{line}", f"line {line}", line, cells, labels))
    except csv.Error as exc:
        problems.append(Problem(f"{name}:{reader.line_num}", "", f"unreadable CSV: {exc}", reader.line_num))
    return PeopleFile(records, warnings, problems)


def _read_json(text: str, name: str) -> PeopleFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PeopleImportError(
            [Problem(f"{name}:{exc.lineno}:{exc.colno}", "", f"invalid JSON: {exc.msg}")]
        ) from None
    except RecursionError:
        raise PeopleImportError([Problem(name, "", "invalid JSON: nested too deeply")]) from None
    items = data.get("employees") if isinstance(data, dict) else data
    if not isinstance(items, list):
        shape = 'expected a list of people, or an object with an "employees" list'
        raise PeopleImportError([Problem(name, "", shape)])
    problems = [
        Problem(f"{name}: record {index}", "", "expected an object", index)
        for index, item in enumerate(items, 1)
        if not isinstance(item, dict)
    ]
    keys = list(dict.fromkeys(key for item in items if isinstance(item, dict) for key in item))
    if not keys:
        return PeopleFile([], [], problems)
    fields, labels, warnings, key_problems = _resolve_columns(keys, name)
    if key_problems:
        raise PeopleImportError(key_problems, warnings)
    field_by_key = {keys[position]: field_name for position, field_name in fields.items()}
    records = [
        Record(
            f"{name}: record {index}",
            f"record {index}",
            index,
            {field_by_key[key]: value for key, value in item.items() if key in field_by_key},
            labels,
        )
        for index, item in enumerate(items, 1)
        if isinstance(item, dict)
    ]
    return PeopleFile(records, warnings, problems)


# ---------------------------------------------------------------------------------------------------------
# Plan


def parse_record(record: Record) -> tuple[PersonRow, list[Problem]]:
    """Check one record on its own; cross-record rules (duplicates, managers) come in plan_people_import."""
    problems: list[Problem] = []

    def problem(name: str, message: str) -> None:
        problems.append(record.problem(name, message))

    values: dict[str, str] = {}
    for name, raw in record.cells.items():
        try:
            values[name] = _text(raw)
        except BadValue as exc:
            problem(name, str(exc))

    fields: dict[str, Any] = {}
    email = ""
    if not values.get("email"):
        if "email" in values or "email" not in record.cells:  # not when the value was already refused
            problem("email", "required")
    else:
        try:
            email = parse_email(values["email"])
        except BadValue as exc:
            problem("email", str(exc))
        else:
            if len(email) > _max_length("email"):
                problem("email", f"longer than {_max_length('email')} characters")

    full_name = values.get("name") or " ".join(
        part for part in (values.get("first_name"), values.get("last_name")) if part
    )
    name_column = "name" if "name" in record.labels else "first_name"
    if not full_name:
        problem(name_column, "required (name, or first_name and last_name)")
    fields["name"] = full_name

    for text_field in TEXT_FIELDS:
        if text_field in values:
            fields[text_field] = (
                values[text_field].lstrip("@") if text_field == "handle" else values[text_field]
            )
    for text_field in ("name", *TEXT_FIELDS):
        limit = _max_length(text_field)
        if text_field in fields and len(fields[text_field]) > limit:
            problem(name_column if text_field == "name" else text_field, f"longer than {limit} characters")

    parsers: dict[str, Callable[[str], Any]] = {
        "start_date": parse_date,
        "end_date": parse_date,
        "time_zone": parse_time_zone,
        "employment_type": parse_employment_type,
    }
    for parsed_field, parse in parsers.items():
        if parsed_field not in values:
            continue
        try:
            value = parse(values[parsed_field])
        except BadValue as exc:
            problem(parsed_field, str(exc))
            continue
        if parsed_field != "employment_type" or value is not None:  # no kind given: keep the directory's
            fields[parsed_field] = value
    start, end = fields.get("start_date"), fields.get("end_date")
    if start and end and end < start:
        problem("end_date", f"end date {end.isoformat()} is before the start date {start.isoformat()}")

    manager_email: str | None = None
    if "manager_email" in values:
        manager_email = ""
        if values["manager_email"]:
            try:
                manager_email = parse_email(values["manager_email"])
            except BadValue as exc:
                problem("manager_email", f"{exc} for the manager")
                manager_email = None

    # A row with problems still goes on to the file-wide checks, so its manager is checked too.
    return PersonRow(record, email, fields, manager_email), problems


def load_people() -> dict[str, Person]:
    """The whole directory by email, managers linked in memory, so planning and applying need no lookups."""
    people = list(Person.objects.all())
    by_pk = {person.pk: person for person in people}
    manager_field = Person._meta.get_field("manager")
    for person in people:
        if person.manager_id is not None:
            manager_field.set_cached_value(person, by_pk.get(person.manager_id))
    return {person.email.lower(): person for person in people}


def plan_people_import(people_file: PeopleFile, people: dict[str, Person]) -> PeoplePlan:
    """Check every record and the file as a whole against the directory; raise PeopleImportError listing all."""
    problems: list[Problem] = list(people_file.problems)
    rows: list[PersonRow] = []
    first_seen: dict[str, Record] = {}
    for record in people_file.records:
        row, row_problems = parse_record(record)
        problems.extend(row_problems)
        email = row.email
        if email and email in first_seen:
            problems.append(
                record.problem("email", f"duplicate email {email!r}, also at {first_seen[email].ref}")
            )
            continue
        if email:
            first_seen[email] = record
        rows.append(row)

    # The reporting lines once the file is applied: the directory's, with the file's changes on top.
    managers: dict[str, str | None] = {
        email: person.manager.email.lower() if person.manager else None for email, person in people.items()
    }
    for row in rows:
        if row.email and (row.manager_email is not None or row.email not in managers):
            managers[row.email] = row.manager_email or None
    row_by_email = {row.email: row for row in rows if row.email}
    for row in rows:
        manager = row.manager_email
        if not manager:
            continue
        if manager == row.email:
            problems.append(row.record.problem("manager_email", f"{manager!r} cannot be their own manager"))
        elif manager not in managers:
            problems.append(row.record.problem("manager_email", f"unknown manager {manager!r}"))
        else:
            continue
        if row.email:
            managers[row.email] = None  # reported already; keep it out of the cycle check
    for cycle in _cycles(managers):
        for position, email in enumerate(cycle):
            row = row_by_email.get(email)
            if row is None or not row.manager_email:
                continue  # the directory's own reporting lines are not the file's fault
            path = " → ".join([*cycle[position:], *cycle[:position], email])
            problems.append(row.record.problem("manager_email", f"reporting cycle: {path}"))
    if problems:
        raise PeopleImportError(sorted(problems, key=lambda problem: problem.order), people_file.warnings)
    depth = _depths(managers)
    rows.sort(key=lambda row: depth[row.email])
    return PeoplePlan(rows, people)


def _cycles(managers: dict[str, str | None]) -> list[list[str]]:
    """Every reporting cycle, each once, in reporting order (each person followed by their manager)."""
    done: set[str] = set()
    cycles = []
    for start in managers:
        path: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in done and node not in position:
            position[node] = len(path)
            path.append(node)
            node = managers.get(node)
        if node is not None and node in position:
            cycles.append(path[position[node] :])
        done.update(path)
    return cycles


def _depths(managers: dict[str, str | None]) -> dict[str, int]:
    """How far below the top each person sits (top is 0), so managers can be written before their reports."""
    depth: dict[str, int] = {}
    for start in managers:
        chain: list[str] = []
        seen: set[str] = set()
        node: str | None = start
        while node is not None and node not in depth and node not in seen:
            chain.append(node)
            seen.add(node)
            node = managers.get(node)
        level = depth.get(node, -1) if node is not None else -1
        for email in reversed(chain):
            level += 1
            depth[email] = level
    return depth


# ---------------------------------------------------------------------------------------------------------
# Apply


def apply_plan(plan: PeoplePlan, *, actor: Any = SYSTEM, progress: Progress = _no_progress) -> ImportResult:
    """Upsert every row through the directory services (audited; no-op updates write nothing)."""
    result = ImportResult()
    people = plan.people
    for row in progress(plan.rows, total=len(plan.rows), desc="importing people"):
        fields = dict(row.fields)
        if row.manager_email is not None:
            fields["manager"] = people[row.manager_email] if row.manager_email else None
        try:
            person, outcome = upsert_person(people.get(row.email), actor=actor, email=row.email, **fields)
        except ValidationError as exc:  # a rule only the model knows; still name the place
            raise PeopleImportError(
                [row.record.problem(name, " ".join(messages)) for name, messages in exc.message_dict.items()]
            ) from exc
        people[row.email] = person
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def import_people(
    path: Path | str, *, actor: Any = SYSTEM, dry_run: bool = False, progress: Progress = _no_progress
) -> ImportResult:
    """Import an HRIS export in one transaction. Raises PeopleImportError, having written nothing, if any row
    is bad. People not in the file are left alone: an export may be partial."""
    people_file = read_people_file(path)
    with transaction.atomic():
        plan = plan_people_import(people_file, load_people())
        result = apply_plan(plan, actor=actor, progress=progress)
        if dry_run:
            transaction.set_rollback(True)
    result.warnings = people_file.warnings
    result.dry_run = dry_run
    return result
