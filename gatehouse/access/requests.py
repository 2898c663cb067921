"""Access requests and their approvals (issue 4, part B): services and selectors.

An access request asks for one or more entitlements for one or more people. It is also a desk request of type
``access-request`` (filed through ``gatehouse.desk.services.file_request``), so it keeps the desk's queue, SLA,
timeline and chat. Each person x entitlement is an item with its own approval steps.

Approval steps per item (``steps_for``), in this order of precedence:

1. a baseline entitlement of standard privilege: no step, approved at once;
2. admin privilege, or a Tier 1 system (effective tier): manager, then system owner, whatever the policy says;
3. policy ``none``: no step; ``manager_only``: manager; ``owner_only``: system owner;
4. policy ``default``: manager, then system owner.

Steps are decided in order: a step is *current* once every earlier step of its item is approved.

Who may decide a step (``eligible_approvers`` / ``can_decide``):

- manager step: the subject's manager (their Gatehouse sign-in); when that manager cannot decide (no active
  sign-in, or excluded below), the manager's own manager; when neither can, an admin;
- system-owner step: the system's owners (owner team members, business and technical owners, directly or
  through a team) with an active sign-in; when none can, an admin;
- admins may decide any step (the fallback), under the same exclusions;
- excluded always: whoever filed the request (its filer and its requester), the item's subject (nobody approves
  their own access), and whoever decided another step of the same item (each step has a distinct approver).
  An excluded manager is refused, never silently skipped: the step goes to the next eligible approver.

``decide`` locks the request, the item and its steps (select_for_update, one transaction) and claims the step
with a conditional UPDATE, so a double click or two approvers at once decide it once: the second gets
``AlreadyDecided`` (the API answers 409). A rejected step rejects its item; an approved last step approves it
and opens a grant task (``access.fulfilment.create_task``). When no item is pending any more, the request is
approved (at least one item approved) or rejected. The requester is told at each step by a public reply on the
desk request, which the desk mails to the requester side (requester, filer, watchers: the other subjects).
Approvers of a step that becomes current get a mail with signed single-use links (``access.approval_links``)
and, for system-owner steps, the owner team's chat gets Approve / Reject buttons.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from gatehouse.access.models import (
    AccessRequest,
    AccessRequestItem,
    ApprovalPolicy,
    ApprovalStep,
    Entitlement,
    Privilege,
)
from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.catalog.models import System, Tier
from gatehouse.catalog.selectors import owner_filter
from gatehouse.core.jobs import job
from gatehouse.core.permissions import SYSTEM, require
from gatehouse.core.services import create_object, diff, update_object
from gatehouse.core.validators import clean_text
from gatehouse.directory.models import Person, PersonStatus

logger = logging.getLogger(__name__)

REQUEST_TYPE = "access-request"
STALE_AFTER_DAYS = 30
MAX_SUBJECTS = 50
MAX_ENTITLEMENTS = 20
MAX_ITEMS = 200
CHANNELS = ("web", "api", "email", "chat")
ADMIN_PERMISSION = "access.change_approvalstep"  # admins: the fallback approver of every step
SEES_ALL_PERMISSION = "access.view_accessrequest"  # admins and auditors
Kind = ApprovalStep.Kind
Decision = ApprovalStep.Decision


class AlreadyDecided(Exception):
    """The step (or its item or request) was decided, expired or cancelled meanwhile: nothing was written.

    The API answers 409, the pages show the message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------------------------- helpers


def _now():
    return timezone.now()


def _is_system(actor) -> bool:
    return actor is SYSTEM


def _signed_in(user) -> bool:
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and not getattr(user, "access_expired", False)
    )


def _person_id(user) -> int | None:
    return getattr(user, "person_id", None)


def _names(items: Iterable[Any], limit: int = 3) -> str:
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def is_tier1(system: System) -> bool:
    return (system.effective_tier or system.tier) == Tier.MISSION_CRITICAL


def steps_for(entitlement: Entitlement) -> list[str]:
    """The approval steps an item of this entitlement needs, in order (the precedence is in the module doc)."""
    if entitlement.is_baseline and entitlement.privilege != Privilege.ADMIN:
        return []
    if entitlement.privilege == Privilege.ADMIN or is_tier1(entitlement.system):
        return [Kind.MANAGER, Kind.SYSTEM_OWNER]
    policy = entitlement.approval_policy
    if policy == ApprovalPolicy.NONE:
        return []
    if policy == ApprovalPolicy.MANAGER_ONLY:
        return [Kind.MANAGER]
    if policy == ApprovalPolicy.OWNER_ONLY:
        return [Kind.SYSTEM_OWNER]
    return [Kind.MANAGER, Kind.SYSTEM_OWNER]


def _new_nonce() -> str:
    return secrets.token_urlsafe(24)


# ---------------------------------------------------------------------------------------------- approvers


def _active_user(person: Person | None):
    if person is None:
        return None
    try:
        user = person.user
    except Person.user.RelatedObjectDoesNotExist:  # type: ignore[attr-defined]
        return None
    return user if _signed_in(user) else None


def _excluded_user_ids(
    step: ApprovalStep, *, item: AccessRequestItem | None = None
) -> tuple[set[int], set[int]]:
    """(user ids, person ids) who may not decide this step."""
    item = item or step.item
    access_request = item.access_request
    user_ids: set[int] = set()
    if access_request.filed_by_id:
        user_ids.add(access_request.filed_by_id)
    person_ids = {access_request.requested_by_id, item.subject_id}
    others = ApprovalStep.objects.filter(item_id=item.pk, decided_by__isnull=False).exclude(pk=step.pk)
    user_ids |= set(others.values_list("decided_by_id", flat=True))
    return user_ids, person_ids


def _allowed(user, excluded: tuple[set[int], set[int]]) -> bool:
    user_ids, person_ids = excluded
    return user.pk not in user_ids and (user.person_id is None or user.person_id not in person_ids)


def _admins():
    from gatehouse.users.models import User

    now = _now()
    admins = (
        User.objects.filter(is_active=True)
        .filter(Q(groups__name="admin") | Q(is_superuser=True))
        .filter(Q(access_expires_at__isnull=True) | Q(access_expires_at__gt=now))
    )
    return [u for u in admins.distinct().select_related("person").order_by("id") if not u.has_role("auditor")]


def _system_owner_users(system: System):
    """Sign-ins of the system's owners: owner team members, business and technical owners (directly or
    through a team), as gatehouse.catalog.selectors.owner_filter defines them."""
    from gatehouse.catalog.models import SystemContact
    from gatehouse.catalog.selectors import OWNER_ROLES

    User = _user_model()
    contacts = SystemContact.objects.filter(system=system, role__in=OWNER_ROLES)
    people = (
        Q(pk__in=contacts.values("person"))
        | Q(teams__in=contacts.values("team"))
        | Q(teams__owned_systems=system.pk)
    )
    person_ids = Person.objects.filter(people).values("pk")
    return list(
        User.objects.filter(person__in=person_ids, is_active=True)
        .filter(Q(access_expires_at__isnull=True) | Q(access_expires_at__gt=_now()))
        .select_related("person")
        .order_by("id")
    )


def primary_approvers(step: ApprovalStep, *, item: AccessRequestItem | None = None) -> list:
    """The people the step is routed to (their sign-ins), before the admin fallback."""
    item = item or step.item
    excluded = _excluded_user_ids(step, item=item)
    if step.kind == Kind.MANAGER:
        manager = item.subject.manager
        user = _active_user(manager)
        if user is not None and _allowed(user, excluded):
            return [user]
        skip = _active_user(manager.manager) if manager is not None else None
        if skip is not None and _allowed(skip, excluded):
            return [skip]
        return []
    return [u for u in _system_owner_users(item.entitlement.system) if _allowed(u, excluded)]


def eligible_approvers(step: ApprovalStep, *, item: AccessRequestItem | None = None) -> list:
    """Who may decide the step now: its primary approvers, else the admins (never an excluded one)."""
    item = item or step.item
    found = primary_approvers(step, item=item)
    if found:
        return found
    excluded = _excluded_user_ids(step, item=item)
    return [u for u in _admins() if _allowed(u, excluded)]


def is_current(step: ApprovalStep) -> bool:
    """Every earlier step of the item is approved (steps are decided in order)."""
    return (
        not ApprovalStep.objects.filter(item_id=step.item_id, position__lt=step.position)
        .exclude(decision=Decision.APPROVED)
        .exists()
    )


def why_not_decide(user, step: ApprovalStep, *, item: AccessRequestItem | None = None) -> str:
    """Empty when the user may decide the step now; else the reason, in words."""
    item = item or step.item
    if not _signed_in(user):
        return "Sign in to decide."
    if user.has_role("auditor"):
        return "Auditors read access requests; they do not decide them."
    if step.decision != Decision.PENDING:
        return f"This step was already decided ({step.get_decision_display().lower()})."
    if (
        item.state != AccessRequestItem.State.PENDING
        or item.access_request.state != AccessRequest.State.PENDING
    ):
        return f"This request is {item.access_request.get_state_display().lower()}; nothing is waiting."
    user_ids, _ = _excluded_user_ids(step, item=item)
    access_request = item.access_request
    if user.pk == access_request.filed_by_id or (
        user.person_id is not None and user.person_id == access_request.requested_by_id
    ):
        return "Nobody approves a request they filed: it goes to the other approvers or an admin."
    if user.person_id is not None and user.person_id == item.subject_id:
        return "Nobody approves their own access: it goes to the other approvers or an admin."
    if user.pk in user_ids:
        return "You decided another step of this item; each step needs a different approver."
    if not is_current(step):
        return "An earlier approval step of this item is still waiting."
    if user.has_perm(ADMIN_PERMISSION):
        return ""
    if any(u.pk == user.pk for u in primary_approvers(step, item=item)):
        return ""
    who = "the subject's manager" if step.kind == Kind.MANAGER else "the system's owners"
    return f"This step is for {who} (or an admin)."


def can_decide(user, step: ApprovalStep) -> bool:
    return why_not_decide(user, step) == ""


# ---------------------------------------------------------------------------------------------- selectors


def _owned_system_ids(person_id: int):
    return System.objects.filter(owner_filter(person_id)).values("pk")


def sees_all(user) -> bool:
    return _signed_in(user) and user.has_perm(SEES_ALL_PERMISSION)


def _visibility_q(user) -> Q | None:
    """None: everything. Requesters, filers, subjects, the subjects' managers (and their managers), and the
    owners of an item's system see a request; admins and auditors see all."""
    if not _signed_in(user):
        return Q(pk__in=[])
    if sees_all(user):
        return None
    condition = Q(filed_by=user.pk)
    person_id = _person_id(user)
    if person_id is None:
        return condition
    items = AccessRequestItem.objects.filter(
        Q(subject=person_id)
        | Q(subject__manager=person_id)
        | Q(subject__manager__manager=person_id)
        | Q(entitlement__system__in=_owned_system_ids(person_id))
    ).values("access_request_id")
    return condition | Q(requested_by=person_id) | Q(pk__in=items)


def visible_requests(user) -> QuerySet[AccessRequest]:
    condition = _visibility_q(user)
    qs = AccessRequest.objects.all() if condition is None else AccessRequest.objects.filter(condition)
    return qs.select_related("requested_by", "filed_by", "desk_request")


def _items_prefetch() -> Prefetch:
    steps = ApprovalStep.objects.select_related("decided_by", "decided_by__person").order_by("position")
    items = AccessRequestItem.objects.select_related(
        "subject", "subject__manager", "entitlement", "entitlement__system"
    ).prefetch_related(Prefetch("steps", queryset=steps))
    return Prefetch("items", queryset=items)


def request_list(user) -> QuerySet[AccessRequest]:
    """Lists (page and API): the rows with their items and steps fetched up front."""
    return visible_requests(user).prefetch_related(_items_prefetch())


def get_request(user, pk) -> AccessRequest:
    """One request the user may see, or Http404 (an invisible request is indistinguishable from none)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such access request.") from None
    if not 0 < pk < 2**63:
        raise Http404("No such access request.")
    found = request_list(user).filter(pk=pk).first()
    if found is None:
        raise Http404("No such access request.")
    return found


def get_step(user, pk) -> ApprovalStep:
    """A step of a request the user may see, or Http404."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such approval step.") from None
    if not 0 < pk < 2**63:
        raise Http404("No such approval step.")
    step = (
        ApprovalStep.objects.select_related(
            "item",
            "item__subject",
            "item__subject__manager",
            "item__entitlement",
            "item__entitlement__system",
            "item__access_request",
        )
        .filter(pk=pk)
        .first()
    )
    if step is None or not visible_requests(user).filter(pk=step.item.access_request_id).exists():
        raise Http404("No such approval step.")
    return step


def steps_waiting_for(user) -> QuerySet[ApprovalStep]:
    """The inbox: current pending steps the user may decide.

    Managers: their reports' manager steps (and their reports' reports' when the manager in between cannot
    decide); owners: their systems' owner steps; admins: every step (they are the fallback approver). Never a
    step of a request the user filed, of their own access, or of an item where they decided another step.
    """
    none = ApprovalStep.objects.none()
    if not _signed_in(user) or user.has_role("auditor"):
        return none
    person_id = _person_id(user)
    earlier_open = ApprovalStep.objects.filter(
        item=OuterRef("item"), position__lt=OuterRef("position")
    ).exclude(decision=Decision.APPROVED)
    decided_other = ApprovalStep.objects.filter(item=OuterRef("item"), decided_by=user.pk)
    qs = ApprovalStep.objects.filter(
        decision=Decision.PENDING,
        item__state=AccessRequestItem.State.PENDING,
        item__access_request__state=AccessRequest.State.PENDING,
    ).exclude(item__access_request__filed_by=user.pk)
    if person_id is not None:
        qs = qs.exclude(item__subject=person_id).exclude(item__access_request__requested_by=person_id)
    qs = qs.exclude(Exists(earlier_open)).exclude(Exists(decided_other))
    if not user.has_perm(ADMIN_PERMISSION):
        if person_id is None:
            return none
        mine = Q(kind=Kind.SYSTEM_OWNER, item__entitlement__system__in=_owned_system_ids(person_id))
        mine |= Q(kind=Kind.MANAGER, item__subject__manager=person_id)
        # The skip-level manager when the direct one cannot decide: no active sign-in, or they asked.
        manager_can = _user_model().objects.filter(person=OuterRef("item__subject__manager"), is_active=True)
        mine |= Q(kind=Kind.MANAGER, item__subject__manager__manager=person_id) & (
            ~Exists(manager_can) | Q(item__access_request__requested_by=F("item__subject__manager"))
        )
        qs = qs.filter(mine)
    return qs.select_related(
        "item",
        "item__subject",
        "item__subject__manager",
        "item__entitlement",
        "item__entitlement__system",
        "item__access_request",
        "item__access_request__requested_by",
    ).order_by("item__access_request_id", "item_id", "position")


def _user_model():
    from gatehouse.users.models import User

    return User


# ---------------------------------------------------------------------------------------------- requesting


def _subjects(subjects: Any) -> list[Person]:
    if not isinstance(subjects, list | tuple) or not subjects:
        raise ValidationError({"subjects": "Choose at least one person."})
    if any(not isinstance(p, Person) for p in subjects):
        raise ValidationError({"subjects": "Each subject must be a person."})
    people = list(dict.fromkeys(subjects))
    if len(people) > MAX_SUBJECTS:
        raise ValidationError({"subjects": f"At most {MAX_SUBJECTS} people in one request."})
    gone = [p for p in people if p.status == PersonStatus.TERMINATED]
    if gone:
        raise ValidationError({"subjects": f"{_names(gone)} left the company: no new access."})
    return people


def _entitlements(entitlements: Any) -> list[Entitlement]:
    if not isinstance(entitlements, list | tuple) or not entitlements:
        raise ValidationError({"entitlements": "Choose at least one entitlement."})
    if any(not isinstance(e, Entitlement) for e in entitlements):
        raise ValidationError({"entitlements": "Each item must be an entitlement."})
    chosen = list(dict.fromkeys(entitlements))
    if len(chosen) > MAX_ENTITLEMENTS:
        raise ValidationError({"entitlements": f"At most {MAX_ENTITLEMENTS} entitlements in one request."})
    closed = [e for e in chosen if not e.is_requestable]
    if closed:
        raise ValidationError({"entitlements": f"{_names(closed)} cannot be requested."})
    return chosen


def _duration(duration_days: Any, entitlements: list[Entitlement]) -> int | None:
    if duration_days in (None, ""):
        return None
    if isinstance(duration_days, bool) or not isinstance(duration_days, int):
        raise ValidationError({"duration_days": "Give a whole number of days."})
    if not 1 <= duration_days <= 3650:
        raise ValidationError({"duration_days": "Give between 1 and 3650 days."})
    too_long = [e for e in entitlements if e.max_duration_days and duration_days > e.max_duration_days]
    if too_long:
        limits = ", ".join(f"{e} at most {e.max_duration_days} days" for e in too_long)
        raise ValidationError({"duration_days": f"Longer than allowed: {limits}."})
    return duration_days


def item_days(item: AccessRequestItem) -> int | None:
    """How long the access lasts once granted: the requested duration, else the entitlement's maximum."""
    requested = item.access_request.duration_days
    limit = item.entitlement.max_duration_days
    if requested and limit:
        return min(requested, limit)
    return requested or limit or None


def _conflicts(people: list[Person], entitlements: list[Entitlement]) -> list[str]:
    from gatehouse.access.models import Grant

    held = set(
        Grant.objects.filter(
            person__in=people, entitlement__in=entitlements, ended_at__isnull=True
        ).values_list("person_id", "entitlement_id")
    )
    asked = set(
        AccessRequestItem.objects.filter(
            subject__in=people,
            entitlement__in=entitlements,
            state__in=[AccessRequestItem.State.PENDING, AccessRequestItem.State.APPROVED],
        ).values_list("subject_id", "entitlement_id")
    )
    problems = []
    for person in people:
        for entitlement in entitlements:
            key = (person.pk, entitlement.pk)
            if key in held:
                problems.append(f"{person} already holds {entitlement}.")
            elif key in asked:
                problems.append(f"{person} already has a request open for {entitlement}.")
    return problems


def _desk_answers(request_type, *, entitlements: list[Entitlement], people: list[Person], justification: str):
    """Answers to the access-request type's form, for the fields it has now (admins may have edited it)."""
    names = {f.get("name"): f for f in (request_type.form_schema or [])}
    answers: dict[str, Any] = {}
    if "access_level" in names:
        choices = names["access_level"].get("choices") or []
        wanted = "Admin" if any(e.privilege == Privilege.ADMIN for e in entitlements) else "Standard"
        answers["access_level"] = wanted if not choices or wanted in choices else choices[-1]
    if "justification" in names:
        answers["justification"] = justification[:5000]
    if "approver" in names and len(people) == 1 and people[0].manager_id:
        answers["approver"] = people[0].manager.email
    return answers


def _desk_text(
    people: list[Person], entitlements: list[Entitlement], justification: str, duration
) -> tuple[str, str]:
    subject = f"Access to {_names(entitlements, 2)} for {_names(people, 2)}"
    if len(subject) > 250:
        subject = subject[:249] + "…"
    lines = ["Access requested:"]
    lines += [f"- {e} ({e.get_privilege_display().lower()})" for e in entitlements]
    lines += ["", "For:"] + [f"- {p} <{p.email}>" for p in people]
    if duration:
        lines += ["", f"Duration: {duration} days."]
    lines += ["", "Justification:", justification]
    return subject, "\n".join(lines)


def request_access(
    *,
    actor,
    subjects: list[Person],
    entitlements: list[Entitlement],
    justification: str,
    duration_days: int | None = None,
    channel: str = "web",
) -> AccessRequest:
    """Ask for access for oneself, others or several people at once: one item per person and entitlement.

    Files the desk request (type access-request, system = the first entitlement's system), creates the items
    and their steps, approves at once the items that need no approval (and opens their grant tasks), and
    tells the first approvers. Every problem is a ValidationError naming its field; nothing is written then.
    """
    if not _is_system(actor):
        require(actor, "access.add_accessrequest")
    errors: dict[str, Any] = {}

    def collect(func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            errors.update(exc.message_dict)
            return None

    people = collect(_subjects, subjects)
    chosen = collect(_entitlements, entitlements)
    justification = collect(clean_text, justification, "justification", max_length=5000, required=True)
    duration = collect(_duration, duration_days, chosen) if chosen else None
    if channel not in CHANNELS:
        errors["channel"] = f"Choose one of: {', '.join(CHANNELS)}."
    requester = None if _is_system(actor) else getattr(actor, "person", None)
    if people and chosen and not errors:
        if len(people) * len(chosen) > MAX_ITEMS:
            errors["subjects"] = f"At most {MAX_ITEMS} person x entitlement items in one request."
        else:
            problems = _conflicts(people, chosen)
            if problems:
                errors["entitlements"] = " ".join(problems[:10]) + (" ..." if len(problems) > 10 else "")
    if errors:
        raise ValidationError(errors)
    if requester is None:
        requester = people[0]

    from gatehouse.desk import services as desk_services
    from gatehouse.desk.models import Channel

    request_type = desk_services.resolve_request_type(REQUEST_TYPE)
    subject, description = _desk_text(people, chosen, justification, duration)
    with transaction.atomic():
        desk_request = desk_services.file_request(
            actor=actor,
            request_type=request_type,
            subject=subject,
            description=description,
            fields=_desk_answers(
                request_type, entitlements=chosen, people=people, justification=justification
            ),
            system=chosen[0].system,
            requester=requester,
            channel=channel if channel in Channel.values else Channel.WEB,
            watchers=[p for p in people if p.pk != requester.pk],
        )
        access_request = create_object(
            AccessRequest,
            fields={
                "desk_request": desk_request,
                "requested_by": requester,
                "filed_by": None if _is_system(actor) else actor,
                "justification": justification,
                "duration_days": duration,
            },
        )
        open_steps: list[ApprovalStep] = []
        approved_items: list[AccessRequestItem] = []
        for person in people:
            for entitlement in chosen:
                item = create_object(
                    AccessRequestItem,
                    fields={"access_request": access_request, "subject": person, "entitlement": entitlement},
                )
                kinds = steps_for(entitlement)
                for position, kind in enumerate(kinds, start=1):
                    step = create_object(
                        ApprovalStep,
                        fields={"item": item, "position": position, "kind": kind, "link_nonce": _new_nonce()},
                    )
                    if position == 1:
                        open_steps.append(step)
                if not kinds:
                    approved_items.append(item)
        for item in approved_items:
            _approve_item(item, actor=actor, note="needs no approval")
        _settle_request(access_request, actor=actor)
        for step in open_steps:
            _announce_step(step)
    return access_request


# ---------------------------------------------------------------------------------------------- deciding


def _claim(step: ApprovalStep, fields: dict[str, Any]) -> ApprovalStep:
    """Write the decision only if the step is still pending (a compare-and-set that holds on SQLite too), and
    audit it."""
    before = step.audit_snapshot()
    claimed = ApprovalStep.objects.filter(pk=step.pk, decision=Decision.PENDING).update(
        **fields, last_updated=_now()
    )
    if not claimed:
        raise AlreadyDecided("This approval step was already decided; nothing was changed.")
    for name, value in fields.items():
        setattr(step, name, value)
    record_events(
        [
            EventDraft(
                action=AuditAction.UPDATE,
                object_type=step.audit_label(),
                object_id=str(step.pk),
                object_repr=str(step)[:200],
                changes=diff(before, step.audit_snapshot()),
            )
        ]
    )
    return step


def decide(
    step: ApprovalStep, *, actor, approve: bool, comment: str = "", channel: str = "web"
) -> ApprovalStep:
    """Approve or reject one step, as ``actor`` through ``channel`` (web, api, email, chat).

    Raises PermissionDenied (with the reason) when the actor may not decide it, AlreadyDecided when it was
    decided meanwhile (a double click, another approver, an expired request), ValidationError on bad input.
    """
    if not isinstance(approve, bool):
        raise ValidationError({"approve": "Must be true or false."})
    comment = clean_text(comment, "comment", max_length=5000)
    if channel not in CHANNELS:
        raise ValidationError({"channel": f"Choose one of: {', '.join(CHANNELS)}."})
    if not approve and not comment and channel in ("web", "api"):
        raise ValidationError({"comment": "Say why you reject it: the requester reads it."})
    with transaction.atomic():
        # Lock order: request, item, steps (every decision takes them in this order, so no deadlock).
        access_request = (
            AccessRequest.objects.select_for_update().filter(pk=step.item.access_request_id).first()
        )
        item = (
            AccessRequestItem.objects.select_for_update(of=("self",))
            .select_related("subject", "subject__manager", "entitlement", "entitlement__system")
            .filter(pk=step.item_id)
            .first()
        )
        steps = list(
            ApprovalStep.objects.select_for_update().filter(item_id=step.item_id).order_by("position")
        )
        current = next((s for s in steps if s.pk == step.pk), None)
        if access_request is None or item is None or current is None:
            raise AlreadyDecided("This approval step no longer exists.")
        item.access_request = access_request
        current.item = item
        if current.decision != Decision.PENDING:
            who = current.decided_by or "someone"
            when = f" at {current.decided_at:%Y-%m-%d %H:%M} UTC" if current.decided_at else ""
            raise AlreadyDecided(
                f"This step was already {current.get_decision_display().lower()} by {who}{when}; "
                "nothing was changed."
            )
        if (
            access_request.state != AccessRequest.State.PENDING
            or item.state != AccessRequestItem.State.PENDING
        ):
            raise AlreadyDecided(
                f"This request is {access_request.get_state_display().lower()}; nothing was changed."
            )
        reason = why_not_decide(actor, current, item=item)
        if reason:
            raise PermissionDenied(reason)
        now = _now()
        decision = Decision.APPROVED if approve else Decision.REJECTED
        current = _claim(
            current,
            {
                "decision": decision,
                "decided_by": actor,
                "decided_at": now,
                "channel": channel,
                "comment": comment,
                "link_nonce": "",
            },
        )
        who = str(getattr(actor, "person", None) or actor)
        verb = "approved" if approve else "rejected"
        lines = [
            f"{current.get_kind_display()} approval of {item.entitlement} for {item.subject}: {verb} by {who} "
            f"(via {channel})."
        ]
        if comment:
            lines.append(f"Comment: {comment}")
        if not approve:
            for other in steps:
                if other.pk != current.pk and other.decision == Decision.PENDING:
                    update_object(other, fields={"decision": Decision.SKIPPED, "link_nonce": ""})
            update_object(item, fields={"state": AccessRequestItem.State.REJECTED})
            lines.append("The access will not be granted.")
        else:
            following = next(
                (s for s in steps if s.position > current.position and s.decision == Decision.PENDING), None
            )
            if following is None:
                _approve_item(item, actor=actor, note=None)
                lines.append("All approvals are in: a provisioner will now grant the access.")
            else:
                following.item = item
                _announce_step(following)
                lines.append(f"Next: {following.get_kind_display().lower()} approval.")
        _tell_requester(access_request, "\n".join(lines))
        _settle_request(access_request, actor=actor)
    return current


def _approve_item(item: AccessRequestItem, *, actor, note: str | None) -> None:
    """Approved: set when the access ends and open the grant task for the system's provisioners."""
    from gatehouse.access import fulfilment

    days = item_days(item)
    ends_at = _now() + datetime.timedelta(days=days) if days else None
    update_object(item, fields={"state": AccessRequestItem.State.APPROVED, "ends_at": ends_at})
    fulfilment.create_task(
        actor=actor,
        kind="grant",
        reason="request",
        person=item.subject,
        entitlement=item.entitlement,
        request_item=item,
    )
    if note:
        _tell_requester(
            item.access_request,
            f"{item.entitlement} for {item.subject}: approved at once ({note}); "
            "a provisioner will now grant the access.",
        )


def _settle_request(access_request: AccessRequest, *, actor) -> None:
    """When no item waits for approval any more: the request is approved (any item approved) or rejected, and
    the desk request moves on (in progress while the access is granted; resolved when rejected)."""
    states = list(access_request.items.values_list("state", flat=True))
    if not states or AccessRequestItem.State.PENDING in states:
        return
    if access_request.state != AccessRequest.State.PENDING:
        return
    good = {AccessRequestItem.State.APPROVED, AccessRequestItem.State.FULFILLED}
    fields: dict[str, Any]
    if any(s in good for s in states):
        fields = {"state": AccessRequest.State.APPROVED}
        if all(
            s == AccessRequestItem.State.FULFILLED for s in states if s != AccessRequestItem.State.REJECTED
        ):
            fields = {"state": AccessRequest.State.FULFILLED, "closed_at": _now()}
    else:
        fields = {"state": AccessRequest.State.REJECTED, "closed_at": _now()}
    update_object(access_request, fields=fields)
    from gatehouse.desk import services as desk_services
    from gatehouse.desk.models import Status

    desk_request = access_request.desk_request
    if desk_request is None:
        return
    target = Status.IN_PROGRESS if fields["state"] == AccessRequest.State.APPROVED else Status.RESOLVED
    if desk_request.status not in (Status.CLOSED, target):
        desk_services.set_status(desk_request, actor=SYSTEM, status=target)


def mark_item_fulfilled(item: AccessRequestItem, *, actor=SYSTEM) -> AccessRequestItem:
    """Fulfilment (part C) calls this when an item's grant task is done: the item is fulfilled, and the request
    too once every approved item is. Idempotent."""
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=item.access_request_id)
        item = AccessRequestItem.objects.select_for_update().get(pk=item.pk)
        if item.state != AccessRequestItem.State.APPROVED:
            return item
        update_object(item, fields={"state": AccessRequestItem.State.FULFILLED})
        states = set(access_request.items.values_list("state", flat=True))
        if access_request.state == AccessRequest.State.APPROVED and not (
            states & {AccessRequestItem.State.PENDING, AccessRequestItem.State.APPROVED}
        ):
            update_object(
                access_request, fields={"state": AccessRequest.State.FULFILLED, "closed_at": _now()}
            )
            _tell_requester(access_request, "Every approved access is now granted.")
            from gatehouse.desk import services as desk_services
            from gatehouse.desk.models import Status

            desk = access_request.desk_request
            if desk is not None and desk.status not in (Status.RESOLVED, Status.CLOSED):
                desk_services.set_status(desk, actor=SYSTEM, status=Status.RESOLVED)
    return item


def cancel_request(access_request: AccessRequest, *, actor, reason: str = "") -> AccessRequest:
    """The requester (or whoever filed it, or an admin) withdraws a pending request."""
    reason = clean_text(reason, "reason", max_length=5000)
    if not _is_system(actor):
        if not visible_requests(actor).filter(pk=access_request.pk).exists():
            raise Http404("No such access request.")
        own = access_request.filed_by_id == actor.pk or (
            actor.person_id is not None and actor.person_id == access_request.requested_by_id
        )
        if not (own or actor.has_perm("access.change_accessrequest")):
            raise PermissionDenied("Only whoever asked (or an admin) may cancel an access request.")
    with transaction.atomic():
        locked = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
        if locked.state != AccessRequest.State.PENDING:
            raise AlreadyDecided(
                f"This request is {locked.get_state_display().lower()}; it cannot be cancelled."
            )
        _close(locked, state=AccessRequest.State.CANCELLED, item_state=AccessRequestItem.State.CANCELLED)
        who = str(getattr(actor, "person", None) or actor)
        _tell_requester(
            locked,
            f"Access request cancelled by {who}." + (f"\nReason: {reason}" if reason else ""),
            close=True,
        )
    return locked


def _close(access_request: AccessRequest, *, state: str, item_state: str) -> None:
    now = _now()
    for step in ApprovalStep.objects.filter(
        item__access_request=access_request, decision=Decision.PENDING
    ).select_for_update():
        update_object(step, fields={"decision": Decision.SKIPPED, "link_nonce": ""})
    for item in access_request.items.filter(state=AccessRequestItem.State.PENDING):
        update_object(item, fields={"state": item_state})
    update_object(access_request, fields={"state": state, "closed_at": now})


def expire_stale_requests(*, now=None, days: int = STALE_AFTER_DAYS) -> int:
    """Close the requests still waiting for approval after ``days`` days (items cancelled, steps not needed,
    the desk request closed), audited, the requester told. Returns how many closed. Items already approved
    stay approved (their grant tasks are open): only what still waits for a decision closes."""
    now = now or _now()
    cutoff = now - datetime.timedelta(days=days)
    closed = 0
    for pk in AccessRequest.objects.filter(state=AccessRequest.State.PENDING, created__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            access_request = AccessRequest.objects.select_for_update().filter(pk=pk).first()
            if access_request is None or access_request.state != AccessRequest.State.PENDING:
                continue
            approved = access_request.items.filter(state=AccessRequestItem.State.APPROVED).exists()
            if approved:
                # Part of it was approved: the rest closes, the request stays approved for what was.
                for step in ApprovalStep.objects.filter(
                    item__access_request=access_request, decision=Decision.PENDING
                ):
                    update_object(step, fields={"decision": Decision.SKIPPED, "link_nonce": ""})
                for item in access_request.items.filter(state=AccessRequestItem.State.PENDING):
                    update_object(item, fields={"state": AccessRequestItem.State.CANCELLED})
                update_object(access_request, fields={"state": AccessRequest.State.APPROVED})
                _tell_requester(
                    access_request,
                    f"The approvals still waiting after {days} days were closed; what was approved is granted.",
                )
            else:
                _close(
                    access_request,
                    state=AccessRequest.State.EXPIRED,
                    item_state=AccessRequestItem.State.CANCELLED,
                )
                _tell_requester(
                    access_request,
                    f"This access request waited {days} days without a decision and is now closed. "
                    "Ask again if you still need the access.",
                    close=True,
                )
            closed += 1
    return closed


# ---------------------------------------------------------------------------------------------- telling people


def _tell_requester(access_request: AccessRequest, text: str, *, close: bool = False) -> None:
    """A public reply on the desk request, as Gatehouse: the desk mails it to the requester, the filer and the
    watchers (the other subjects) after the commit."""
    from gatehouse.desk import services as desk_services
    from gatehouse.desk.models import Channel, Status

    desk_request = access_request.desk_request
    if desk_request is None:
        return
    desk_request.refresh_from_db()
    if desk_request.status == Status.CLOSED:
        return
    desk_services.reply(desk_request, actor=SYSTEM, body=text, channel=Channel.JOB)
    if close:
        desk_services.set_status(desk_request, actor=SYSTEM, status=Status.CLOSED)


def _announce_step(step: ApprovalStep) -> None:
    """A step became current: mail its approvers (signed links) after the commit; owner steps also go to the
    owner team's chat with Approve / Reject buttons."""
    step_id = step.pk
    transaction.on_commit(lambda: send_approval_mail(step_id))
    if step.kind == Kind.SYSTEM_OWNER:
        _chat_step(step)


def _chat_step(step: ApprovalStep) -> None:
    from gatehouse.desk import chat
    from gatehouse.desk.models import ChatDelivery

    item = step.item
    system = item.entitlement.system
    desk_request = item.access_request.desk_request
    if system.owner_team_id is None or desk_request is None:
        return
    text = f"Approval needed: {item.entitlement} for {item.subject}"
    delivery = chat.notify_team(system.owner_team, "access.approval", desk_request, text)
    if delivery is not None:
        ChatDelivery.objects.filter(pk=delivery.pk).update(payload=chat_payload(step, text))


ACTION_APPROVE = "gatehouse_access_approve"
ACTION_REJECT = "gatehouse_access_reject"


def chat_payload(step: ApprovalStep, text: str) -> dict[str, Any]:
    from gatehouse.desk import chat

    item = step.item
    link = f"{chat.base_url()}{item.access_request.get_absolute_url()}"
    justification = item.access_request.justification
    if len(justification) > 500:
        justification = justification[:499] + "…"
    return {
        "text": f"{text} {link}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*<{link}|{item.access_request}>* {chat.escape(text)}\n"
                    f"*Justification:* {chat.escape(justification)}",
                },
            },
            {
                "type": "actions",
                "block_id": f"gatehouse-access-step-{step.pk}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_APPROVE,
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "value": str(step.pk),
                    },
                    {
                        "type": "button",
                        "action_id": ACTION_REJECT,
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Reject"},
                        "value": str(step.pk),
                    },
                ],
            },
        ],
    }


def _email_of(user) -> str:
    email = (getattr(user, "email", "") or "").strip().lower()
    if not email and getattr(user, "person_id", None):
        email = (user.person.email or "").strip().lower()
    return email


def compose_approval_mail(step: ApprovalStep, user) -> tuple[str, str]:
    from gatehouse.access import approval_links

    item = step.item
    access_request = item.access_request
    base = getattr(settings, "BASE_URL", "").rstrip("/")
    subject = f"[{access_request}] Approve {item.entitlement} for {item.subject}?"[:250]
    lines = [
        f"{access_request.requested_by} asks for access, and your approval is needed "
        f"({step.get_kind_display().lower()} step).",
        "",
        f"Who: {item.subject} <{item.subject.email}>",
        f"What: {item.entitlement} ({item.entitlement.get_privilege_display().lower()})",
    ]
    days = item_days(item)
    lines.append(f"For: {days} days" if days else "For: no end date")
    lines += ["", "Justification:", access_request.justification, ""]
    lines.append(f"Approve or reject (the link works once, for {approval_links.max_age_days()} days):")
    lines.append(base + approval_links.link_path(step, user))
    lines += ["", f"Or open the request: {base}{access_request.get_absolute_url()}"]
    return subject, "\n".join(lines)


@job(retries=3, retry_delay=60)
def send_approval_mail(step_id: int) -> int:
    """Mail each approver of a current step their own signed link (the worker's half of _announce_step)."""
    step = (
        ApprovalStep.objects.select_related(
            "item",
            "item__subject",
            "item__subject__manager",
            "item__entitlement",
            "item__entitlement__system",
            "item__access_request",
            "item__access_request__requested_by",
        )
        .filter(pk=step_id)
        .first()
    )
    if step is None or step.decision != Decision.PENDING or not step.link_nonce:
        return 0
    sent = 0
    for user in eligible_approvers(step):
        address = _email_of(user)
        if not address:
            continue
        subject, body = compose_approval_mail(step, user)
        sent += EmailMessage(
            subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[address]
        ).send()
    return sent
