"""Entitlements and grants: the services (writes) and selectors (reads) every part of the access lifecycle uses.

Grants are ended, never deleted: `end_grant` stamps ended_at, ended_by and the reason, and the row stays as
history. One live grant per person and entitlement (a conditional unique constraint); `start_grant` for a
person who already holds the entitlement returns the live grant unchanged.

Who sees a grant (`visible_grants`):
- admins and auditors (access.view_grant) see all;
- everyone sees their own;
- managers see their reports' (direct reports, Person.manager);
- system owners (business or technical owner, directly or through a team, or the owner team's members) see the
  grants on their systems' entitlements.
Who starts one: admins (access.add_grant), the system's owners and provisioners. Who ends one: admins
(access.change_grant), the system's owners and deprovisioners. Commands and jobs act as core.permissions.SYSTEM.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from gatehouse.access.models import ApprovalPolicy, Connector, Entitlement, Grant, GrantSource, Privilege
from gatehouse.catalog.models import ContactRole, System, SystemContact
from gatehouse.core.permissions import object_rule, require
from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.desk.selectors import system_owner_q
from gatehouse.directory.models import Person, PersonStatus

ENTITLEMENT_FIELDS = {
    "slug",
    "name",
    "description",
    "privilege",
    "is_requestable",
    "is_baseline",
    "max_duration_days",
    "approval_policy",
    "owner",
    "connector",
    "external_id",
    "external_role",
}
GITLAB_ROLES = ("guest", "reporter", "developer", "maintainer", "owner")


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)


def _person_id(user) -> int | None:
    return getattr(user, "person_id", None)


def _valid_pk(pk) -> int | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk < 2**63 else None


# --- contacts: owners, provisioners, deprovisioners ----------------------------------------------------------


def owned_system_ids(person_id: int) -> QuerySet[System]:
    return System.objects.filter(system_owner_q(person_id, prefix="")).values("pk")


def _contact_system_ids(person_id: int, role: str) -> QuerySet:
    return (
        SystemContact.objects.filter(role=role)
        .filter(Q(person=person_id) | Q(team__members=person_id))
        .values("system_id")
    )


def is_owner(user, system: System | int) -> bool:
    person_id = _person_id(user)
    system_id = getattr(system, "pk", system)
    if person_id is None or system_id is None:
        return False
    return System.objects.filter(system_owner_q(person_id, prefix=""), pk=system_id).exists()


def is_contact(user, system: System | int, role: str) -> bool:
    person_id = _person_id(user)
    system_id = getattr(system, "pk", system)
    if person_id is None or system_id is None:
        return False
    return _contact_system_ids(person_id, role).filter(system_id=system_id).exists()


def _contact_users(system: System, role: str) -> list:
    """Active sign-ins of the people in the role, directly or through a team, in contact order."""
    from gatehouse.users.models import User

    now = timezone.now()
    users, seen = [], set()
    contacts = SystemContact.objects.filter(system=system, role=role).order_by("position", "id")
    for contact in contacts.select_related("person"):
        if contact.person_id:
            candidates = User.objects.filter(person_id=contact.person_id)
        else:
            candidates = User.objects.filter(person__teams=contact.team_id).order_by("person__name", "pk")
        for user in candidates.filter(is_active=True).filter(
            Q(access_expires_at__isnull=True) | Q(access_expires_at__gt=now)
        ):
            if user.pk not in seen:
                seen.add(user.pk)
                users.append(user)
    return users


def provisioners(system: System) -> list:
    """Users who grant access in the system: its provisioner contacts (people, or members of teams)."""
    return _contact_users(system, ContactRole.PROVISIONER)


def deprovisioners(system: System) -> list:
    """Users who revoke access in the system: its deprovisioner contacts (people, or members of teams)."""
    return _contact_users(system, ContactRole.DEPROVISIONER)


# --- object rules ---------------------------------------------------------------------------------------------


def _system_of(obj) -> System | None:
    if isinstance(obj, System):
        return obj
    if isinstance(obj, Entitlement):
        return obj.system
    if isinstance(obj, Grant):
        return obj.entitlement.system
    return None


@object_rule("access.add_entitlement")
@object_rule("access.change_entitlement")
@object_rule("access.delete_entitlement")
def owner_may_manage_entitlements(user, obj) -> bool:
    """A system's owners manage its entitlements (obj: the system, or the entitlement)."""
    system = _system_of(obj)
    return system is not None and not user.has_role("auditor") and is_owner(user, system)


@object_rule("access.add_grant")
def owner_or_provisioner_may_grant(user, obj) -> bool:
    system = _system_of(obj)
    if system is None or user.has_role("auditor"):
        return False
    return is_owner(user, system) or is_contact(user, system, ContactRole.PROVISIONER)


@object_rule("access.change_grant")
def owner_or_deprovisioner_may_end(user, obj) -> bool:
    system = _system_of(obj)
    if system is None or user.has_role("auditor"):
        return False
    return is_owner(user, system) or is_contact(user, system, ContactRole.DEPROVISIONER)


# --- entitlements: reads --------------------------------------------------------------------------------------


def visible_entitlements(user) -> QuerySet[Entitlement]:
    """Every signed-in team member reads the entitlement catalogue (they request from it)."""
    if not _signed_in(user) or not user.has_perm("access.view_entitlement"):
        return Entitlement.objects.none()
    return Entitlement.objects.select_related("system", "owner")


def entitlement_list(user) -> QuerySet[Entitlement]:
    """The list page and API list: rows with their system and owner, and the count of active holders."""
    from django.db.models import Count

    return visible_entitlements(user).annotate(
        holder_count=Count("grants", filter=Q(grants__ended_at__isnull=True))
    )


def get_entitlement(user, pk) -> Entitlement:
    """One entitlement the user may read, or Http404."""
    pk = _valid_pk(pk)
    entitlement = visible_entitlements(user).filter(pk=pk).first() if pk else None
    if entitlement is None:
        raise Http404("No such entitlement.")
    return entitlement


def can_manage_entitlements(user, system: System) -> bool:
    return _signed_in(user) and user.has_perm("access.change_entitlement", system)


def editable_systems_for_entitlements(user) -> QuerySet[System]:
    """Systems whose entitlements the user may add or change: all for admins, else the ones they own."""
    if not _signed_in(user) or user.has_role("auditor"):
        return System.objects.none()
    if user.has_perm("access.add_entitlement"):
        return System.objects.all()
    person_id = _person_id(user)
    if person_id is None:
        return System.objects.none()
    return System.objects.filter(pk__in=owned_system_ids(person_id))


# --- entitlements: writes -------------------------------------------------------------------------------------


def _check_entitlement(
    fields: dict[str, Any], current: Entitlement | None = None, system: System | None = None
) -> None:
    errors = {name: "Unknown field." for name in sorted(set(fields) - ENTITLEMENT_FIELDS)}
    if errors:
        raise ValidationError(errors)

    def value(name, default=None):
        if name in fields:
            return fields[name]
        return getattr(current, name) if current is not None else default

    privilege = value("privilege", Privilege.STANDARD)
    policy = value("approval_policy", ApprovalPolicy.DEFAULT)
    if value("is_baseline", False) and privilege == Privilege.ADMIN:
        errors["is_baseline"] = "An admin-level entitlement cannot be part of everyone's baseline."
    if privilege == Privilege.ADMIN and policy == ApprovalPolicy.NONE:
        errors["approval_policy"] = "Admin-level access always needs approval."
    connector = value("connector", Connector.NONE) or ""
    if connector and not (value("external_id", "") or "").strip():
        errors["external_id"] = "Name the group in the connected system."
    role = value("external_role", "") or ""
    if role and connector != Connector.GITLAB:
        errors["external_role"] = "Only GitLab entitlements carry an access level."
    elif connector == Connector.GITLAB and role not in GITLAB_ROLES:
        errors["external_role"] = f"Choose one of: {', '.join(GITLAB_ROLES)}."
    max_days = value("max_duration_days")
    if max_days is not None and (not isinstance(max_days, int) or not 0 < max_days <= 3650):
        errors["max_duration_days"] = "Between 1 and 3650 days, or blank."
    slug = fields.get("slug")
    system = system or (current.system if current is not None else None)
    if slug and system is not None:
        clash = Entitlement.objects.filter(system=system, slug=slug)
        if current is not None:
            clash = clash.exclude(pk=current.pk)
        if clash.exists():
            errors["slug"] = "This system already has an entitlement with this slug."
    if errors:
        raise ValidationError(errors)


def create_entitlement(*, actor, system: System, **fields: Any) -> Entitlement:
    require(actor, "access.add_entitlement", system)
    _check_entitlement(fields, None, system)
    return create_object(Entitlement, fields={**fields, "system": system})


def update_entitlement(entitlement: Entitlement, *, actor, **fields: Any) -> Entitlement:
    require(actor, "access.change_entitlement", entitlement)
    _check_entitlement(fields, entitlement)
    entitlement, _ = update_object(entitlement, fields=fields)
    return entitlement


def delete_entitlement(entitlement: Entitlement, *, actor) -> None:
    """Only an entitlement nobody ever held or asked for: grants are history and stay."""
    require(actor, "access.delete_entitlement", entitlement)
    if (
        entitlement.grants.exists()
        or entitlement.request_items.exists()
        or entitlement.fulfilment_tasks.exists()
    ):
        raise ValidationError(
            {"entitlement": "It has grants, requests or tasks on record; make it not requestable instead."}
        )
    delete_object(entitlement)


# --- grants: reads --------------------------------------------------------------------------------------------


def _grant_related(qs: QuerySet[Grant]) -> QuerySet[Grant]:
    return qs.select_related("person", "entitlement", "entitlement__system", "ended_by")


def active_grants(
    person: Person | int | None = None,
    entitlement: Entitlement | int | None = None,
    system: System | int | None = None,
) -> QuerySet[Grant]:
    """Live grants, optionally of one person, entitlement or system (no permission check: for services)."""
    qs = Grant.objects.filter(ended_at__isnull=True)
    if person is not None:
        qs = qs.filter(person=person)
    if entitlement is not None:
        qs = qs.filter(entitlement=entitlement)
    if system is not None:
        qs = qs.filter(entitlement__system=system)
    return _grant_related(qs)


def sees_all_grants(user) -> bool:
    return _signed_in(user) and user.has_perm("access.view_grant")


def _grant_visibility_q(user) -> Q | None:
    """None: everything. Id subqueries per branch (as the desk does), so the outer query stays one scan."""
    if not _signed_in(user):
        return Q(pk__in=[])
    if sees_all_grants(user):
        return None
    person_id = _person_id(user)
    if person_id is None:
        return Q(pk__in=[])
    reports = Person.objects.filter(manager=person_id).values("pk")
    return (
        Q(person=person_id) | Q(person__in=reports) | Q(entitlement__system__in=owned_system_ids(person_id))
    )


def visible_grants(user) -> QuerySet[Grant]:
    """Every grant (live and ended) the user may read, related rows selected."""
    condition = _grant_visibility_q(user)
    qs = Grant.objects.all() if condition is None else Grant.objects.filter(condition)
    return _grant_related(qs)


def get_grant(user, pk) -> Grant:
    pk = _valid_pk(pk)
    grant = visible_grants(user).filter(pk=pk).first() if pk else None
    if grant is None:
        raise Http404("No such grant.")
    return grant


def can_see_person_access(user, person: Person) -> bool:
    """The person page shows access to the person, their manager, owners (their systems' rows) and readers-all."""
    if not _signed_in(user):
        return False
    if sees_all_grants(user):
        return True
    person_id = _person_id(user)
    return person_id is not None and (person.pk == person_id or person.manager_id == person_id)


def person_access(user, person: Person) -> dict[str, list[Grant]]:
    """The person page's access section: {"active": [...], "ended": [...]}, only rows the user may read."""
    grants = list(
        visible_grants(user)
        .filter(person=person)
        .order_by("entitlement__system__name", "entitlement__name", "-started_at")
    )
    return {
        "active": [g for g in grants if g.ended_at is None],
        "ended": sorted(
            (g for g in grants if g.ended_at is not None), key=lambda g: g.ended_at, reverse=True
        ),
    }


def system_access(user, system: System) -> list[dict[str, Any]]:
    """The system page's "who holds what": each entitlement with its live holders the user may read."""
    entitlements = list(Entitlement.objects.filter(system=system).order_by("name"))
    holders: dict[int, list[Grant]] = {e.pk: [] for e in entitlements}
    rows = (
        visible_grants(user)
        .filter(entitlement__system=system, ended_at__isnull=True)
        .order_by("person__name", "person__email")
    )
    for grant in rows:
        holders[grant.entitlement_id].append(grant)
    return [{"entitlement": e, "grants": holders[e.pk]} for e in entitlements]


# --- grants: writes -------------------------------------------------------------------------------------------


def _aware(value: datetime.datetime | datetime.date | None, field: str) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time.min)
    if not isinstance(value, datetime.datetime):
        raise ValidationError({field: "Give a date and time."})
    if timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


def start_grant(
    *,
    actor,
    person: Person,
    entitlement: Entitlement,
    source: str,
    started_at: datetime.datetime | None = None,
    ends_at: datetime.datetime | None = None,
    request_item=None,
) -> Grant:
    """Record that the person holds the entitlement from started_at (default now) until ends_at (or open).

    The entitlement's max_duration_days caps ends_at. A person who already holds the entitlement keeps their
    live grant: it is returned unchanged (so a repeated task or import writes nothing).
    """
    require(actor, "access.add_grant", entitlement)
    errors: dict[str, str] = {}
    if source not in GrantSource.values:
        errors["source"] = f"Choose one of: {', '.join(GrantSource.values)}."
    if person.status == PersonStatus.TERMINATED:
        errors["person"] = f"{person.email} has left; nobody grants access to a leaver."
    started_at = _aware(started_at, "started_at") or timezone.now()
    ends_at = _aware(ends_at, "ends_at")
    if entitlement.max_duration_days:
        cap = started_at + datetime.timedelta(days=entitlement.max_duration_days)
        ends_at = cap if ends_at is None else min(ends_at, cap)
    if ends_at is not None and ends_at <= started_at:
        errors["ends_at"] = "The end must come after the start."
    if errors:
        raise ValidationError(errors)
    existing = Grant.objects.filter(person=person, entitlement=entitlement, ended_at__isnull=True).first()
    if existing is not None:
        return existing
    fields = {
        "person": person,
        "entitlement": entitlement,
        "source": source,
        "started_at": started_at,
        "ends_at": ends_at,
        "request_item": request_item,
    }
    try:
        # validate=False: the partial unique constraint is checked by the database (and handled below).
        return create_object(Grant, fields=fields, validate=False)
    except IntegrityError:
        # Someone granted the same thing a moment ago: theirs is the live grant.
        existing = Grant.objects.filter(person=person, entitlement=entitlement, ended_at__isnull=True).first()
        if existing is None:
            raise
        return existing


def end_grant(grant: Grant, *, actor, reason: str, ended_at: datetime.datetime | None = None) -> Grant:
    """End a live grant (never deletes it). Ending an ended grant is refused."""
    require(actor, "access.change_grant", grant)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the access ends."})
    if len(reason) > 300:
        raise ValidationError({"reason": "At most 300 characters."})
    ended_at = _aware(ended_at, "ended_at") or timezone.now()
    with transaction.atomic():
        locked = Grant.objects.select_for_update().select_related("entitlement__system").get(pk=grant.pk)
        if locked.ended_at is not None:
            raise ValidationError({"grant": f"This grant already ended on {locked.ended_at:%Y-%m-%d %H:%M}."})
        if ended_at < locked.started_at:
            raise ValidationError({"ended_at": "The end cannot come before the start."})
        ended_by = actor if getattr(actor, "pk", None) is not None else None
        locked, _ = update_object(
            locked,
            fields={"ended_at": ended_at, "ended_by": ended_by, "end_reason": reason},
            validate=False,
        )
    grant.ended_at, grant.ended_by, grant.end_reason = locked.ended_at, locked.ended_by, locked.end_reason
    return grant
