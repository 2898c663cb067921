"""Reads for the system catalog, with permissions applied in the query."""

from __future__ import annotations

from django.db.models import Exists, Prefetch, Q, QuerySet

from gatehouse.catalog.models import ContactRole, System, SystemContact
from gatehouse.core.permissions import require

OWNER_ROLES = (ContactRole.BUSINESS_OWNER, ContactRole.TECHNICAL_OWNER)


def _contacts_prefetch() -> Prefetch:
    return Prefetch("contacts", queryset=SystemContact.objects.select_related("person", "team"))


def visible_systems(user) -> QuerySet[System]:
    if user is None or not user.has_perm("catalog.view_system"):
        return System.objects.none()
    return System.objects.all()


def system_list(user) -> QuerySet[System]:
    """The list page and API list: everything a row shows, fetched up front."""
    return (
        visible_systems(user)
        .select_related("owner_team")
        .prefetch_related(_contacts_prefetch(), "compliance_scopes")
    )


def get_system(user, slug: str) -> System:
    require(user, "catalog.view_system")
    return (
        System.objects.select_related("owner_team")
        .prefetch_related(_contacts_prefetch(), "compliance_scopes", "owner_team__members")
        .get(slug=slug)
    )


def owner_filter(person) -> Q:
    """Systems where the person is a business or technical owner, directly or through a team, or in the owner team."""
    return (
        Q(contacts__role__in=OWNER_ROLES, contacts__person=person)
        | Q(contacts__role__in=OWNER_ROLES, contacts__team__members=person)
        | Q(owner_team__members=person)
    )


def systems_owned_by(person) -> QuerySet[System]:
    return System.objects.filter(owner_filter(person)).distinct()


def is_system_owner(user, system: System) -> bool:
    person_id = getattr(user, "person_id", None)
    if person_id is None or system.pk is None:
        return False
    return System.objects.filter(owner_filter(person_id), pk=system.pk).exists()


def editable_systems(user) -> QuerySet[System]:
    """Systems the user may change: all with the global right, else the ones they own."""
    if user is None or not user.is_authenticated:
        return System.objects.none()
    if user.has_perm("catalog.change_system"):
        return System.objects.all()
    if not user.has_perm("catalog.view_system") or getattr(user, "person_id", None) is None:
        return System.objects.none()
    if user.has_role("auditor"):
        return System.objects.none()
    return systems_owned_by(user.person_id)


def contacts_by_role(system: System) -> dict[str, list[SystemContact]]:
    """Contacts grouped by role, from the prefetched rows."""
    grouped: dict[str, list[SystemContact]] = {role: [] for role in ContactRole.values}
    for contact in system.contacts.all():
        grouped[contact.role].append(contact)
    return grouped


# The desk request types behind Getting Help's two links (see desk_links below).
DESK_ACCESS_TYPE = "access-request"
DESK_ISSUE_TYPE = "configuration-change"


def getting_help_rows(user, text: str = "") -> QuerySet[System]:
    """The Getting Help page: every system with its links, label, mention handle and chat team.

    Each row carries `desk_access` and `desk_issue`: whether the desk's access-request and configuration-change
    types are active, so the page links to the desk's forms for the system (in the same query).
    """
    from gatehouse.desk.models import RequestType

    active = RequestType.objects.filter(is_active=True)
    qs = (
        visible_systems(user)
        .select_related("owner_team")
        .annotate(
            desk_access=Exists(active.filter(slug=DESK_ACCESS_TYPE)),
            desk_issue=Exists(active.filter(slug=DESK_ISSUE_TYPE)),
        )
        .order_by("name")
    )
    text = text.strip()
    if text:
        qs = qs.filter(
            Q(name__icontains=text)
            | Q(slug__icontains=text)
            | Q(label__icontains=text)
            | Q(description__icontains=text)
            | Q(owner_team__name__icontains=text)
            | Q(owner_team__chat_handle__icontains=text)
            | Q(owner_team__mention_handle__icontains=text)
        )
    return qs
