"""Joiners, movers and leavers, detected from directory changes; bundles; the leaver dashboard.

`gatehouse.directory.services` calls `on_person_changed` after it creates or updates a person (import_people and
the API both go through it), and after `refresh_statuses` turns someone whose end date passed into a leaver.

- Joiner (a person created active or leaving, or a leaver who comes back): the baseline plus the bundles
  matching their department or title -> grant tasks. The baseline is every entitlement marked is_baseline, and
  for a system marked baseline in the catalog that marks none, its first standard, requestable entitlement.
- Mover (department or title changed): grant what the new bundles add; revoke what the old bundles gave and
  neither the new bundles nor the baseline give. Grants that were requested or kept in a review on their own
  are left alone (they were approved for the person, not the department).
- Leaver (status becomes terminated): every live grant -> a revoke task for the system's deprovisioners, due in
  24 hours on critical systems (Tier 1, SOX-scoped, or listed in settings.GATEHOUSE_ACCESS_CRITICAL_SYSTEMS,
  by default the password manager and chat: "1password,slack"), in 5 days on the rest.

Each detection is a LifecycleEvent (audited) that its tasks point at; the leaver dashboard reads those tasks.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from gatehouse.access.grants import _signed_in, _valid_pk, owned_system_ids, sees_all_grants
from gatehouse.access.models import (
    Bundle,
    Entitlement,
    FulfilmentTask,
    Grant,
    GrantSource,
    LifecycleEvent,
    Privilege,
)
from gatehouse.catalog.models import ContactRole, System, SystemContact
from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.directory.models import Person, PersonStatus

CRITICAL_DEADLINE = datetime.timedelta(hours=24)
STANDARD_DEADLINE = datetime.timedelta(days=5)
DEFAULT_CRITICAL_SYSTEMS = "1password,slack"
# Grants a mover keeps when their bundles change: approved for them, not for their department.
PERSONAL_SOURCES = (GrantSource.REQUEST, GrantSource.REVIEW)
OPEN_STATES = (FulfilmentTask.State.OPEN, FulfilmentTask.State.MANUAL, FulfilmentTask.State.FAILED)
BUNDLE_FIELDS = {"slug", "name", "department", "title"}
WATCHED = ("status", "department", "title", "end_date")


def watched_fields(person: Person) -> dict[str, Any]:
    """What the directory hands over as `before`: the fields lifecycle detection compares."""
    return {name: getattr(person, name) for name in WATCHED}


# --- criticality and deadlines --------------------------------------------------------------------------------


def critical_system_slugs() -> set[str]:
    value = getattr(settings, "GATEHOUSE_ACCESS_CRITICAL_SYSTEMS", DEFAULT_CRITICAL_SYSTEMS)
    if isinstance(value, str):
        value = value.split(",")
    return {slug.strip().lower() for slug in value if slug and slug.strip()}


def critical_system_ids(system_ids=None) -> set[int]:
    """Tier 1 (as set or as computed from its scopes), SOX-scoped, or the password manager and chat systems."""
    qs = System.objects.all() if system_ids is None else System.objects.filter(pk__in=system_ids)
    condition = (
        Q(tier=1)
        | Q(effective_tier=1)
        | Q(compliance_scopes__code="sox")
        | Q(slug__in=critical_system_slugs())
    )
    return set(qs.filter(condition).values_list("pk", flat=True).distinct())


def is_critical(system: System) -> bool:
    return system.pk in critical_system_ids([system.pk])


def leaver_deadline(system: System, start: datetime.datetime | None = None) -> datetime.datetime:
    start = start or timezone.now()
    return start + (CRITICAL_DEADLINE if is_critical(system) else STANDARD_DEADLINE)


# --- bundles --------------------------------------------------------------------------------------------------


def _norm(text: str | None) -> str:
    return (text or "").strip().casefold()


def matching_bundles(department: str | None, title: str | None, bundles=None) -> list[Bundle]:
    """Bundles for the department and title: a bundle naming both needs both; one naming one needs that one."""
    bundles = Bundle.objects.prefetch_related("entitlements") if bundles is None else bundles
    department, title = _norm(department), _norm(title)
    found = []
    for bundle in bundles:
        wants_dept, wants_title = _norm(bundle.department), _norm(bundle.title)
        if not wants_dept and not wants_title:
            continue
        if wants_dept and wants_dept != department:
            continue
        if wants_title and wants_title != title:
            continue
        found.append(bundle)
    return found


def _bundle_entitlements(bundles: list[Bundle]) -> dict[int, Entitlement]:
    return {e.pk: e for b in bundles for e in b.entitlements.all()}


def entitlements_for(department: str | None, title: str | None, bundles=None) -> dict[int, Entitlement]:
    """The baseline plus what the matching bundles give: {entitlement id: entitlement}."""
    return {**baseline_entitlements(), **_bundle_entitlements(matching_bundles(department, title, bundles))}


def baseline_entitlements() -> dict[int, Entitlement]:
    """What every team member gets: entitlements marked baseline, and a baseline system's default one."""
    marked = list(Entitlement.objects.filter(is_baseline=True).select_related("system"))
    covered = {e.system_id for e in marked}
    defaults = (
        Entitlement.objects.filter(
            system__baseline_entitlement=True, privilege=Privilege.STANDARD, is_requestable=True
        )
        .exclude(system_id__in=covered)
        .select_related("system")
        .order_by("system_id", "slug")
    )
    first_per_system: dict[int, Entitlement] = {}
    for entitlement in defaults:
        first_per_system.setdefault(entitlement.system_id, entitlement)
    return {e.pk: e for e in [*marked, *first_per_system.values()]}


def _check_bundle(fields: dict[str, Any], current: Bundle | None = None) -> None:
    errors = {name: "Unknown field." for name in sorted(set(fields) - BUNDLE_FIELDS)}
    department = fields.get("department", current.department if current else "")
    title = fields.get("title", current.title if current else "")
    if not (department or "").strip() and not (title or "").strip():
        errors["department"] = "Name a department, a title, or both."
    for name, model_field in (("slug", "slug"), ("name", "name")):
        if fields.get(name):
            clash = Bundle.objects.filter(**{model_field: fields[name]})
            if current is not None:
                clash = clash.exclude(pk=current.pk)
            if clash.exists():
                errors[name] = f"Another bundle has this {name}."
    if errors:
        raise ValidationError(errors)


def visible_bundles(user) -> QuerySet[Bundle]:
    if not _signed_in(user) or not user.has_perm("access.view_bundle"):
        return Bundle.objects.none()
    return Bundle.objects.prefetch_related("entitlements__system")


def get_bundle(user, pk) -> Bundle:
    pk = _valid_pk(pk)
    bundle = visible_bundles(user).filter(pk=pk).first() if pk else None
    if bundle is None:
        raise Http404("No such bundle.")
    return bundle


def create_bundle(*, actor, entitlements=(), **fields: Any) -> Bundle:
    require(actor, "access.add_bundle")
    _check_bundle(fields)
    return create_object(Bundle, fields=fields, m2m={"entitlements": list(entitlements)})


def update_bundle(bundle: Bundle, *, actor, entitlements=None, **fields: Any) -> Bundle:
    require(actor, "access.change_bundle", bundle)
    _check_bundle(fields, bundle)
    m2m = {"entitlements": list(entitlements)} if entitlements is not None else None
    bundle, _ = update_object(bundle, fields=fields, m2m=m2m)
    return bundle


def delete_bundle(bundle: Bundle, *, actor) -> None:
    """Grants it gave stay; only joiners and movers from now on stop receiving its entitlements."""
    require(actor, "access.delete_bundle", bundle)
    delete_object(bundle)


# --- detection ------------------------------------------------------------------------------------------------


def _open_task_pairs(person: Person, kind: str) -> set[int]:
    return set(
        FulfilmentTask.objects.filter(person=person, kind=kind, state__in=OPEN_STATES).values_list(
            "entitlement_id", flat=True
        )
    )


def _create_task(**kwargs) -> FulfilmentTask:
    from gatehouse.access import fulfilment  # part C; imported late so the two modules may import each other

    return fulfilment.create_task(**kwargs)


def _grant_tasks(
    event: LifecycleEvent, person: Person, entitlements, *, actor, reason: str
) -> list[FulfilmentTask]:
    held = set(
        Grant.objects.filter(person=person, ended_at__isnull=True).values_list("entitlement_id", flat=True)
    )
    pending = _open_task_pairs(person, FulfilmentTask.Kind.GRANT)
    tasks = []
    for entitlement in sorted(entitlements, key=lambda e: (e.system.name, e.name)):
        if entitlement.pk in held or entitlement.pk in pending:
            continue
        tasks.append(
            _create_task(
                actor=actor,
                kind=FulfilmentTask.Kind.GRANT,
                reason=reason,
                person=person,
                entitlement=entitlement,
                lifecycle_event=event,
            )
        )
    return tasks


def _revoke_tasks(
    event: LifecycleEvent, grants: list[Grant], *, actor, reason: str, deadline_from: datetime.datetime
) -> list[FulfilmentTask]:
    if not grants:
        return []
    person = grants[0].person
    pending = _open_task_pairs(person, FulfilmentTask.Kind.REVOKE)
    critical = critical_system_ids({g.entitlement.system_id for g in grants})
    tasks = []
    for grant in grants:
        if grant.entitlement_id in pending:
            continue
        delay = CRITICAL_DEADLINE if grant.entitlement.system_id in critical else STANDARD_DEADLINE
        tasks.append(
            _create_task(
                actor=actor,
                kind=FulfilmentTask.Kind.REVOKE,
                reason=reason,
                person=person,
                entitlement=grant.entitlement,
                grant=grant,
                lifecycle_event=event,
                due_at=deadline_from + delay,
            )
        )
    return tasks


def _event(person: Person, kind: str, details: dict[str, Any], now: datetime.datetime) -> LifecycleEvent:
    return create_object(
        LifecycleEvent, fields={"person": person, "kind": kind, "details": details, "effective_at": now}
    )


def _text(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else (value or "")


def on_person_changed(person: Person, before: dict | None, *, actor, now=None) -> LifecycleEvent | None:
    """Detect a joiner, mover or leaver from a directory change and open its tasks (one transaction).

    `before` is `watched_fields(person)` from before the change, or None for a new person. Returns the event, or
    None when the change means nothing for access.
    """
    now = now or timezone.now()
    status = person.status
    with transaction.atomic():
        if before is None or (
            before.get("status") == PersonStatus.TERMINATED and status != PersonStatus.TERMINATED
        ):
            if status == PersonStatus.TERMINATED:
                return None
            return _joiner(person, actor=actor, now=now, rehire=before is not None)
        if status == PersonStatus.TERMINATED and before.get("status") != PersonStatus.TERMINATED:
            return _leaver(person, before, actor=actor, now=now)
        if status != PersonStatus.TERMINATED and (
            _norm(before.get("department")) != _norm(person.department)
            or _norm(before.get("title")) != _norm(person.title)
        ):
            return _mover(person, before, actor=actor, now=now)
    return None


def _joiner(person: Person, *, actor, now, rehire: bool) -> LifecycleEvent | None:
    wanted = entitlements_for(person.department, person.title)
    if not wanted:
        return (
            None  # no baseline and no bundle: nothing to record (the directory works without access set up)
        )
    details = {
        "department": person.department,
        "title": person.title,
        "entitlements": sorted(wanted),
        "bundles": [b.slug for b in matching_bundles(person.department, person.title)],
    }
    if rehire:
        details["rehire"] = True
    event = _event(person, LifecycleEvent.Kind.JOINER, details, now)
    tasks = _grant_tasks(event, person, wanted.values(), actor=actor, reason=FulfilmentTask.Reason.JOINER)
    if not tasks:
        update_object(event, fields={"completed_at": now})
    return event


def _mover(person: Person, before: dict, *, actor, now) -> LifecycleEvent | None:
    bundles = list(Bundle.objects.prefetch_related("entitlements__system"))
    old = entitlements_for(before.get("department"), before.get("title"), bundles)
    new = entitlements_for(person.department, person.title, bundles)
    add = [e for pk, e in new.items() if pk not in old]
    drop = {pk for pk in old if pk not in new}
    if not add and not drop:
        return None
    details = {
        "department": [before.get("department") or "", person.department],
        "title": [before.get("title") or "", person.title],
        "grant": sorted(e.pk for e in add),
        "revoke": sorted(drop),
    }
    event = _event(person, LifecycleEvent.Kind.MOVER, details, now)
    grants = list(
        active_person_grants(person).filter(entitlement__in=drop).exclude(source__in=PERSONAL_SOURCES)
    )
    tasks = _grant_tasks(event, person, add, actor=actor, reason=FulfilmentTask.Reason.MOVER)
    tasks += _revoke_tasks(event, grants, actor=actor, reason=FulfilmentTask.Reason.MOVER, deadline_from=now)
    if not tasks:
        update_object(event, fields={"completed_at": now})
    return event


def _leaver(person: Person, before: dict, *, actor, now) -> LifecycleEvent | None:
    grants = list(active_person_grants(person))
    if not grants:
        return None  # held nothing on our books: nothing to revoke
    details = {
        "end_date": _text(person.end_date),
        "status": [before.get("status") or "", person.status],
        "grants": len(grants),
    }
    event = _event(person, LifecycleEvent.Kind.LEAVER, details, now)
    _revoke_tasks(event, grants, actor=actor, reason=FulfilmentTask.Reason.LEAVER, deadline_from=now)
    return event


def active_person_grants(person: Person) -> QuerySet[Grant]:
    return Grant.objects.filter(person=person, ended_at__isnull=True).select_related(
        "person", "entitlement", "entitlement__system"
    )


def complete_finished_events(now=None) -> int:
    """Stamp completed_at on events whose tasks are all done (the scheduled job calls this). Returns how many."""
    now = now or timezone.now()
    done = 0
    unfinished = LifecycleEvent.objects.filter(completed_at__isnull=True).annotate(
        still_open=Count("tasks", filter=Q(tasks__state__in=OPEN_STATES))
    )
    for event in unfinished.filter(still_open=0).select_related("person"):
        update_object(event, fields={"completed_at": now})
        done += 1
    return done


# --- reads: events and the leaver dashboard -------------------------------------------------------------------


def _event_visibility_q(user) -> Q | None:
    """Admins and auditors see every event; managers their reports'; owners and deprovisioners the events with
    tasks on their systems."""
    if not _signed_in(user):
        return Q(pk__in=[])
    if user.has_perm("access.view_lifecycleevent"):
        return None
    person_id = getattr(user, "person_id", None)
    if person_id is None:
        return Q(pk__in=[])
    systems = _worked_system_ids(person_id)
    tasks = FulfilmentTask.objects.filter(entitlement__system__in=systems, lifecycle_event__isnull=False)
    return Q(person__manager=person_id) | Q(pk__in=tasks.values("lifecycle_event_id"))


def _worked_system_ids(person_id: int):
    deprov = SystemContact.objects.filter(role=ContactRole.DEPROVISIONER).filter(
        Q(person=person_id) | Q(team__members=person_id)
    )
    return System.objects.filter(
        Q(pk__in=owned_system_ids(person_id)) | Q(pk__in=deprov.values("system_id"))
    ).values("pk")


def visible_events(user) -> QuerySet[LifecycleEvent]:
    condition = _event_visibility_q(user)
    qs = LifecycleEvent.objects.all() if condition is None else LifecycleEvent.objects.filter(condition)
    return qs.select_related("person", "person__manager")


def event_list(user) -> QuerySet[LifecycleEvent]:
    """Events with their task counts (open and overdue) in the same query."""
    now = timezone.now()
    return visible_events(user).annotate(
        task_count=Count("tasks", distinct=True),
        open_count=Count("tasks", filter=Q(tasks__state__in=OPEN_STATES), distinct=True),
        overdue_count=Count(
            "tasks", filter=Q(tasks__state__in=OPEN_STATES, tasks__due_at__lt=now), distinct=True
        ),
    )


def get_event(user, pk) -> LifecycleEvent:
    pk = _valid_pk(pk)
    event = event_list(user).filter(pk=pk).first() if pk else None
    if event is None:
        raise Http404("No such lifecycle event.")
    return event


def leaver_dashboard(user, *, now=None, show_done: bool = False) -> list[dict[str, Any]]:
    """Leavers with revoke work: each with per-system rows of open, overdue and done tasks and the earliest due.

    Two queries whatever the number of leavers: the events, then the task counts grouped by event and system.
    Owners and deprovisioners who do not see every event see only their systems' rows.
    """
    now = now or timezone.now()
    events = event_list(user).filter(kind=LifecycleEvent.Kind.LEAVER)
    if not show_done:
        events = events.filter(open_count__gt=0)
    events = list(events.order_by("effective_at", "pk")[:500])
    if not events:
        return []
    tasks = FulfilmentTask.objects.filter(
        lifecycle_event__in=[e.pk for e in events], kind=FulfilmentTask.Kind.REVOKE
    )
    if not (sees_all_grants(user) or user.has_perm("access.view_lifecycleevent")):
        person_id = getattr(user, "person_id", None)
        reports = {e.pk for e in events if e.person.manager_id == person_id}
        tasks = tasks.filter(
            Q(lifecycle_event__in=reports) | Q(entitlement__system__in=_worked_system_ids(person_id))
        )
    rows = (
        tasks.values(
            "lifecycle_event_id",
            "entitlement__system_id",
            "entitlement__system__name",
            "entitlement__system__slug",
        )
        .annotate(
            open=Count("pk", filter=Q(state__in=OPEN_STATES)),
            overdue=Count("pk", filter=Q(state__in=OPEN_STATES, due_at__lt=now)),
            done=Count("pk", filter=Q(state=FulfilmentTask.State.DONE)),
        )
        .order_by("entitlement__system__name")
    )
    rows = rows.annotate(next_due=Min("due_at", filter=Q(state__in=OPEN_STATES)))
    by_event: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_event.setdefault(row["lifecycle_event_id"], []).append(
            {
                "system_id": row["entitlement__system_id"],
                "system_name": row["entitlement__system__name"],
                "system_slug": row["entitlement__system__slug"],
                "open": row["open"],
                "overdue": row["overdue"],
                "done": row["done"],
                "next_due": row["next_due"],
            }
        )
    return [
        {
            "event": e,
            "person": e.person,
            "systems": by_event.get(e.pk, []),
            "open": sum(r["open"] for r in by_event.get(e.pk, [])),
            "overdue": sum(r["overdue"] for r in by_event.get(e.pk, [])),
        }
        for e in events
        if by_event.get(e.pk) or show_done
    ]
