"""Writes to the people directory. Each is one transaction with its audit events inside."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from gatehouse.core.permissions import SYSTEM, require
from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.directory.models import Person, Team, status_from_dates

PERSON_FIELDS = {
    "email",
    "name",
    "handle",
    "manager",
    "department",
    "division",
    "title",
    "employment_type",
    "location",
    "time_zone",
    "start_date",
    "end_date",
    "status",
    "hris_id",
    "idp_id",
}
TEAM_FIELDS = {"name", "slug", "description", "chat_handle", "mention_handle", "chat_channel"}


def _check_fields(fields: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})


def _check_manager(person: Person | None, manager: Person | None) -> None:
    """A manager cannot be the person or anyone who reports to them, directly or not."""
    if manager is None or person is None or person.pk is None:
        return
    current, seen = manager, set()
    while current is not None and current.pk not in seen:
        if current.pk == person.pk:
            raise ValidationError({"manager": "This manager would make a reporting cycle."})
        seen.add(current.pk)
        current = current.manager


def create_person(*, actor, **fields: Any) -> Person:
    require(actor, "directory.add_person")
    _check_fields(fields, PERSON_FIELDS)
    if fields.get("email"):
        fields["email"] = fields["email"].strip().lower()
    if "status" not in fields:
        fields["status"] = status_from_dates(fields.get("end_date"))
    with transaction.atomic():
        person = create_object(Person, fields=fields)
        _access_lifecycle(person, None, actor=actor)  # access lifecycle: joiner (issue 4)
    return person


def update_person(person: Person, *, actor, **fields: Any) -> Person:
    person, _ = _update_person(person, actor=actor, fields=fields)
    return person


def _update_person(person: Person, *, actor, fields: dict[str, Any]) -> tuple[Person, dict[str, list[Any]]]:
    require(actor, "directory.change_person", person)
    _check_fields(fields, PERSON_FIELDS)
    if fields.get("email"):
        fields["email"] = fields["email"].strip().lower()
    if "manager" in fields:
        _check_manager(person, fields["manager"])
    if "end_date" in fields and "status" not in fields:
        fields["status"] = status_from_dates(fields["end_date"])
    with transaction.atomic():
        before = _lifecycle_before(person)  # access lifecycle: mover, leaver (issue 4)
        person, changes = update_object(person, fields=fields)
        if changes:
            _access_lifecycle(person, before, actor=actor)
    return person, changes


# --- access lifecycle (issue 4): joiners, movers and leavers; lazily imported so the directory does not depend
# on the access app at import time.
def _lifecycle_before(person: Person) -> dict[str, Any]:
    from gatehouse.access.lifecycle import watched_fields

    return watched_fields(person)


def _access_lifecycle(person: Person, before: dict[str, Any] | None, *, actor) -> None:
    from gatehouse.access.lifecycle import on_person_changed

    on_person_changed(person, before, actor=actor)


# --- end access lifecycle


UpsertOutcome = Literal["created", "updated", "unchanged"]


def upsert_person(person: Person | None, *, actor, **fields: Any) -> tuple[Person, UpsertOutcome]:
    """Create the person when `person` is None, else update them; says which happened (for import summaries)."""
    if person is None:
        return create_person(actor=actor, **fields), "created"
    person, changes = _update_person(person, actor=actor, fields=fields)
    return person, "updated" if changes else "unchanged"


def delete_person(person: Person, *, actor) -> None:
    require(actor, "directory.delete_person", person)
    delete_object(person)


def refresh_statuses(today=None) -> int:
    """Move people whose end date has come or passed to leaving or terminated. Returns how many changed."""
    changed = 0
    for person in Person.objects.exclude(end_date=None).select_related("manager"):
        status = status_from_dates(person.end_date, today)
        if status != person.status:
            with transaction.atomic():
                # access lifecycle (issue 4): a leaver when the end date passes
                before = _lifecycle_before(person)
                update_object(person, fields={"status": status}, validate=False)
                _access_lifecycle(person, before, actor=SYSTEM)
            changed += 1
    return changed


def create_team(*, actor, members: Iterable[Person] = (), **fields: Any) -> Team:
    require(actor, "directory.add_team")
    _check_fields(fields, TEAM_FIELDS)
    if not fields.get("slug") and fields.get("name"):
        fields["slug"] = slugify(fields["name"])[:100]
    return create_object(Team, fields=fields, m2m={"members": list(members)})


def update_team(team: Team, *, actor, members: Iterable[Person] | None = None, **fields: Any) -> Team:
    require(actor, "directory.change_team", team)
    _check_fields(fields, TEAM_FIELDS)
    m2m = {"members": list(members)} if members is not None else None
    with transaction.atomic():
        team, _ = update_object(team, fields=fields, m2m=m2m)
    return team


def delete_team(team: Team, *, actor) -> None:
    require(actor, "directory.delete_team", team)
    delete_object(team)
