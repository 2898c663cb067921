"""/api/v1/systems: thin endpoints over the catalog's selectors and services.

A system owner (business or technical owner, or a member of the owner team) may change their own system; the
service checks that through the object rule of catalog.rules.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from gatehouse.catalog import selectors, services
from gatehouse.catalog.api.schemas import CONTACT_LISTS, SystemIn, SystemOut, SystemPatch
from gatehouse.catalog.filtersets import SystemFilterSet
from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import sent_fields
from gatehouse.core.permissions import require
from gatehouse.directory.models import Person, Team

router = Router(tags=["systems"])

SystemQuery = query_schema(SystemFilterSet)
# Choice fields the API calls null when unknown and the model stores as blank.
BLANK_CHOICES = ("data_classification", "auth_method", "audience")


def _system_fields(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list] | None]:
    """Turn natural keys into rows: the owner team by slug, contacts by email or slug (422 naming the place)."""
    for name in BLANK_CHOICES:
        if name in data and data[name] is None:
            data[name] = ""
    if "owner_team" in data and data["owner_team"] is not None:
        team = Team.objects.filter(slug=data["owner_team"]).first()
        if team is None:
            raise ValidationError({"owner_team": f"No team with slug {data['owner_team']}."})
        data["owner_team"] = team
    lists = {name: data.pop(name) for name in CONTACT_LISTS if name in data}
    return data, _resolve_contacts(lists) if lists else None


def _resolve_contacts(lists: dict[str, list[dict]]) -> dict[str, list]:
    items = [item for entries in lists.values() for item in entries]
    people = {
        p.email: p for p in Person.objects.filter(email__in={i["person"] for i in items if i.get("person")})
    }
    teams = {t.slug: t for t in Team.objects.filter(slug__in={i["team"] for i in items if i.get("team")})}
    errors: dict[str, str] = {}
    contacts: dict[str, list] = {}
    for name, entries in lists.items():
        parties = []
        for index, item in enumerate(entries):
            if item.get("person"):
                party = people.get(item["person"])
                if party is None:
                    errors[f"{name}.{index}.person"] = f"No person with email {item['person']}."
            else:
                party = teams.get(item["team"])
                if party is None:
                    errors[f"{name}.{index}.team"] = f"No team with slug {item['team']}."
            parties.append(party)
        contacts[CONTACT_LISTS[name]] = parties
    if errors:
        raise ValidationError(errors)
    return contacts


@router.get("", response=list[SystemOut], summary="List systems")
@paginate(LimitOffsetPagination)
def list_systems(request: HttpRequest, filters: Query[SystemQuery]):
    """`q` searches name, slug, label, description, vendor and owner team; `tier` filters the effective tier."""
    return apply_filters(SystemFilterSet, request.GET, selectors.system_list(request.user), request)


@router.get("/{slug}", response=SystemOut, summary="Read a system")
def get_system(request: HttpRequest, slug: str):
    return selectors.get_system(request.user, slug)


@router.post("", response={201: SystemOut}, summary="Create a system")
def create_system(request: HttpRequest, payload: SystemIn):
    require(request.user, "catalog.add_system")
    fields, contacts = _system_fields(sent_fields(payload))
    system = services.create_system(actor=request.user, contacts=contacts, **fields)
    return Status(201, selectors.get_system(request.user, system.slug))


@router.patch("/{slug}", response=SystemOut, summary="Change a system")
def update_system(request: HttpRequest, slug: str, payload: SystemPatch):
    """Send only the fields to change. A contact list replaces that role's contacts; `[]` removes them.

    Admins may change any system; a system's owners (business or technical owner, or owner team member) their own.
    """
    system = selectors.get_system(request.user, slug)
    require(request.user, "catalog.change_system", system)
    fields, contacts = _system_fields(sent_fields(payload))
    system = services.update_system(system, actor=request.user, contacts=contacts, **fields)
    return selectors.get_system(request.user, system.slug)


@router.delete("/{slug}", response={204: None}, summary="Delete a system")
def delete_system(request: HttpRequest, slug: str):
    system = selectors.get_system(request.user, slug)
    services.delete_system(system, actor=request.user)
    return Status(204, None)
