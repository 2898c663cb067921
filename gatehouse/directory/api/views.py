"""/api/v1/people and /api/v1/teams: thin endpoints over the directory's selectors and services."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from gatehouse.core.api.errors import fields_named
from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import sent_fields
from gatehouse.core.permissions import require
from gatehouse.directory import selectors, services
from gatehouse.directory.api.schemas import (
    PersonIn,
    PersonOut,
    PersonPatch,
    TeamDetailOut,
    TeamIn,
    TeamOut,
    TeamPatch,
)
from gatehouse.directory.filtersets import PersonFilterSet, TeamFilterSet
from gatehouse.directory.models import Person

people_router = Router(tags=["people"])
teams_router = Router(tags=["teams"])

PersonQuery = query_schema(PersonFilterSet)
TeamQuery = query_schema(TeamFilterSet)
# The model's field names as the API spells them, so a service's error names the field the caller sent.
PERSON_NAMES = {"manager": "manager_email"}


def people_by_email(emails: Iterable[str], field: str) -> list[Person]:
    """The people with these emails, in the order given, or a 422 naming the field and the unknown emails."""
    emails = list(dict.fromkeys(e.strip().lower() for e in emails))
    found = {p.email: p for p in Person.objects.filter(email__in=emails)}
    missing = [e for e in emails if e not in found]
    if missing:
        raise ValidationError({field: f"No person with email {', '.join(missing)}."})
    return [found[e] for e in emails]


def _person_fields(data: dict) -> dict:
    if "manager_email" in data:
        email = data.pop("manager_email")
        data["manager"] = people_by_email([email], "manager_email")[0] if email else None
    return data


# People


@people_router.get("", response=list[PersonOut], summary="List people")
@paginate(LimitOffsetPagination)
def list_people(request: HttpRequest, filters: Query[PersonQuery]):
    """Filter with the parameters below; `q` searches name, email, handle, title and department."""
    return apply_filters(PersonFilterSet, request.GET, selectors.person_list(request.user), request)


@people_router.get("/{person_id}", response=PersonOut, summary="Read a person")
def get_person(request: HttpRequest, person_id: int):
    return selectors.get_person(request.user, person_id)


@people_router.post("", response={201: PersonOut}, summary="Create a person")
def create_person(request: HttpRequest, payload: PersonIn):
    require(request.user, "directory.add_person")
    with fields_named(PERSON_NAMES):
        person = services.create_person(actor=request.user, **_person_fields(sent_fields(payload)))
    return Status(201, selectors.get_person(request.user, person.pk))


@people_router.patch("/{person_id}", response=PersonOut, summary="Change a person")
def update_person(request: HttpRequest, person_id: int, payload: PersonPatch):
    """Send only the fields to change; `manager_email: null` removes the manager."""
    person = selectors.get_person(request.user, person_id)
    require(request.user, "directory.change_person", person)
    with fields_named(PERSON_NAMES):
        services.update_person(person, actor=request.user, **_person_fields(sent_fields(payload)))
    return selectors.get_person(request.user, person_id)


@people_router.delete("/{person_id}", response={204: None}, summary="Delete a person")
def delete_person(request: HttpRequest, person_id: int):
    person = selectors.get_person(request.user, person_id)
    services.delete_person(person, actor=request.user)
    return Status(204, None)


# Teams


@teams_router.get("", response=list[TeamOut], summary="List teams")
@paginate(LimitOffsetPagination)
def list_teams(request: HttpRequest, filters: Query[TeamQuery]):
    """`q` searches name, slug, chat and mention handles and description; `member` takes a person id."""
    return apply_filters(TeamFilterSet, request.GET, selectors.visible_teams(request.user), request)


@teams_router.get("/{slug}", response=TeamDetailOut, summary="Read a team with its members")
def get_team(request: HttpRequest, slug: str):
    return selectors.get_team(request.user, slug)


@teams_router.post("", response={201: TeamDetailOut}, summary="Create a team")
def create_team(request: HttpRequest, payload: TeamIn):
    require(request.user, "directory.add_team")
    data = sent_fields(payload)
    members = people_by_email(data.pop("members", []), "members")
    team = services.create_team(actor=request.user, members=members, **data)
    return Status(201, selectors.get_team(request.user, team.slug))


@teams_router.patch("/{slug}", response=TeamDetailOut, summary="Change a team")
def update_team(request: HttpRequest, slug: str, payload: TeamPatch):
    """Send only the fields to change; `members` replaces the whole member list."""
    team = selectors.get_team(request.user, slug)
    require(request.user, "directory.change_team", team)
    data = sent_fields(payload)
    members = people_by_email(data.pop("members"), "members") if "members" in data else None
    team = services.update_team(team, actor=request.user, members=members, **data)
    return selectors.get_team(request.user, team.slug)


@teams_router.delete("/{slug}", response={204: None}, summary="Delete a team")
def delete_team(request: HttpRequest, slug: str):
    team = selectors.get_team(request.user, slug)
    services.delete_team(team, actor=request.user)
    return Status(204, None)
